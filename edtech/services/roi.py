"""Tool ROI use cases: the scoreboard for the page and the `roi` command, saved weights, the benchmark."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
from sqlalchemy.engine import Engine

from edtech.core.access import SYSTEM, Action, Principal
from edtech.core.privacy import neutralize_frame
from edtech.evidence import effects
from edtech.roi import engine as roi
from edtech.roi import viz
from edtech.services import audit, workspace
from edtech.store import data

# the columns `python -m edtech roi` prints (JSON keeps every one; table/csv the same order)
CLI_COLUMNS = [c for c in roi.SCORE_COLUMNS if c != "rank"] + ["scope_share"]
TABLE_COLUMNS = ["tool_id", "tool_name", "seats", "active_users", "utilization", "dosage_met_share", "effect_size",
                 "evidence_label", "roi_score", "recommendation"]
READS = workspace.BOARD_READS
normalize_weights = workspace.normalize_weights
load_weights = workspace.load_weights
load_outcome_choice = workspace.load_outcome_choice


# ---------------------------------------------------------------- saved settings (director only: the page checks)

def save_weights(engine: Engine, weights: dict[str, float], principal: Principal = SYSTEM) -> None:
    """The district's ROI weights (director only; audited)."""
    principal.require(Action.SAVE_SETTINGS)
    clean = normalize_weights(weights)
    data.save_setting(engine, workspace.WEIGHTS_SETTING_KEY, clean)
    audit.record(engine, principal, "settings changed", detail=f"ROI weights: {clean}")


def save_outcome_choice(engine: Engine, tool_id: str, assessment: str | None, principal: Principal = SYSTEM) -> None:
    """Set (or, with None, clear) the outcome assessment of one tool (director only; audited)."""
    principal.require(Action.SAVE_SETTINGS)
    choice = load_outcome_choice(engine)
    if assessment:
        choice[tool_id] = assessment
    else:
        choice.pop(tool_id, None)
    data.save_setting(engine, workspace.OUTCOME_SETTING_KEY, choice)
    audit.record(engine, principal, "settings changed", detail=f"outcome of {tool_id}: {assessment or 'default'}")


# ---------------------------------------------------------------- use cases

ASSESSMENT_NAMES_READS = ("table:assessments",)


def assessment_names(engine: Engine) -> list[str]:
    """The distinct assessment names (the outcome picker), sorted: one DISTINCT query instead of reading every
    score row (200,000 at 50,000 students; issue 15)."""
    from sqlalchemy import select

    from edtech.store.models import TABLE_MODELS

    column = TABLE_MODELS["assessments"].assessment
    with engine.connect() as conn:
        names = conn.execute(select(column).where(column.is_not(None)).distinct()).scalars().all()
    return sorted(str(n) for n in names)


def scoreboard(ws: workspace.Workspace) -> pd.DataFrame:
    """The scoreboard of the workspace's scope with the saved weights (what every surface shows)."""
    return ws.board


def scoreboard_for(engine: Engine, scope: frozenset[str] | None = None, principal: Principal = SYSTEM) -> pd.DataFrame:
    return scoreboard(workspace.Workspace(engine, scope, principal=principal))


@dataclass
class Drilldown:
    figures: dict[str, go.Figure | None]
    schools: pd.DataFrame
    effects: pd.DataFrame
    explanations: list[str]


def drilldown(ws: workspace.Workspace, tool_id: str, threshold: float = effects.DECISION_THRESHOLD) -> Drilldown:
    """One tool's weekly use, school breakdown (the scope's schools), dosage and effect rows, with decision
    probabilities at the director's threshold (SD units; flat-prior approximation)."""
    m = ws.roi.metrics
    board = ws.board.set_index("tool_id")
    seats = board.loc[tool_id, "seats"] if tool_id in board.index else 0
    weekly = ws.tool_week_active()
    weekly = weekly[weekly["tool_id"] == tool_id]
    schools = ws.school_tool()
    schools = schools[schools["tool_id"] == tool_id]
    students = ws.student_tool_year()
    students = students[students["tool_id"] == tool_id]
    rows = effects.with_decision_threshold(ws.roi.effects[ws.roi.effects["tool_id"] == tool_id], threshold)
    rec_minutes = m.tools.set_index("tool_id")["recommended_minutes_per_week"].get(tool_id)
    figures = {
        "weekly": viz.weekly_active(weekly, seats) if ws.scope is None else None,
        "schools": viz.school_breakdown(schools) if len(schools) else None,
        # a histogram of individual students' minutes is student-level detail
        "dosage": viz.dosage_distribution(students, rec_minutes)
        if len(students) and ws.principal.can(Action.VIEW_STUDENTS) else None,
        "effects": viz.effect_forest(rows) if len(rows) else None,
    }
    return Drilldown(figures, schools, rows, [effects.explain_effect(r) for _, r in rows.iterrows()])


def export_frame(board: pd.DataFrame) -> pd.DataFrame:
    """The scoreboard for CSV download: flags joined, formula-like text neutralized."""
    out = board[[c for c in CLI_COLUMNS if c in board.columns]].copy()
    if "flags" in out.columns:
        out["flags"] = out["flags"].map(lambda f: ";".join(f) if isinstance(f, list) else f)
    return neutralize_frame(out)


# ---------------------------------------------------------------- command line


# ---------------------------------------------------------------- benchmark

def bench_roi(n_students: int = 50000, seed: int = 2025) -> dict[str, float]:
    """Seconds to score every tool of a generated district of `n_students` (generation not counted)."""
    from edtech.sample.generate import generate_district

    started = time.perf_counter()
    district = generate_district(n_students=n_students, seed=seed).district
    generated = time.perf_counter()
    metrics = roi.compute_usage_metrics(district)
    usage_done = time.perf_counter()
    effects = roi.compute_effects(district, metrics)
    effects_done = time.perf_counter()
    roi.order_scoreboard(roi.score_metrics(roi.combine(metrics, effects)))
    done = time.perf_counter()
    return {
        "n_students": float(n_students), "usage_rows": float(len(district.usage)),
        "generate_seconds": round(generated - started, 3),
        "usage_metrics_seconds": round(usage_done - generated, 3),
        "effects_seconds": round(effects_done - usage_done, 3),
        "score_seconds": round(done - effects_done, 3),
        "roi_seconds": round(done - generated, 3),
    }
