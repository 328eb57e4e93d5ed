"""Use cases for getting data in: schema, sample district, imports (CLI: init, demo, import)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine

from edtech.core import config
from edtech.core.access import SYSTEM, Action, Principal
from edtech.ingest import contract as ct
from edtech.services import audit
from edtech.services.import_access import guard_for
from edtech.store import data
from edtech.store.data import DatabaseBusy  # noqa: F401 - re-exported for the command line
from edtech.store.data import outcome_line as import_outcome_line  # noqa: F401 - re-exported

IMPORT_KINDS = (*ct.KINDS, "oneroster", "learnplatform", "auto")


def load_sample_district(engine: Engine, *, n_students: int | None = None, seed: int = 2025,
                         progress: Callable[[float, str], None] | None = None,
                         principal: Principal = SYSTEM) -> list[data.ImportReport]:
    """Load the committed sample CSVs (default size) or a freshly generated district of any size.

    Both go through the normal importer, so the sample obeys every rule a real upload does. It writes
    district-wide tables: a director's action.
    """
    principal.require(Action.IMPORT_DISTRICT)
    from edtech.services import accounts  # the demo accounts come with the sample district

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
        accounts.ensure_demo_accounts(engine)  # demo director/coordinator/board/viewer (usable in demo mode only)
        return reports
    from edtech.sample import generate as samples  # generation is only needed for non-default sizes

    sample = samples.generate_district(n_students=n_students or 6000, seed=seed)
    frames = samples.to_contract_frames(sample.district)
    reports = []
    for i, kind in enumerate(sorted(frames, key=lambda k: ct.TABLES[k].order)):
        if progress:
            progress(i / len(frames), f"loading {kind}")
        reports.append(data.import_frame(engine, kind, frames[kind], file_name=f"sample {kind}", user="sample"))
    accounts.ensure_demo_accounts(engine)
    return reports


def import_any(engine: Engine, kind: str, path: Path, *, dry_run: bool = False,
               skip_unknown_refs: bool = False, principal: Principal = SYSTEM,
               atomic: bool = False, decimal: str | None = None,
               date_order: str | None = None) -> list[data.ImportReport]:
    """Import a file, folder or zip as `principal` (a coordinator: only their schools' rows); several
    files: each all or nothing, or with `atomic` all files or none. Raises data.DatabaseBusy.
    `decimal` ('.' or ',') and `date_order` ('mdy' or 'dmy') force what each file's values decide
    otherwise (contract/table files; the OneRoster and LearnPlatform adapters read their own formats)."""
    kw = {"dry_run": dry_run, "user": audit.actor_name(principal), "row_guard": guard_for(principal),
          "atomic": atomic}
    if kind == "oneroster":
        reports = data.import_oneroster(engine, path, **kw)
    elif kind == "learnplatform":
        reports = data.import_learnplatform(engine, path, **kw)
    elif path.is_dir() or path.suffix.lower() == ".zip":
        files = ([data.UploadFile(p.name, p.read_bytes()) for p in sorted(path.iterdir()) if p.is_file()]
                 if path.is_dir() else [data.UploadFile(path.name, path.read_bytes())])
        reports = data.import_upload(engine, files, skip_unknown_refs=skip_unknown_refs, decimal=decimal,
                                     date_order=date_order, **kw)
    else:
        kw.pop("atomic")  # one file is all or nothing anyway
        reports = [data.import_file(engine, kind, path, skip_unknown_refs=skip_unknown_refs, decimal=decimal,
                                    date_order=date_order, **kw)]
    audit_imports(engine, principal, reports)
    return reports


def audit_imports(engine: Engine, principal: Principal, reports: list[data.ImportReport]) -> None:
    """One audit row per file imported or refused (a check-only run changes nothing and is not logged)."""
    for r in reports:
        if r.dry_run:
            continue
        action = {"imported": "imported", "rejected": "import rejected"}.get(r.status, "import not written")
        audit.record(engine, principal, action, scope=principal.scope,
                     detail=f"{r.file_name} -> {r.kind}: {r.rows_stored if r.written else 0:,} rows stored"
                     + ("" if r.ok else f", {r.rejected:,} rejected")
                     + (f" ({r.not_written})" if r.not_written else ""))


