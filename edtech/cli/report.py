"""`python -m edtech` commands of report: argparse and printing over edtech.services.report."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from edtech.cli.exit_codes import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from edtech.core import rules
from edtech.core.access import Action
from edtech.services import audit, workspace
from edtech.services.report import (
    FORMATS,
    UNUSABLE_MODEL,
    RenderError,
    build_report,
    export,
    is_safe_memo_name,
    memo_files,
    report_figures,
    scenario_spec,
    unusable_model,
)


# --------------------------------------------------------------------------- CLI
def _warn_if_refused(note: str | None) -> None:
    """The published model version was refused (unsigned, altered…): the report is still produced, without
    at-risk counts, and the operator is told why on stderr."""
    if note and note.startswith(UNUSABLE_MODEL):
        print(f"warning: {note}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    engine = workspace.open_engine(args.db)
    scope = frozenset(args.school) if args.school else None
    if scope is not None:
        unknown = sorted(scope - workspace.school_ids(engine))
        if unknown:
            print(f"error: unknown school {', '.join(unknown)}", file=sys.stderr)
            return EXIT_USAGE
    args.principal.require(Action.BOARD_REPORT)
    ws = workspace.Workspace(engine, scope, principal=args.principal)
    if ws.district.is_empty:
        print("The database has no district data yet: load it first (python -m edtech demo loads the sample "
              "district).", file=sys.stderr)
        return EXIT_USAGE
    try:
        scenario_spec(engine, args.scenario)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    if args.format == "json":
        numbers = report_figures(ws, scenario=args.scenario)
        _warn_if_refused(numbers["at_risk"].get("note"))
        audit.record(engine, args.principal, "board report (json) produced", scope=scope)
        text = json.dumps(numbers, indent=2, default=str)
        if args.out:
            Path(args.out).write_text(text + "\n")
        else:
            print(text)
        return EXIT_OK
    if not args.out:
        print("error: --out PATH is required for pdf and pptx", file=sys.stderr)
        return EXIT_USAGE
    started = time.perf_counter()
    rep = build_report(ws, scenario=args.scenario)
    _warn_if_refused(unusable_model(rep))
    try:
        content = export(rep, args.format)
    except RenderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(content)
    audit.record(engine, args.principal, f"board report ({args.format}) produced", scope=scope, detail=str(out))
    print(f"wrote {out} ({len(content) / 1024:,.0f} KB, {len(rep.sections)} sections, "
          f"{time.perf_counter() - started:.1f} s)")
    if args.memos:
        folder = Path(args.memos)
        files = memo_files(ws)  # from the stored adoption tables (no weekly rows read)
        try:
            write_memos(folder, files)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        print(f"wrote {len(files)} renewal memo(s) to {folder}" if files else
              f"no tool is due for renewal within {rules.RENEWAL_WINDOW_DAYS} days: no memo written")
    return EXIT_OK


def write_memos(folder: Path, files: dict[str, bytes]) -> list[Path]:
    """Write each memo as a file directly inside `folder`; refuse (ValueError, nothing written) any
    name that is not a plain memo file name or that resolves outside `folder` (e.g. through a symlink)."""
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    targets = []
    for name in files:
        target = (root / name).resolve()
        if not is_safe_memo_name(name) or target.parent != root:
            raise ValueError(f"refusing to write memo {name!r}: not a plain file name inside {root}")
        targets.append(target)
    if len(set(targets)) != len(targets):
        raise ValueError("refusing to write memos: two memos have the same file name")
    for target, pdf in zip(targets, files.values(), strict=True):
        target.write_bytes(pdf)
    return targets


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="board report as PDF, PowerPoint or JSON (+ renewal memos)",
        description="Executive summary, KPIs, ROI scoreboard, adoption by school, budget proposal with its "
                    "uncertainty, at-risk counts by school and grade, data sources. Counts under the "
                    "suppression threshold (EDTECH_SUPPRESS_MIN, default 10) are shown as <N. "
                    "--format json prints every number the report states.")
    parser.add_argument("--format", choices=(*FORMATS, "json"), required=True)
    parser.add_argument("--out", default=None, metavar="PATH", help="required for pdf/pptx; json prints to stdout")
    parser.add_argument("--scenario", default=None, metavar="NAME",
                        help="a saved budget scenario (default: right-size every license to peak use + 10%%)")
    parser.add_argument("--memos", default=None, metavar="DIR",
                        help="also write a one-page renewal memo PDF per tool due within 90 days")
    parser.add_argument("--school", action="append", metavar="ID",
                        help="a coordinator's scope: only these schools' figures (repeatable)")
    parser.set_defaults(func=_run)
