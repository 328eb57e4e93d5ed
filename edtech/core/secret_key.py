"""The server-side secret (signs model artifacts; seeds the sign-in cookie secret).

`EDTECH_SECRET_KEY` when set (a shared deployment sets it once for every server process), else the
file `data/.secret_key`, created by `init` (or on first use) with mode 0600.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from edtech.core import config

KEY_FILE = config.DATA_DIR / ".secret_key"


def key_file() -> Path:
    return Path(os.environ.get("EDTECH_SECRET_KEY_FILE", str(KEY_FILE)))


def ensure_key_file() -> Path:
    """Create the key file (mode 0600) unless it exists; returns its path."""
    path = key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path


def server_secret() -> bytes:
    """The secret bytes: EDTECH_SECRET_KEY, else the key file (created when missing)."""
    env = os.environ.get("EDTECH_SECRET_KEY")
    if env:
        return env.encode()
    return ensure_key_file().read_text().strip().encode()


def derived_secret(purpose: str) -> str:
    """A separate secret per purpose (cookie signing, artifact signing…) from the one server secret."""
    return hmac.new(server_secret(), purpose.encode(), hashlib.sha256).hexdigest()
