"""Cached access to the engine and the district frames (the only caching the core needs)."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from edtech.core import config
from edtech.core.district import District
from edtech.store import data


@st.cache_resource
def _engine(url: str) -> Engine:
    engine = data.make_engine(url)
    data.init_db(engine)
    return engine


def get_engine() -> Engine:
    """One engine per database URL (EDTECH_DATABASE_URL may point elsewhere in tests)."""
    return _engine(config.database_url())


def data_version() -> str:
    """Changes after every import, so cached frames are rebuilt when the data changes."""
    return data.data_version(get_engine())


# cache_resource: frames are shared read-only (no per-call unpickling); the version key refreshes them
@st.cache_resource(show_spinner="Loading district data…", max_entries=8)
def _district(scope_key: tuple[str, ...] | None, version: str) -> District:
    scope = None if scope_key is None else frozenset(scope_key)
    return data.load_district(get_engine(), scope=scope)


def get_district(scope: frozenset[str] | None = None) -> District:
    key = None if scope is None else tuple(sorted(scope))
    return _district(key, data_version())


@st.cache_resource(show_spinner="Scoring tools…", max_entries=8)
def _overview(scope_key: tuple[str, ...] | None, version: str):
    from edtech.adoption.overview import summarize_district
    from edtech.roi import engine as roi

    district = _district(scope_key, version)
    return summarize_district(district, roi.score_tools(district))


def get_overview(scope: frozenset[str] | None = None):
    key = None if scope is None else tuple(sorted(scope))
    return _overview(key, data_version())
