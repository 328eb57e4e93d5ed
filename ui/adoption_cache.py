"""Cached adoption report and figures: computed once per data version, school scope and selection.

Everything returned is shared read-only between reruns and sessions (cache_resource), so a warm
rerun of the page only sends what is already built.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from edtech.adoption import engine as adoption
from edtech.adoption import equity, viz
from edtech.services import adoption as adoption_service
from ui import cache

ScopeKey = tuple[str, ...] | None


def _key(scope: frozenset[str] | None) -> ScopeKey:
    return None if scope is None else tuple(sorted(scope))


@st.cache_resource(show_spinner="Computing adoption…", max_entries=8)
def _report(scope_key: ScopeKey, version: str) -> adoption_service.AdoptionReport:
    scope = None if scope_key is None else frozenset(scope_key)
    district = cache.get_district(scope)
    if scope is None:
        return adoption_service.build_report(district)
    # district-wide seats are shared over every school, so allocation needs the whole district
    everyone = cache.get_district(None)
    return adoption_service.build_report(district, everyone.schools,
                                         everyone.students[["student_id", "school_id", "grade_level"]])


def get_report(scope: frozenset[str] | None = None) -> adoption_service.AdoptionReport:
    return _report(_key(scope), cache.data_version())


@dataclass
class SchoolView:
    """What the page draws for one school (or all): figures and tables."""

    heatmaps: dict[str, go.Figure]
    trend: go.Figure
    dosage: go.Figure
    devices: go.Figure
    not_using: pd.DataFrame
    aggregate: dict[str, go.Figure]


@st.cache_resource(max_entries=64)
def _school_view(scope_key: ScopeKey, version: str, school_id: str | None) -> SchoolView:
    report = _report(scope_key, version)
    district = report.district
    weekly = report.weekly if school_id is None else report.weekly[report.weekly["school_id"] == school_id]
    devices = report.devices if school_id is None else report.devices[report.devices["school_id"] == school_id]
    heatmaps = {} if school_id is not None else {
        value: viz.adoption_heatmap(report.schools, value, f"{value.title()} by school and tool")
        for value in ("utilization", "fidelity")}
    aggregate = {}
    if report.has_aggregate:
        label = "US school closures (13 Mar 2020)" if report.aggregate_marker is not None else ""
        aggregate = {
            "top": viz.aggregate_top_products(report.aggregate_top),
            "trend": viz.aggregate_trend(report.aggregate_weekly, report.aggregate_top, report.aggregate_marker, label),
            "total": viz.aggregate_engagement_total(report.aggregate_total, report.aggregate_marker, label)}
    return SchoolView(
        heatmaps=heatmaps, trend=viz.weekly_trend_lines(weekly, district.tools),
        dosage=viz.dosage_distribution(adoption.dosage_distribution(report.student_usage, school_id), district.tools),
        devices=viz.device_coverage_bars(devices),
        not_using=(adoption.not_using_by_grade(district, report.student_usage, school_id)
                   if school_id is not None else pd.DataFrame()),
        aggregate=aggregate)


def get_school_view(scope: frozenset[str] | None, school_id: str | None) -> SchoolView:
    return _school_view(_key(scope), cache.data_version(), school_id)


@st.cache_resource(max_entries=64)
def _equity_view(scope_key: ScopeKey, version: str, tool_id: str | None) -> tuple[pd.DataFrame, pd.DataFrame, go.Figure]:
    report = _report(scope_key, version)
    access = report.access if tool_id is None else report.access[report.access["tool_id"] == tool_id]
    by_quartile = equity.equity_by_frl_quartile(access, report.district.schools)
    by_subgroup = equity.equity_by_subgroup(access, report.district.students)
    return by_quartile, by_subgroup, viz.frl_quartile_bars(by_quartile)


def get_equity_view(scope: frozenset[str] | None, tool_id: str | None) -> tuple[pd.DataFrame, pd.DataFrame, go.Figure]:
    """(by FRL quartile, by subgroup, quartile chart) for one tool or all (None)."""
    return _equity_view(_key(scope), cache.data_version(), tool_id)


@st.cache_resource(max_entries=64)
def _pd_view(scope_key: ScopeKey, version: str, row: int, title: str) -> go.Figure:
    report = _report(scope_key, version)
    ev = report.pd_change.iloc[row]
    window = adoption.pd_weekly_window(report.weekly, ev["school_id"], ev["tool_id"], ev["pd_date"])
    return viz.pd_before_after(window, title)


def get_pd_figure(scope: frozenset[str] | None, row: int, title: str) -> go.Figure:
    """Before/after chart of the PD event at position `row` of the report's pd_change table."""
    return _pd_view(_key(scope), cache.data_version(), row, title)
