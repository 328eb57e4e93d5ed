"""`python -m edtech precompute`: compute and store the district-wide parts the pages read (issue 15)."""

from __future__ import annotations

import argparse
import json
import sys

from edtech.cli.exit_codes import EXIT_FAILURE, EXIT_OK
from edtech.services import precompute, workspace


def _run(args: argparse.Namespace) -> int:
    engine = workspace.open_engine(args.db)
    timings = precompute.precompute(engine, set(args.only.split(",")) if args.only else None)
    json.dump({"seconds": timings}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_FAILURE if any(v < 0 for v in timings.values()) else EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "precompute", help="compute and store the parts every page reads (after a large import)",
        description="Computes the district-wide parts the pages read (the ROI analysis, adoption tables, at-risk "
                    "scores…) for the current data and stores them in the database, so the first page open after "
                    "an import does not pay for them. Prints seconds per part (-1: failed, the page will say why).")
    parser.add_argument("--only", default="", help="comma list of part names")
    parser.set_defaults(func=_run)
