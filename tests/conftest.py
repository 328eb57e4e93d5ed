"""Shared fixtures: databases (empty, sample district), the shared folder, Streamlit cache hygiene."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# model versions are signed with the server secret: tests use a fixed one (inherited by the CLI
# subprocesses) instead of creating data/.secret_key in the working tree
os.environ.setdefault("EDTECH_SECRET_KEY", "test-suite-secret-key")
APP = str(ROOT / "app.py")
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the project (specs and public datasets); tests skip without it."""
    if not (SHARED / "data").is_dir():
        pytest.skip(f"{SHARED} is absent: the shared datasets are not committed to the project")
    return SHARED


@pytest.fixture(scope="session")
def _sample_db_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed sample district loaded once per test session (through the real importer)."""
    from edtech.services.dataset import load_sample_district
    from edtech.store import data

    path = tmp_path_factory.mktemp("sampledb") / "sample.db"
    engine = data.make_engine(f"sqlite:///{path}")
    reports = load_sample_district(engine)
    assert all(r.ok for r in reports), [r.error_lines() for r in reports if not r.ok]
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _version(url: str) -> str:
    from edtech.store import data

    eng = data.make_engine(url)
    try:
        return data.data_version(eng)
    finally:
        eng.dispose()


@pytest.fixture(scope="session")
def _sample_version(_sample_db_file: Path) -> str:
    return _version(f"sqlite:///{_sample_db_file}")


def _clear_streamlit_caches_now() -> None:
    import sys

    if "streamlit" in sys.modules:
        import streamlit as st

        st.cache_data.clear()
        st.cache_resource.clear()


@pytest.fixture
def sample_db_url(_sample_db_file: Path, _sample_version: str, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch):
    """A private copy of the sample database; EDTECH_DATABASE_URL points at it (for AppTest).

    The app's caches are keyed on the data-version token, which copies share: analyses cached
    by one test are reused by the next, and cleared only when a test changed its copy.
    """
    copy = tmp_path / "sample.db"
    shutil.copy(_sample_db_file, copy)
    url = f"sqlite:///{copy}"
    monkeypatch.setenv("EDTECH_DATABASE_URL", url)
    yield url
    if _version(url) != _sample_version:
        _clear_streamlit_caches_now()


@pytest.fixture
def empty_db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A new, empty database; EDTECH_DATABASE_URL points at it (for AppTest)."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv("EDTECH_DATABASE_URL", url)
    yield url
    _clear_streamlit_caches_now()


@pytest.fixture
def engine(empty_db_url: str):
    from edtech.store import data

    eng = data.make_engine(empty_db_url)
    data.init_db(eng)
    yield eng
    eng.dispose()


@pytest.fixture(autouse=True)
def _clear_streamlit_caches(request: pytest.FixtureRequest):
    """Cached values must not leak between tests on different data (see sample_db_url)."""
    yield
    if "sample_db_url" not in request.fixturenames:
        _clear_streamlit_caches_now()


@pytest.fixture
def pg_engine(pg_url: str):
    """An empty schema on the PostgreSQL server for each test."""
    from sqlmodel import SQLModel

    from edtech.store import data

    engine = data.make_engine(pg_url)
    SQLModel.metadata.drop_all(engine)
    data.init_db(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A PostgreSQL database URL: EDTECH_TEST_PG_URL if set, else a throwaway server started for
    the test session (tests/pg.py, toolchain guide §6); skips when PostgreSQL is not installed."""
    import os

    from tests.pg import PostgresUnavailable, start_server

    given = os.environ.get("EDTECH_TEST_PG_URL")
    if given:
        yield given
        return
    try:
        server = start_server()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield server.url
    finally:
        server.stop()
