"""`python -m edtech` commands of bench: argparse and printing over edtech.services.bench."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edtech.services.bench import (
    BENCH_HOOKS,
    run_bench,
)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--students takes whole numbers separated by commas, not {text!r}") from None
    if not sizes or min(sizes) < 200:
        raise argparse.ArgumentTypeError("--students: each district needs at least 200 students")
    return sizes


def _cmd_bench(args: argparse.Namespace) -> int:
    only = set(args.only.split(",")) if args.only else None
    backends = tuple(b for b in args.backends.split(",") if b)
    pages = args.pages.split(",") if args.pages else None
    files = Path(args.files) if args.files else None
    print(json.dumps(run_bench(args.rows, args.students, only, pg_url=args.pg_url, backends=backends, pages=pages,
                               files=files), indent=2, default=str))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="performance figures (import throughput, page computations)")
    p.add_argument("--students", type=_sizes, default=[50_000],
                   help="district size(s), comma-separated (scale: each size end to end; analysis timings: the first)")
    p.add_argument("--rows", type=int, default=2_000_000, help="usage rows for the import benchmark")
    p.add_argument("--pg-url", default=None,
                   help="PostgreSQL server for the scale figures (a database per size is created on it); "
                        "default: a throwaway server started like the tests start one")
    p.add_argument("--backends", default="sqlite,postgresql", help="scale: comma list of sqlite, postgresql")
    p.add_argument("--files", default=None,
                   help="scale: keep the generated CSV files in FILES/<N> and reuse them in later runs")
    p.add_argument("--pages", default=None, help="scale: comma list of app_pages file stems (default: every page)")
    p.add_argument("--only", default=None,
                   help="comma list of: " + ",".join(["scale", "import", *(label for _, _, label in BENCH_HOOKS)]))
    p.set_defaults(func=_cmd_bench)
