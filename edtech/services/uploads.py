"""What the Data page needs: previews with the column mapping, and imports of uploaded files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from edtech.core.access import Principal
from edtech.ingest import contract as ct
from edtech.ingest.formats import ArchiveRefused, NotATableError, read_table_bytes, whole_lines
from edtech.ingest.validate import Issue, describe_reading
from edtech.services import audit, retrain
from edtech.services.dataset import audit_imports
from edtech.services.import_access import guard_for
from edtech.store import data

BUSY_KIND = "busy"   # the kind of the one report returned when the database stayed locked


def import_upload(engine: Engine, files: list[data.UploadFile], principal: Principal, *,
                  atomic: bool = False, decimal: str | None = None, date_order: str | None = None,
                  **kw: Any) -> list[data.ImportReport]:
    """The Data page's import: all or nothing per file (with `atomic`: all files or none), only the
    rows `principal` may write, audited. Each report's `status` is its file's outcome. When another
    import keeps the database locked, one report (kind BUSY_KIND) says so and nothing is written.
    `decimal` (None = decided per file, '.' or ',') and `date_order` (None = decided per file, 'mdy'
    or 'dmy') are the page's choices; each report's notes say what was used."""
    try:
        reports = data.import_upload(engine, files, user=audit.actor_name(principal),
                                     row_guard=guard_for(principal), atomic=atomic, decimal=decimal,
                                     date_order=date_order, **kw)
    except data.DatabaseBusy as exc:
        busy = data.ImportReport(kind=BUSY_KIND, file_name=", ".join(f.name for f in files) or "upload",
                                 dry_run=bool(kw.get("dry_run")))
        busy.issues.add(Issue(None, None, None, str(exc), "wait for the other import to finish, then import again"))
        return [busy]
    audit_imports(engine, principal, reports)
    stored = {r.kind for r in reports if r.written}
    if retrain.after_import(engine, stored):  # after the commit, outside the import's timing
        for r in reports:
            if r.written and r.kind in retrain.TRIGGERS:
                r.notes.append("the published at-risk model is being refreshed on the new data in the background")
                break
    return reports


@dataclass
class FilePreview:
    name: str
    kind: str | None
    rows: pd.DataFrame | None        # first rows as text
    mapping: pd.DataFrame | None     # file column -> contract column
    problem: str | None = None
    reading: str = ""                # how dates and numbers will be read, decided from these rows
    reading_warnings: list[str] = field(default_factory=list)  # e.g. the date order assumed


def preview_upload(files: list[data.UploadFile], n_rows: int = 8, *, decimal: str | None = None,
                   date_order: str | None = None) -> list[FilePreview]:
    """The first rows of each file, its column mapping, and how its dates and numbers would be read
    (`decimal`, `date_order`: the page's choices; None = decided from the values)."""
    out = []
    expanded: list[data.UploadFile] = []
    for upload in files:
        try:
            expanded += data.expand_upload([upload])
        except ArchiveRefused as exc:  # a zip bomb, a damaged or encrypted zip: refused before it is unpacked
            out.append(FilePreview(upload.name, None, None, None, f"{exc.reason} — {exc.fix}"))
    for f in expanded:
        kind = data.guess_kind_of(f.name, f.data[: 1 << 20])
        try:
            frame = read_table_bytes(f.name, whole_lines(f.data, 2 << 20)
                                     if f.name.lower().endswith((".csv", ".txt", ".tsv")) else f.data)
        except (NotATableError, UnicodeDecodeError, ValueError) as exc:
            fix = f" — {exc.fix}" if getattr(exc, "fix", None) else ""
            out.append(FilePreview(f.name, kind, None, None, f"{exc}{fix}"))
            continue
        mapping = None
        if kind in ct.TABLES:
            table = ct.TABLES[kind]
            mapped, unknown = ct.map_columns(list(frame.columns), table)
            rows = [{"file column": h, "contract column": mapped.get(h, "(kept as extra)" if table.keep_extra else "(ignored)")}
                    for h in frame.columns]
            missing = [c.name for c in table.columns if c.required and c.name not in mapped.values()]
            rows += [{"file column": "(missing)", "contract column": f"{m} — required"} for m in missing]
            mapping = pd.DataFrame(rows)
            reading, reading_warnings = describe_reading(frame, kind, decimal=decimal, date_order=date_order)
        else:
            reading, reading_warnings = "", []
        out.append(FilePreview(f.name, kind, frame.head(n_rows), mapping, None, reading, reading_warnings))
    return out


def reports_frame(reports: list[data.ImportReport]) -> pd.DataFrame:
    return pd.DataFrame([{"file": r.file_name, "table": r.kind, "status": r.status,
                          "rows read": r.rows_read, "stored": r.rows_stored if r.written else 0,
                          # a check (or an --atomic file held back) says what the import would store
                          "would store": r.rows_stored if r.status in ("checked", "not written") else 0,
                          "new": r.inserted,
                          "updated": r.updated, "skipped": r.skipped, "problems": r.issues.total}
                         for r in reports])


def errors_frame(reports: list[data.ImportReport]) -> pd.DataFrame:
    frames = [r.error_frame() for r in reports if not r.ok]
    if not frames:
        return pd.DataFrame(columns=["file", "line", "column", "value", "reason", "how_to_fix"])
    return pd.concat(frames, ignore_index=True)
