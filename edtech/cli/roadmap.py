"""`python -m edtech roadmap`: initiatives with each KPI's current value, target and status (data contract v2)."""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from edtech.cli.exit_codes import EXIT_OK
from edtech.services import roadmap as roadmap_service
from edtech.services import workspace


def _run(args: argparse.Namespace) -> int:
    engine = workspace.open_engine(args.db)
    ws = workspace.Workspace(engine, None, principal=args.principal)
    numbers = roadmap_service.roadmap_json(ws)
    if args.format == "json":
        json.dump(numbers, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    if not numbers["kpis"]:
        print("No roadmap KPIs yet: import initiatives and kpis (python -m edtech import initiatives FILE) "
              "or add them on the Roadmap page.")
        return EXIT_OK
    table = pd.DataFrame([{
        "initiative": r["initiative_id"], "kpi": r["kpi_id"], "metric": r["metric"], "scope": r["scope"],
        "baseline": roadmap_service.format_value(r["baseline"], r["unit"]), "current": roadmap_service.format_value(r["current"], r["unit"]),
        "target": roadmap_service.format_value(r["target"], r["unit"]), "by": r["target_date"],
        "status": roadmap_service.STATUS_LABELS[r["status"]]} for r in numbers["kpis"]])
    print(f"Roadmap KPIs, data through {numbers['as_of']}")
    print(table.to_string(index=False))
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "roadmap", help="roadmap initiatives: each KPI's current value, target and status",
        description="Per KPI of the roadmap: metric (methods v2 section 7 catalogue), scope, baseline, current "
                    "value (the data's current month), target, target date and status (met, on_track, at_risk, "
                    "no_data). Monthly values are refreshed first when the data changed.")
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.set_defaults(func=_run)
