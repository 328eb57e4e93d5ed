"""Cached adoption report: computed once per data version and school scope, shared read-only."""

from __future__ import annotations

import streamlit as st

from edtech.services import adoption as adoption_service
from ui import cache


# cache_resource: the report's frames are only read by the page (no per-rerun unpickling)
@st.cache_resource(show_spinner="Computing adoption…", max_entries=8)
def _report(scope_key: tuple[str, ...] | None, version: int) -> adoption_service.AdoptionReport:
    scope = None if scope_key is None else frozenset(scope_key)
    district = cache.get_district(scope)
    if scope is None:
        return adoption_service.build_report(district)
    # district-wide seats are shared over every school, so allocation needs the whole district
    everyone = cache.get_district(None)
    return adoption_service.build_report(district, everyone.schools,
                                         everyone.students[["student_id", "school_id", "grade_level"]])


def get_report(scope: frozenset[str] | None = None) -> adoption_service.AdoptionReport:
    key = None if scope is None else tuple(sorted(scope))
    return _report(key, cache.data_version())
