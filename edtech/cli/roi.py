"""`python -m edtech` commands of roi: argparse and printing over edtech.services.roi."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import pandas as pd

from edtech.services import feedback, workspace
from edtech.services.roi import (
    CLI_COLUMNS,
    TABLE_COLUMNS,
    export_frame,
    scoreboard,
)


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


def _run(args: argparse.Namespace) -> int:
    engine = workspace.open_engine(args.db)
    ws = workspace.Workspace(engine, frozenset(args.school) if args.school else None, principal=args.principal)
    board = scoreboard(ws)
    if args.format == "json":
        records = to_records(board)
        if records:  # stakeholder satisfaction: the figures the Tool ROI and Vetting pages show
            satisfaction = feedback.satisfaction_records(feedback.satisfaction(ws))
            for record in records:
                record["satisfaction"] = satisfaction.get(record["tool_id"])
        json.dump(records, sys.stdout, indent=2)
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
        description="Per tool: seats, cost, active users, utilization, dosage, effect with 95% CI, evidence label, "
                    "cost per 0.1 SD, ROI score (saved weights) and a recommendation (methods.md sections 1-3).")
    parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
    parser.add_argument("--school", action="append", metavar="ID",
                        help="a coordinator's scope: only these schools' figures (repeatable)")
    parser.set_defaults(func=_run)
