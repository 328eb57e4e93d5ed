"""Use cases for getting data in: schema, sample district, imports (CLI: init, demo, import)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine

from edtech.core import config
from edtech.ingest import contract as ct
from edtech.store import data

EXIT_OK, EXIT_USAGE, EXIT_REJECTED = 0, 2, 3
IMPORT_KINDS = (*ct.KINDS, "oneroster", "learnplatform", "auto")


def load_sample_district(engine: Engine, *, n_students: int | None = None, seed: int = 2025,
                         progress: Callable[[float, str], None] | None = None) -> list[data.ImportReport]:
    """Load the committed sample CSVs (default size) or a freshly generated district of any size.

    Both go through the normal importer, so the sample obeys every rule a real upload does.
    """
    data.init_db(engine)
    if n_students is None and (config.SAMPLES_DIR / "usage.csv").exists():
        files = sorted((p for p in config.SAMPLES_DIR.glob("*.csv")),
                       key=lambda p: ct.TABLES[p.stem].order if p.stem in ct.TABLES else 99)
        reports = []
        for i, path in enumerate(files):
            if path.stem not in ct.TABLES:
                continue
            if progress:
                progress(i / len(files), f"loading {path.name}")
            reports.append(data.import_file(engine, path.stem, path, user="sample"))
        return reports
    from edtech.sample import generate as samples  # generation is only needed for non-default sizes

    sample = samples.generate_district(n_students=n_students or 6000, seed=seed)
    frames = samples.to_contract_frames(sample.district)
    reports = []
    for i, kind in enumerate(sorted(frames, key=lambda k: ct.TABLES[k].order)):
        if progress:
            progress(i / len(frames), f"loading {kind}")
        reports.append(data.import_frame(engine, kind, frames[kind], file_name=f"sample {kind}", user="sample"))
    return reports


def import_any(engine: Engine, kind: str, path: Path, *, dry_run: bool = False,
               skip_unknown_refs: bool = False) -> list[data.ImportReport]:
    if kind == "oneroster":
        return data.import_oneroster(engine, path, dry_run=dry_run)
    if kind == "learnplatform":
        return data.import_learnplatform(engine, path, dry_run=dry_run)
    if path.is_dir() or path.suffix.lower() == ".zip":
        files = ([data.UploadFile(p.name, p.read_bytes()) for p in sorted(path.iterdir()) if p.is_file()]
                 if path.is_dir() else [data.UploadFile(path.name, path.read_bytes())])
        return data.import_upload(engine, files, dry_run=dry_run, skip_unknown_refs=skip_unknown_refs)
    return [data.import_file(engine, kind, path, dry_run=dry_run, skip_unknown_refs=skip_unknown_refs)]


# --------------------------------------------------------------------------- CLI
def _cmd_init(args: argparse.Namespace) -> int:
    engine = data.make_engine(args.db)
    data.init_db(engine)
    print(f"schema ready: {engine.url.render_as_string(hide_password=True)}")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.students is not None and args.students < 200:
        print("error: --students must be at least 200 (a district needs students in every school)", file=sys.stderr)
        return EXIT_USAGE
    engine = data.make_engine(args.db)
    reports = load_sample_district(engine, n_students=args.students, seed=args.seed)
    for r in reports:
        print(r.summary())
    bad = [r for r in reports if not r.ok]
    for r in bad:
        print("\n".join(r.error_lines()), file=sys.stderr)
    return EXIT_REJECTED if bad else EXIT_OK


def _cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.exists():
        print(f"error: {path} does not exist", file=sys.stderr)
        return EXIT_USAGE
    engine = data.make_engine(args.db)
    reports = import_any(engine, args.kind, path, dry_run=args.dry_run, skip_unknown_refs=args.skip_unknown)
    rejected = False
    for r in reports:
        print(r.summary())
        for w in r.warnings:
            print(f"  warning: {w}")
        if not r.ok:
            rejected = True
            print("\n".join("  " + line for line in r.error_lines()), file=sys.stderr)
    return EXIT_REJECTED if rejected else EXIT_OK


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
    p.add_argument("--dry-run", action="store_true", help="check only; write nothing")
    p.add_argument("--skip-unknown", action="store_true",
                   help="skip (and count) rows whose student/tool/school is unknown instead of rejecting the file")
    p.set_defaults(func=_cmd_import)
