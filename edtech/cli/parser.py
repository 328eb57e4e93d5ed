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

from edtech.cli.exit_codes import EXIT_FAILURE, EXIT_USAGE
from edtech.core.access import SYSTEM, AccessDenied

# command -> module exposing register(subparsers); each parser sets func(args) -> int.
# Only the module of the command being run is imported (scikit-learn, statsmodels and kaleido
# are slow to import), except for --help, which needs them all.
COMMANDS = {
    "init": "edtech.cli.dataset", "demo": "edtech.cli.dataset", "import": "edtech.cli.dataset",
    "roi": "edtech.cli.roi", "adoption": "edtech.cli.adoption", "risk": "edtech.cli.risk",
    "scenario": "edtech.cli.budget", "report": "edtech.cli.report", "bench": "edtech.cli.bench",
    "user": "edtech.cli.user", "serve": "edtech.cli.serve", "roadmap": "edtech.cli.roadmap",
    "interventions": "edtech.cli.interventions", "precompute": "edtech.cli.precompute",
}
COMMAND_MODULES = list(dict.fromkeys(COMMANDS.values()))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 already; keep the message short
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _command_of(argv: list[str]) -> str | None:
    args = iter(argv)
    for a in args:
        if a in GLOBAL_OPTIONS:
            next(args, None)
        elif not a.startswith("-"):
            return a
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m edtech", description="EdTech Compass command line")
    parser.add_argument("--db", default=None, help="database URL (else EDTECH_DATABASE_URL, else data/edtech.db)")
    parser.add_argument("--as", dest="as_email", default=None, metavar="EMAIL",
                        help="act as this account (its role and schools); default: the director")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    command = _command_of(argv if argv is not None else sys.argv[1:])
    modules = [COMMANDS[command]] if command in COMMANDS else COMMAND_MODULES
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # capability not installed in this build
                continue
            raise
        module.register(sub)
    return parser


GLOBAL_OPTIONS = ("--db", "--as")  # accepted before or after the sub-command (data contract v2)


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move `--db URL` / `--db=URL` (and `--as EMAIL`) found after the sub-command to the front, where argparse reads it."""
    front, rest, i = [], [], 0
    while i < len(argv):
        a = argv[i]
        name = a.split("=", 1)[0]
        if name in GLOBAL_OPTIONS and "=" in a:
            front.append(a)
        elif a in GLOBAL_OPTIONS and i + 1 < len(argv):
            front += [a, argv[i + 1]]
            i += 1
        else:
            rest.append(a)
        i += 1
    return front + rest


def _principal(args: argparse.Namespace):
    """The command line acts as a director unless `--as EMAIL` names an account (then as that account)."""
    if not args.as_email:
        return SYSTEM
    from edtech.services import accounts, workspace

    found = accounts.principal_for(workspace.open_engine(args.db), args.as_email)
    if found is None:
        raise AccessDenied(f"there is no usable account for {args.as_email} (see `python -m edtech user list`)")
    return found


def main(argv: list[str] | None = None) -> int:
    argv = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        args.principal = _principal(args)
        return int(args.func(args))
    except AccessDenied as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except Exception:  # noqa: BLE001 - last resort: report and exit 1
        traceback.print_exc()
        return EXIT_FAILURE
