"""Paths, defaults and the database URL rule (--db, else EDTECH_DATABASE_URL, else data/edtech.db)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "data"
SAMPLES_DIR = DATA_DIR / "samples"
DEFAULT_DB_PATH = DATA_DIR / "edtech.db"

SUPPRESS_MIN = int(os.environ.get("EDTECH_SUPPRESS_MIN", "10"))       # small-cell suppression (5-30)
UPLOAD_LIMIT_MB = int(os.environ.get("EDTECH_UPLOAD_LIMIT_MB", "200"))  # single upload limit in the app
CHUNK_BYTES = 16 << 20                                                 # streaming import block size (bounds memory)


def database_url(url: str | None = None) -> str:
    """The database to use: explicit URL, else EDTECH_DATABASE_URL, else the embedded SQLite file."""
    if url:
        return url
    env = os.environ.get("EDTECH_DATABASE_URL")
    if env:
        return env
    return f"sqlite:///{DEFAULT_DB_PATH}"
