"""`python -m edtech`: the command line that automation and tests rely on.

Exit codes (data contract): 0 done, 2 wrong usage, 3 input rejected (nothing written),
1 unexpected failure. Each capability registers its own sub-commands from
`edtech.services.<capability>.register(subparsers)`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_REJECTED = 0, 1, 2, 3

# modules that expose register(subparsers); each parser sets func(args) -> int
COMMAND_MODULES = [
    "edtech.services.dataset",
    "edtech.services.roi",
    "edtech.services.adoption",
    "edtech.services.risk",
    "edtech.services.budget",
    "edtech.services.report",
    "edtech.services.bench",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 already; keep the message short
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m edtech", description="EdTech Compass command line")
    parser.add_argument("--db", default=None, help="database URL (else EDTECH_DATABASE_URL, else data/edtech.db)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # capability not installed in this build
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except Exception:  # noqa: BLE001 - last resort: report and exit 1
        traceback.print_exc()
        return EXIT_FAILURE
