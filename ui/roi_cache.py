"""Cached Tool ROI analysis: the heavy part once per data version and scope, scoring per weights.

cache_resource: results are shared read-only between reruns and sessions, so a warm rerun (a slider
move, a filter) only re-ranks about a dozen rows and redraws.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from edtech.evidence import effects
from edtech.roi import engine as roi
from edtech.roi import viz
from edtech.services import roi as roi_service
from ui import cache

ScopeKey = tuple[str, ...] | None


def _key(scope: frozenset[str] | None) -> ScopeKey:
    return None if scope is None else tuple(sorted(scope))


@dataclass
class RoiAnalysis:
    metrics: roi.UsageMetrics
    effects: pd.DataFrame      # every tool x assessment estimate
    combined: pd.DataFrame     # per tool, before scoring


ChoiceKey = tuple[tuple[str, str], ...]


def outcome_choice() -> dict[str, str]:
    """Saved tool -> outcome assessment picks (a small settings read)."""
    return roi_service.load_outcome_choice(cache.get_engine())


def save_outcome_choice(tool_id: str, assessment: str | None) -> bool:
    return roi_service.save_outcome_choice(cache.get_engine(), tool_id, assessment)


def _choice_key() -> ChoiceKey:
    return tuple(sorted(outcome_choice().items()))


@st.cache_resource(show_spinner="Estimating usage, costs and effects…", max_entries=8)
def _analysis(scope_key: ScopeKey, version: str, choice: ChoiceKey = ()) -> RoiAnalysis:
    district = cache.get_district(None if scope_key is None else frozenset(scope_key))
    # a coordinator's scope gets its schools' share of district-wide seats, so allocation needs everyone
    whole = None if scope_key is None else cache.get_district(None)
    metrics, effect_rows, combined = roi.analyze_district(district, whole=whole, outcome_choice=dict(choice))
    return RoiAnalysis(metrics, effect_rows, combined)


def get_analysis(scope: frozenset[str] | None = None) -> RoiAnalysis:
    return _analysis(_key(scope), cache.data_version(), _choice_key())


@st.cache_resource(max_entries=64)
def _board(scope_key: ScopeKey, version: str, choice: ChoiceKey,
           weights: tuple[tuple[str, float], ...]) -> pd.DataFrame:
    analysis = _analysis(scope_key, version, choice)
    return roi.order_scoreboard(roi.score_metrics(analysis.combined, dict(weights)))


def get_board(scope: frozenset[str] | None, weights: dict[str, float]) -> pd.DataFrame:
    return _board(_key(scope), cache.data_version(), _choice_key(),
                  tuple(sorted(roi_service.normalize_weights(weights).items())))


@st.cache_resource(max_entries=64)
def _drilldown(scope_key: ScopeKey, version: str, choice: ChoiceKey, tool_id: str) -> dict[str, object]:
    analysis = _analysis(scope_key, version, choice)
    m = analysis.metrics
    tool = m.tools.set_index("tool_id").loc[tool_id]
    weekly = m.weekly[m.weekly["tool_id"] == tool_id]
    schools = m.schools[m.schools["tool_id"] == tool_id]
    students = m.students[m.students["tool_id"] == tool_id]
    rows = analysis.effects[analysis.effects["tool_id"] == tool_id]
    figures: dict[str, go.Figure] = {
        "weekly": viz.weekly_active(weekly, tool["seats"]),
        "schools": viz.school_breakdown(schools) if len(schools) else None,
        "dosage": viz.dosage_distribution(students, tool["recommended_minutes_per_week"]) if len(students) else None,
        "effects": viz.effect_forest(rows) if len(rows) else None,
    }
    explanations = [effects.explain_effect(r) for _, r in rows.iterrows()]
    return {"figures": figures, "schools": schools, "effects": rows, "explanations": explanations}


def get_drilldown(scope: frozenset[str] | None, tool_id: str) -> dict[str, object]:
    return _drilldown(_key(scope), cache.data_version(), _choice_key(), tool_id)


def load_saved_weights() -> dict[str, float]:
    return roi_service.load_weights(cache.get_engine())


def save_weights(weights: dict[str, float]) -> bool:
    return roi_service.save_weights(cache.get_engine(), weights)
