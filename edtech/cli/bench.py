"""`python -m edtech` commands of bench: argparse and printing over edtech.services.bench."""

from __future__ import annotations

import argparse
import json

from edtech.services.bench import (
    BENCH_HOOKS,
    run_bench,
)


def _cmd_bench(args: argparse.Namespace) -> int:
    only = set(args.only.split(",")) if args.only else None
    print(json.dumps(run_bench(args.rows, args.students, only), indent=2, default=str))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="performance figures (import throughput, page computations)")
    p.add_argument("--students", type=int, default=50_000, help="district size for the analysis timings")
    p.add_argument("--rows", type=int, default=2_000_000, help="usage rows for the import benchmark")
    p.add_argument("--only", default=None,
                   help="comma list of: " + ",".join(["import", *(label for _, _, label in BENCH_HOOKS)]))
    p.set_defaults(func=_cmd_bench)
