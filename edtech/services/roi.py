"""Tool ROI use cases: the scoreboard for the page and the `roi` command, saved weights, the benchmark."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from edtech.core.privacy import neutralize_frame
from edtech.roi import engine as roi
from edtech.store import data

WEIGHTS_SETTING_KEY = "roi_weights"
OUTCOME_SETTING_KEY = "roi_outcome_choice"

# the columns `python -m edtech roi` prints (JSON keeps every one; table/csv the same order)
CLI_COLUMNS = [c for c in roi.SCORE_COLUMNS if c != "rank"]
TABLE_COLUMNS = ["tool_id", "tool_name", "seats", "active_users", "utilization", "dosage_met_share", "effect_size",
                 "evidence_label", "roi_score", "recommendation"]


# ---------------------------------------------------------------- weights

def normalize_weights(weights: dict[str, Any] | None) -> dict[str, float]:
    """Known keys only, non-negative floats, defaults for the missing ones."""
    out = dict(roi.DEFAULT_WEIGHTS)
    for key, value in (weights or {}).items():
        if key in out:
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(number) and number >= 0:
                out[key] = number
    return out


def settings_supported() -> bool:
    return hasattr(data, "save_setting") and hasattr(data, "load_setting")


def load_weights(engine: Engine) -> dict[str, float]:
    """The saved ROI weights (methods.md section 3 defaults when none are saved)."""
    if not settings_supported():
        return dict(roi.DEFAULT_WEIGHTS)
    raw = data.load_setting(engine, WEIGHTS_SETTING_KEY, None)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    return normalize_weights(raw if isinstance(raw, dict) else None)


def save_weights(engine: Engine, weights: dict[str, float]) -> bool:
    """Save the weights; False when the data layer has no settings store yet."""
    if not settings_supported():
        return False
    data.save_setting(engine, WEIGHTS_SETTING_KEY, normalize_weights(weights))
    return True


# ---------------------------------------------------------------- outcome choice (tool -> assessment)

def load_outcome_choice(engine: Engine) -> dict[str, str]:
    """Outcome assessments the user picked for tools (overrides the subject match)."""
    if not settings_supported():
        return {}
    raw = data.load_setting(engine, OUTCOME_SETTING_KEY, None)
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(v) for k, v in raw.items() if isinstance(v, str) and v}


def save_outcome_choice(engine: Engine, tool_id: str, assessment: str | None) -> bool:
    """Set (or, with None, clear) the outcome assessment of one tool."""
    if not settings_supported():
        return False
    choice = load_outcome_choice(engine)
    if assessment:
        choice[tool_id] = assessment
    else:
        choice.pop(tool_id, None)
    data.save_setting(engine, OUTCOME_SETTING_KEY, choice)
    return True


# ---------------------------------------------------------------- scoreboard

def scoreboard(engine: Engine, scope: frozenset[str] | None = None,
               weights: dict[str, float] | None = None) -> pd.DataFrame:
    """Load the district and score every tool (saved weights unless given)."""
    district = data.load_district(engine, scope=scope)
    whole = None if scope is None else data.load_district(engine)
    return roi.score_tools(district, weights=weights if weights is not None else load_weights(engine), whole=whole,
                           outcome_choice=load_outcome_choice(engine))


def _json_value(value: Any) -> Any:
    if isinstance(value, (list, tuple, set)):
        return [_json_value(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_records(board: pd.DataFrame) -> list[dict[str, Any]]:
    """One JSON-ready dict per tool (CLI_COLUMNS, NaN -> null, flags as a list)."""
    cols = [c for c in CLI_COLUMNS if c in board.columns]
    return [{c: _json_value(row[c]) for c in cols} for _, row in board.iterrows()]


def export_frame(board: pd.DataFrame) -> pd.DataFrame:
    """The scoreboard for CSV download: flags joined, formula-like text neutralized."""
    out = board[[c for c in CLI_COLUMNS if c in board.columns]].copy()
    if "flags" in out.columns:
        out["flags"] = out["flags"].map(lambda f: ";".join(f) if isinstance(f, list) else f)
    return neutralize_frame(out)


# ---------------------------------------------------------------- command line

def _run(args: argparse.Namespace) -> int:
    engine = data.make_engine(args.db)
    data.init_db(engine)
    board = scoreboard(engine)
    if args.format == "json":
        json.dump(to_records(board), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.format == "csv":
        export_frame(board).to_csv(sys.stdout, index=False)
    else:
        if board.empty:
            print("No tools in the database yet: import data first (python -m edtech import ...).")
            return 0
        table = board[[c for c in TABLE_COLUMNS if c in board.columns]].copy()
        for col in ("utilization", "dosage_met_share"):
            table[col] = table[col].map(lambda v: "" if pd.isna(v) else f"{v:.0%}")
        table["effect_size"] = table["effect_size"].map(lambda v: "" if pd.isna(v) else f"{v:+.2f}")
        print(table.to_string(index=False))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "roi", help="score every tool: usage, cost, effect, evidence, ROI score, recommendation",
        description="Per tool: seats, cost, active users, utilization, dosage, effect with 95%% CI, evidence label, "
                    "cost per 0.1 SD, ROI score (saved weights) and a recommendation (methods.md sections 1-3).")
    parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
    parser.set_defaults(func=_run)


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
