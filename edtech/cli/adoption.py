"""`python -m edtech` commands of adoption: argparse and printing over edtech.services.adoption."""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from edtech.cli.exit_codes import EXIT_OK, EXIT_USAGE
from edtech.core.privacy import neutralize_frame
from edtech.services import workspace
from edtech.services.adoption import (
    ACTIVE_USER_RULE,
    SEAT_ALLOCATION_RULE,
    load_report,
    school_table,
)


# ------------------------------------------------------------------------------------------ CLI
def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("adoption", help="school × tool adoption: seats, active users, utilization, fidelity",
                                   description=f"{ACTIVE_USER_RULE} {SEAT_ALLOCATION_RULE}")
    parser.add_argument("--school", action="append", metavar="ID",
                        help="a coordinator's scope: only these schools (repeatable)")
    parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
    parser.set_defaults(func=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    engine = workspace.open_engine(args.db)
    known = workspace.school_ids(engine)
    unknown = sorted(set(args.school or ()) - known)
    if unknown:
        shown = ", ".join(sorted(known)[:20]) or "none (the database has no schools; run `python -m edtech demo`)"
        print(f"error: unknown school {', '.join(unknown)}. Known school_ids: {shown}", file=sys.stderr)
        return EXIT_USAGE
    report = load_report(engine, frozenset(args.school) if args.school else None, args.principal)
    table = school_table(report)
    if args.format == "json":
        records = json.loads(table.to_json(orient="records", date_format="iso"))
        print(json.dumps(records, indent=2))
    elif args.format == "csv":
        neutralize_frame(table).to_csv(sys.stdout, index=False)
    elif table.empty:
        print("No licensed tools or usage yet." if not args.school else "No tools at these schools.")
    else:
        shown = table.copy()
        for col in ["utilization", "dosage_met_share", "fidelity", "district_median_utilization",
                    "similar_median_utilization"]:
            shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.0%}")
        print(shown.to_string(index=False))
        print(f"\n{ACTIVE_USER_RULE}\n{SEAT_ALLOCATION_RULE}")
    return EXIT_OK
