"""`python -m edtech` commands of dataset: argparse and printing over edtech.services.dataset."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy.engine import Engine

from edtech.cli.exit_codes import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, EXIT_REJECTED, EXIT_USAGE
from edtech.core import secret_key
from edtech.services import workspace
from edtech.services.dataset import (
    IMPORT_KINDS,
    DatabaseBusy,
    import_any,
    import_outcome_line,
    load_sample_district,
)


# --------------------------------------------------------------------------- CLI
def _cmd_init(args: argparse.Namespace) -> int:
    engine = workspace.open_engine(args.db)
    secret_key.ensure_key_file()  # the server secret (signs model versions), mode 0600
    print(f"schema ready: {engine.url.render_as_string(hide_password=True)}")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.students is not None and args.students < 200:
        print("error: --students must be at least 200 (a district needs students in every school)", file=sys.stderr)
        return EXIT_USAGE
    engine = workspace.open_engine(args.db)
    reports = load_sample_district(engine, n_students=args.students, seed=args.seed)
    for r in reports:
        print(r.summary())
    bad = [r for r in reports if not r.ok]
    for r in bad:
        print("\n".join(r.error_lines()), file=sys.stderr)
    if bad:
        return EXIT_REJECTED
    code = _publish_demo_model(engine)
    _snapshot_roadmap(engine)
    return code


def _snapshot_roadmap(engine: Engine) -> None:
    """The roadmap's monthly KPI values, back-filled now (after the model's flags are written) so the
    Roadmap page's first open reads stored snapshots instead of recomputing a year of months."""
    from edtech.services import roadmap as roadmap_service

    print("computing the roadmap's monthly KPI values (about half a minute)...", flush=True)
    if roadmap_service.refresh_snapshots(engine):
        print(f"roadmap: {len(roadmap_service.read_snapshots(engine))} monthly KPI values stored")


def _publish_demo_model(engine: Engine) -> int:
    """The sample's at-risk model, trained and published (as the CLI's director) so the app opens on a
    worklist; kept when a version is already published (a repeated `demo` does not retrain)."""
    from edtech.core.access import SYSTEM
    from edtech.services import risk as risk_service

    published = risk_service.published_version(engine)
    if published is not None:
        print(f"at-risk model: version {published['id']} (target {published['target']}) already published")
        return EXIT_OK
    print("training the at-risk model on the sample (about half a minute)...", flush=True)
    try:
        info = risk_service.train_and_publish(engine, workspace.Workspace(engine).whole, principal=SYSTEM)
    except risk_service.RiskInputError as exc:
        print(f"warning: no at-risk model published: {exc}", file=sys.stderr)
        return EXIT_OK
    print(f"at-risk model: version {info['id']} ({info['model_name']}, target {info['target']}) trained and "
          "published")
    return EXIT_OK


def _cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.exists():
        print(f"error: {path} does not exist", file=sys.stderr)
        return EXIT_USAGE
    engine = workspace.open_engine(args.db)
    try:
        reports = import_any(engine, args.kind, path, dry_run=args.dry_run, skip_unknown_refs=args.skip_unknown,
                             principal=args.principal, atomic=args.atomic, decimal=args.decimal,
                             date_order=args.date_order)
    except DatabaseBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    for r in reports:
        print(r.summary())
        for w in r.warnings:
            print(f"  warning: {w}")
        if not r.ok:
            print("\n".join("  " + line for line in r.error_lines()), file=sys.stderr)
    if len(reports) > 1:
        print(import_outcome_line(reports, atomic=args.atomic))
    if not args.no_refresh and not args.dry_run:
        _refresh_model(engine, {r.kind for r in reports if r.written})
    rejected = any(not r.ok for r in reports)
    # a dry run exits as the import would: 4 when some files would be stored and others rejected
    stored = any(r.status in ("imported", "checked") for r in reports)
    if rejected and stored:
        return EXIT_PARTIAL
    return EXIT_REJECTED if rejected else EXIT_OK


def _refresh_model(engine: Engine, stored: set[str]) -> None:
    """After the import has committed: refresh the published at-risk model when its inputs changed (the
    app does this in the background; a command waits so the process does not end mid-training)."""
    from edtech.services import retrain

    if not retrain.after_import(engine, stored):
        return
    print("refreshing the published at-risk model on the new data…", flush=True)
    st = retrain.wait(engine)
    print(f"at-risk model: {st.outcome}" if st.error is None else f"warning: {st.outcome}: {st.error}",
          file=sys.stdout if st.error is None else sys.stderr)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create or migrate the schema (idempotent)")
    p.set_defaults(func=_cmd_init)
    p = sub.add_parser("demo", help="generate and load a sample district")
    p.add_argument("--students", type=int, default=None, help="size (default: the committed 6,000-student sample)")
    p.add_argument("--seed", type=int, default=2025)
    p.set_defaults(func=_cmd_demo)
    p = sub.add_parser("import", help="import a file, folder or zip (all or nothing per file)")
    p.add_argument("kind", choices=IMPORT_KINDS, metavar="KIND", help=" | ".join(IMPORT_KINDS))
    p.add_argument("path")
    p.add_argument("--dry-run", action="store_true",
                   help="check only: report what the import would store (new, updated); write nothing")
    p.add_argument("--atomic", action="store_true",
                   help="several files: all or none (without it each file is all or nothing and exit 4 = partly imported)")
    p.add_argument("--skip-unknown", action="store_true",
                   help="skip (and count) rows whose student/tool/school is unknown instead of rejecting the file")
    p.add_argument("--decimal", choices=(".", ","), default=None,
                   help="decimal separator of the numbers (default: decided from each file's values)")
    p.add_argument("--date-order", choices=("dmy", "mdy"), default=None,
                   help="order of slash dates: dmy = DD/MM/YYYY, mdy = MM/DD/YYYY (default: decided from each file)")
    p.add_argument("--no-refresh", action="store_true",
                   help="do not refresh the published at-risk model after storing students or indicators")
    p.set_defaults(func=_cmd_import)
