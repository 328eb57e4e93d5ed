"""The only module that touches files and the database.

Imports are all-or-nothing per file (one transaction; any invalid row writes nothing) and
idempotent (upsert on the natural key; columns the file does not carry are left alone).
Bulk writes go through SQLAlchemy Core executemany on sorted rows (COPY on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import io
import json
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import event, func, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel, create_engine

from edtech.core import config, rules
from edtech.core.district import FRAME_COLUMNS, District, conform_frame, empty_frame
from edtech.core.words import FALSE_WORDS, TRUE_WORDS
from edtech.ingest import adapters
from edtech.ingest import contract as ct
from edtech.ingest.formats import (
    ArchiveRefused,
    NotATableError,
    detect_format,
    iter_csv_chunks,
    read_excel_bytes,
    read_parquet_bytes,
    read_table_bytes,
    read_zip_members,
    refuse_unsupported,
    sniff_text,
    spool,
)
from edtech.ingest.parsing import FileReading
from edtech.ingest.plausibility import DateCheck
from edtech.ingest.validate import Issue, IssueLog, check_headers, validate_chunk
from edtech.store import repository, summaries, usage_days
from edtech.store.models import BLANK_KEY_COLUMNS, TABLE_MODELS, Decision, ImportLog, ModelVersion, Scenario, Setting

Progress = Callable[[float, str], None]
# (open transaction, table kind, validated rows indexed by file line, the report's issues) -> None
RowGuard = Callable[[Connection, str, pd.DataFrame, IssueLog], None]
WRITE_BATCH_ROWS = 100_000     # rows turned into Python tuples at a time when writing
IMPORT_LOCK_WAIT_S = 30.0      # how long an import waits for another import's write lock before saying so
SQLITE_BUSY_TIMEOUT_S = 30     # every other SQLite statement's wait for a lock


# --------------------------------------------------------------------------- engine and schema
def make_engine(url: str | None = None) -> Engine:
    """One engine per process; SQLite gets WAL and a busy timeout so the app and CLI can share it."""
    url = config.database_url(url)
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url != "sqlite://":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            # sorts (GROUP BY, COUNT(DISTINCT)) spill to a temporary file past the page cache: in memory, the
            # per-week distinct count over 15 M usage rows held 1.1 GB and ran slower (34 s vs 19 s)
            cur.execute("PRAGMA temp_store=FILE")
            cur.execute("PRAGMA cache_size=-32000")  # 32 MB page cache: bounded memory
            cur.close()
        return engine
    return create_engine(url, pool_pre_ping=True)


def init_db(engine: Engine) -> None:
    """Create missing tables and indexes, and add columns later versions declared (idempotent)."""
    SQLModel.metadata.create_all(engine)
    _add_missing_columns(engine)
    summaries.create_tables(engine)
    with engine.connect() as conn:
        stale = summaries.needs_rebuild(conn)
    if stale:  # a database from before the summaries (issue 15): compute them once
        with engine.begin() as conn:
            summaries.rebuild_summaries(conn, rules.data_as_of(
                pd.Series(conn.execute(text("SELECT DISTINCT week_start FROM usage")).scalars().all(), dtype="object"),
                last_usage_import=_last_usage_import(conn)))


def _add_missing_columns(engine: Engine) -> None:
    """A database made by an older version gains the new nullable columns (create_all adds tables only)."""
    inspector = sa_inspect(engine)
    for table in SQLModel.metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        missing = [c for c in table.columns if c.name not in present and c.nullable]
        if not missing:
            continue
        with engine.begin() as conn:
            for column in missing:
                kind = column.type.compile(dialect=engine.dialect)
                conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}')
            if table.name == "usage":  # weekly rows from before the days: the total becomes the Monday's value
                usage_days.keep_old_weekly_totals(conn, [c.name for c in missing])


def is_postgres(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name == "postgresql"


def data_versions(engine: Engine) -> dict[str, str]:
    """One version token per part of the data, so a cache depends only on the parts it reads:
    `table:<kind>` (the last import that stored rows of that table: a dry run or a rejected file
    changes nothing), `setting:<key>`, `scenarios` and `models`."""
    with engine.connect() as conn:
        imports = conn.execute(select(ImportLog.kind, func.max(ImportLog.id), func.max(ImportLog.imported_at))
                               .where(ImportLog.status == "imported").group_by(ImportLog.kind)).all()
        settings = conn.execute(select(Setting.key, Setting.value)).all()
        scenario = conn.execute(select(func.count(), func.max(Scenario.updated_at)).select_from(Scenario)).first()
        model = conn.execute(select(func.count(), func.max(ModelVersion.id), func.max(ModelVersion.published_at))).first()
        decided = conn.execute(select(func.count(), func.max(Decision.decided_at))).first()
    # id and time: copies of one database share the token (and so their cached analyses), others do not
    out = {f"table:{kind}": f"{last}@{when}" for kind, last, when in imports}
    for key, value in settings:
        out[f"setting:{key}"] = hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]
    out["scenarios"] = f"{scenario[0]}@{scenario[1]}"
    out["models"] = f"{model[0]}@{model[1]}@{model[2]}"  # a publish changes what the report and worklist use
    out["decisions"] = f"{decided[0]}@{decided[1]}"  # the director's decisions feed the report's proposal
    return out


def data_version(engine: Engine) -> str:
    """A token over every part (for callers that read everything, e.g. a whole-report export)."""
    return "|".join(f"{k}={v}" for k, v in sorted(data_versions(engine).items()))


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: int(conn.execute(select(func.count()).select_from(model)).scalar() or 0)
                for name, model in TABLE_MODELS.items()}


def is_empty(engine: Engine) -> bool:
    counts = table_counts(engine)
    return counts["tools"] == 0 and counts["students"] == 0 and counts["schools"] == 0


# --------------------------------------------------------------------------- import report
@dataclass
class ImportReport:
    kind: str
    file_name: str
    checksum: str = ""
    rows_read: int = 0
    rows_stored: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    skipped: int = 0
    dry_run: bool = False
    seconds: float = 0.0
    issues: IssueLog = field(default_factory=IssueLog)
    warnings: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    # facts about what the import does to the rows, printed after the counts (the usage storage
    # adds its folding here: "3 rows → 2 student-days in 2 weeks")
    notes: list[str] = field(default_factory=list)
    # why a valid file was not written (another file of an --atomic import was rejected)
    not_written: str = ""

    @property
    def ok(self) -> bool:
        """The file itself passed every check (it may still be unwritten: see `status`)."""
        return not self.issues

    @property
    def status(self) -> str:
        """The file's outcome: imported, rejected, checked (a dry run) or not written (--atomic)."""
        if not self.ok:
            return "rejected"
        if self.not_written:
            return "not written"
        return "checked" if self.dry_run else "imported"

    @property
    def written(self) -> bool:
        return self.status == "imported"

    def error_lines(self) -> list[str]:
        return self.issues.summary_lines(self.file_name)

    def error_frame(self) -> pd.DataFrame:
        frame = self.issues.frame()
        frame.insert(0, "file", self.file_name)
        return frame

    def summary(self) -> str:
        if not self.ok:
            return (f"{self.file_name}: rejected ({self.issues.total} problem(s) in {self.rejected} row(s)); "
                    "nothing was written")
        verb = "would store" if self.dry_run else ("would have stored" if self.not_written else "stored")
        text = (f"{self.file_name} → {self.kind}: {self.rows_read:,} rows read, {verb} {self.rows_stored:,} "
                f"({self.inserted:,} new, {self.updated:,} updated)"
                + (f", {self.skipped:,} skipped" if self.skipped else ""))
        text += "".join(f"; {note}" for note in self.notes)
        return text + (f"; not written: {self.not_written}" if self.not_written else "")


def outcome_line(reports: list[ImportReport], *, atomic: bool = False) -> str:
    """One line over several files' outcomes (exit 4 of the command line = "partly imported")."""
    counts = {s: sum(r.status == s for r in reports) for s in ("imported", "checked", "not written", "rejected")}
    said = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    done = counts["imported"] + counts["checked"]
    if counts["rejected"] and done:
        verdict = "partly imported" if counts["imported"] else "would be partly imported"
    elif counts["rejected"]:
        verdict = "nothing was written" + (" (--atomic: all files or none)" if atomic and counts["not written"] else "")
    else:
        verdict = "nothing was written (check only)" if counts["checked"] and not counts["imported"] else "all imported"
    return f"{len(reports)} file(s): {said} — {verdict}"


class DatabaseBusy(RuntimeError):
    """Another import held the database's write lock longer than IMPORT_LOCK_WAIT_S."""

    def __init__(self) -> None:
        super().__init__("the database is busy: another import is running; try again when it has finished")


def _is_lock_timeout(exc: OperationalError) -> bool:
    orig = getattr(exc, "orig", None)
    return (getattr(orig, "sqlstate", None) == "55P03"            # PostgreSQL lock_timeout
            or "database is locked" in str(orig).lower())       # SQLite busy timeout


@contextmanager
def _busy_as_error() -> Iterator[None]:
    """A lock wait that ran out is DatabaseBusy (a clear message), not a driver traceback."""
    try:
        yield
    except OperationalError as exc:
        if _is_lock_timeout(exc):
            raise DatabaseBusy() from exc
        raise


def _lock_for_import(conn: Connection, kind: str) -> None:
    """Take the write lock an import needs at its start, waiting at most IMPORT_LOCK_WAIT_S.

    Nobody else writes the table until this transaction ends, so the counts taken inside it (before
    and after) are this import's own. SQLite has one writer: its first write takes the lock (a
    deferred transaction would take it only at the first upsert, after its counts). PostgreSQL: a
    self-exclusive table lock (readers are never blocked)."""
    wait_ms = max(1, int(IMPORT_LOCK_WAIT_S * 1000))
    if is_postgres(conn):
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {wait_ms}")
        conn.exec_driver_sql(f'LOCK TABLE "{kind}" IN SHARE ROW EXCLUSIVE MODE')
        conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
        return
    conn.exec_driver_sql(f"PRAGMA busy_timeout = {wait_ms}")
    try:
        conn.exec_driver_sql("DELETE FROM import_log WHERE 0")  # a write that changes nothing
    finally:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")


# --------------------------------------------------------------------------- one run over several files
@dataclass
class _ImportRun:
    """Files imported as one run: one transaction (each file in a savepoint), import-log rows and
    settings written once the transaction is over (SQLite has one writer: this run)."""

    conn: Connection
    logs: list[tuple[ImportReport, str | None]] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)


_RUN: ContextVar[_ImportRun | None] = ContextVar("edtech_import_run", default=None)


def _after_commit(action: Callable[[], None]) -> None:
    """Run `action` now, or when the current run has committed (never when it rolls back)."""
    run = _RUN.get()
    if run is None:
        action()
    else:
        run.after_commit.append(action)


def _as_one_run(engine: Engine, work: Callable[[], list[ImportReport]], *, atomic: bool,
                dry_run: bool) -> list[ImportReport]:
    """Run `work` (several files) as one transaction when it must be all or nothing (`atomic`) or is
    a check (`dry_run`: later files see earlier ones, e.g. students of schools in the same upload;
    everything is rolled back). Otherwise each file is its own transaction, as `work` runs it."""
    if not (atomic or dry_run) or _RUN.get() is not None:
        return work()
    init_db(engine)  # before the run holds the write lock: creating tables needs one too
    with _busy_as_error(), engine.connect() as conn:
        run = _ImportRun(conn)
        token = _RUN.set(run)
        try:
            with conn.begin() as outer:
                reports = work()
                rejected = any(not r.ok for r in reports)
                if atomic and rejected:
                    for r in reports:
                        if r.ok:
                            r.not_written = ("another file of this --atomic import was rejected"
                                             if not dry_run else "would not be written: another file was rejected (--atomic)")
                if dry_run or (atomic and rejected):
                    outer.rollback()
        finally:
            _RUN.reset(token)
    for report, user in run.logs:
        _write_import_log(engine, report, user)
    if not dry_run and not (atomic and rejected):
        for action in run.after_commit:
            action()
    return reports


@contextmanager
def _file_transaction(engine: Engine, kind: str) -> Iterator[_FileTransaction]:
    """One file's transaction: its own (engine.begin), or a savepoint of the current run's."""
    run = _RUN.get()
    with _busy_as_error():
        if run is None:
            with engine.begin() as conn:
                _lock_for_import(conn, kind)
                yield _FileTransaction(conn, None)
            return
        _lock_for_import(run.conn, kind)
        savepoint = run.conn.begin_nested()
        try:
            yield _FileTransaction(run.conn, savepoint)
        except BaseException:
            if savepoint.is_active:
                savepoint.rollback()
            raise
        if savepoint.is_active:
            savepoint.commit()


@dataclass
class _FileTransaction:
    conn: Connection
    savepoint: object | None

    @property
    def in_run(self) -> bool:
        return self.savepoint is not None

    def discard(self) -> None:
        """Undo this file's writes (a rejected file, or a lone dry run)."""
        if self.savepoint is not None:
            if self.savepoint.is_active:
                self.savepoint.rollback()
        elif self.conn.in_transaction():
            self.conn.rollback()



# --------------------------------------------------------------------------- writing
def _column_values(series: pd.Series, postgres: bool) -> list:
    """A column as a list of DB-API values (None for missing), vectorized."""
    missing = series.isna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(series):
        arr = (series.dt.date if postgres else series.dt.strftime("%Y-%m-%d")).to_numpy(dtype=object)
    elif str(series.dtype) == "boolean" or pd.api.types.is_bool_dtype(series):
        arr = series.astype("object").to_numpy(dtype=object)
    elif pd.api.types.is_float_dtype(series):
        arr = series.to_numpy(dtype="float64", na_value=np.nan).astype(object)
    elif pd.api.types.is_integer_dtype(series):
        arr = series.astype("object").to_numpy(dtype=object)
    else:
        arr = series.astype("object").to_numpy(dtype=object)
        if arr.size and any(isinstance(v, (dict, list)) for v in arr[:50]):
            arr = np.array([json.dumps(v) if isinstance(v, (dict, list)) else v for v in arr], dtype=object)
    arr = arr.copy()
    arr[missing] = None
    return arr.tolist()


def _upsert(conn: Connection, table: str, frame: pd.DataFrame, key: tuple[str, ...]) -> int:
    """INSERT … ON CONFLICT (key) DO UPDATE of the frame's columns; rows sorted by key."""
    if frame.empty:
        return 0
    frame = frame.sort_values(list(key), kind="stable")
    cols = list(frame.columns)
    postgres = is_postgres(conn)
    updates = [c for c in cols if c not in key]
    def assign(c: str) -> str:
        if c != "extra":
            return f'"{c}" = excluded."{c}"'
        # kept extra columns are merged, so a later file with other extra columns loses nothing
        if postgres:
            return (f'"extra" = (COALESCE("{table}"."extra"::jsonb, \'{{}}\'::jsonb) '
                    f'|| COALESCE(excluded."extra"::jsonb, \'{{}}\'::jsonb))::json')
        return f'"extra" = json_patch(COALESCE("{table}"."extra", \'{{}}\'), COALESCE(excluded."extra", \'{{}}\'))'

    set_clause = ", ".join(assign(c) for c in updates) if updates else ""
    conflict = f'ON CONFLICT ({", ".join(chr(34) + k + chr(34) for k in key)}) ' + (
        f"DO UPDATE SET {set_clause}" if set_clause else "DO NOTHING")
    col_list = ", ".join(f'"{c}"' for c in cols)

    def batches():  # rows as Python tuples in bounded batches: memory does not follow the file's size
        for start in range(0, len(frame), WRITE_BATCH_ROWS):
            part = frame.iloc[start:start + WRITE_BATCH_ROWS]
            yield list(zip(*[_column_values(part[c], postgres) for c in cols]))

    if postgres:
        raw = conn.connection.dbapi_connection
        tmp = f"tmp_{table}"
        with raw.cursor() as cur:
            cur.execute(f'CREATE TEMP TABLE IF NOT EXISTS {tmp} (LIKE "{table}" INCLUDING DEFAULTS) ON COMMIT DROP')
            cur.execute(f"TRUNCATE {tmp}")
            with cur.copy(f"COPY {tmp} ({col_list}) FROM STDIN") as copy:
                for rows in batches():
                    for row in rows:
                        copy.write_row(row)
            cur.execute(f'INSERT INTO "{table}" ({col_list}) SELECT {col_list} FROM {tmp} {conflict}')
    else:
        placeholders = ", ".join("?" for _ in cols)
        sql = f'INSERT INTO "{table}" ({col_list}) VALUES ({placeholders}) {conflict}'
        for rows in batches():
            conn.exec_driver_sql(sql, rows)
    return len(frame)


def _known_ids(conn: Connection, table: str) -> set[str]:
    model = TABLE_MODELS[table]
    key = ct.TABLES[table].key[0]
    return set(conn.execute(select(getattr(model, key))).scalars())


def _count(conn: Connection, table: str) -> int:
    return int(conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar() or 0)


# --------------------------------------------------------------------------- table shaping
def _last_usage_import(conn: Connection) -> pd.Timestamp | None:
    """The local date usage was last imported (usage dated after it is implausible): today while
    the current run holds a usage file, else the import log's latest, else None (no import on record)."""
    run = _RUN.get()
    if run is not None and any(r.kind == "usage" and r.ok for r, _ in run.logs):
        return pd.Timestamp.today().normalize()
    last = conn.execute(select(func.max(ImportLog.imported_at))
                        .where(ImportLog.kind == "usage", ImportLog.status == "imported")).scalar()
    if last is None:
        return None
    stamp = pd.Timestamp(last)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp  # stored in UTC
    return pd.Timestamp(stamp.tz_convert(dt.datetime.now().astimezone().tzinfo).date())


def _data_as_of(conn: Connection, usage_weeks: pd.Series | None = None) -> pd.Timestamp:
    """The database's as-of date, decided by rules.data_as_of (the one rule) over the usage weeks."""
    if usage_weeks is None:  # the summary's weeks: no scan of the usage table
        usage_weeks = summaries.usage_weeks(conn)
    return rules.data_as_of(usage_weeks, last_usage_import=_last_usage_import(conn))


def data_as_of(engine: Engine) -> pd.Timestamp:
    """The data's "today" (contract v2): the end of the latest plausible usage week, else today."""
    init_db(engine)
    with engine.connect() as conn:
        return _data_as_of(conn)


def _to_db_frame(table: ct.Table, typed: pd.DataFrame, present: set[str],
                 default_as_of: dt.date | None = None) -> pd.DataFrame:
    """Contract columns -> database columns (weekly usage, '' keys, extra JSON)."""
    name = table.name
    cols = [c for c in table.column_names if c in present or c in table.key]
    frame = typed[[c for c in cols if c in typed.columns]].copy()
    for c in frame.columns:  # IDs arrive as categoricals (fast to check); write plain text
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            frame[c] = frame[c].astype("object")
    # integers are parsed as floats (validated whole); PostgreSQL's COPY rejects "300.0" for an integer
    for col in table.columns:
        if col.type == ct.INT and col.name in frame:
            frame[col.name] = frame[col.name].astype("Int64")
    for blank_key in BLANK_KEY_COLUMNS.get(name, ()):
        if blank_key in frame:
            frame[blank_key] = frame[blank_key].where(frame[blank_key].notna(), "")
        else:
            frame[blank_key] = ""
    if table.keep_extra:
        extra_cols = [c for c in typed.columns if c not in table.column_names]
        if extra_cols:
            sub = typed[extra_cols].astype("object")
            frame["extra"] = [
                {k: v for k, v in zip(extra_cols, row, strict=True) if v is not None and not (isinstance(v, float) and np.isnan(v))}
                for row in sub.itertuples(index=False, name=None)
            ]
    if name == "indicators" and default_as_of is not None:
        # v2: rows without an as_of date are the data's as-of date (never the wall clock: re-imports change nothing)
        as_of = frame["as_of"] if "as_of" in frame else pd.Series(pd.NaT, index=frame.index)
        frame["as_of"] = pd.to_datetime(as_of).fillna(pd.Timestamp(default_as_of)).astype("datetime64[ns]")
    return frame


# --------------------------------------------------------------------------- the importer
def import_chunks(engine: Engine, kind: str, chunks: Iterable[pd.DataFrame], *, file_name: str,
                  checksum: str = "", dry_run: bool = False, user: str | None = None,
                  skip_unknown_refs: bool = False, progress: Progress | None = None,
                  total_bytes: int | None = None, warnings: list[str] | None = None,
                  row_guard: RowGuard | None = None,
                  percent_scales: dict[str, float] | None = None, decimal: str | None = None,
                  date_order: str | None = None) -> ImportReport:
    """Validate and store a stream of text chunks (index = spreadsheet line) into one table.

    `row_guard(conn, kind, typed_rows, issues)` adds an issue per row the importing account may not
    write (a coordinator's rows of another school): the file is then rejected like any invalid file.

    Everything happens in one transaction that first takes the write lock (so the counts are this
    import's own; DatabaseBusy after IMPORT_LOCK_WAIT_S): any invalid row (or any failure) writes
    nothing. Inside a run of several files (`_as_one_run`) the file is a savepoint of the run's
    transaction. A dry run writes and then rolls back, so its counts are what the import would do.
    With skip_unknown_refs, rows whose IDs are unknown are skipped and counted instead.
    `percent_scales` fixes a percent column's scale (an adapter whose source always gives 0-100).
    `decimal` ('.' or ',') and `date_order` ('mdy' or 'dmy') force what is otherwise decided once
    per file from its values (parsing.FileReading); the summary's notes say which was used.
    """
    table = ct.TABLES[kind]
    report = ImportReport(kind=kind, file_name=file_name, checksum=checksum, dry_run=dry_run)
    started = time.perf_counter()
    init_db(engine)
    date_check = DateCheck.for_table(kind)
    with _file_transaction(engine, kind) as tx:
        conn = tx.conn
        refs = {t: _known_ids(conn, t) for t in {c.references for c in table.columns if c.references}}
        if kind == "usage_aggregate":
            refs = {}
        before = _count(conn, kind)
        touched = summaries.Touched(students_changed=kind == "students", windows_changed=kind in ("licenses", "tools"))
        mapping: dict[str, str] | None = None
        # usage: rows become one value per student × tool × day, written once the whole file is read
        days = usage_days.UsageDays(refs["students"], refs["tools"], total_bytes=total_bytes) if kind == "usage" else None
        reading = FileReading(decimal, date_order, dict(percent_scales or {}))  # once per file, for every chunk
        seen = 0
        for chunk in chunks:
            if mapping is None:
                mapping, unknown = check_headers(list(chunk.columns), table, report.issues)
                report.mapping = mapping
                if unknown and not table.keep_extra:
                    report.warnings.append(f"ignored columns not in the contract: {', '.join(map(str, unknown))}")
                if report.issues:
                    break
            report.rows_read += len(chunk)
            checked = validate_chunk(chunk, table, mapping, refs, report.issues, reading=reading,
                                     skip_unknown_refs=skip_unknown_refs)
            typed = checked.frame
            if row_guard is not None:
                row_guard(conn, kind, typed, report.issues)
            report.rejected += checked.bad_rows
            report.skipped += checked.skipped
            if date_check is not None:
                date_check.add(typed, chunk, mapping)
            if report.issues:
                seen += len(chunk)
                if progress:
                    progress(0.5, f"checked {seen:,} rows")
                continue
            present = set(mapping.values())
            if days is not None:
                date_header = next(h for h, name in mapping.items() if name == "date")
                days.add(typed, chunk[date_header], "sessions" in present)
                touched.add_usage(typed)
            else:
                if kind == "indicators" and ("as_of" not in present or typed["as_of"].isna().any()):
                    default_as_of = _data_as_of(conn)
                    note = f"rows without as_of are dated {default_as_of:%Y-%m-%d}, the data's as-of date"
                    if note not in report.warnings:
                        report.warnings.append(note)
                else:
                    default_as_of = None
                frame = _to_db_frame(table, typed, present, default_as_of)
                dupes = frame.duplicated(subset=list(table.key), keep="last")
                if dupes.any():
                    report.warnings.append(f"{int(dupes.sum())} duplicate key row(s): the later row was kept")
                    frame = frame[~dupes]
                report.rows_stored += _upsert(conn, kind, frame, table.key)
            seen += len(chunk)
            if progress:
                frac = min(0.95, seen / max(1, (total_bytes or 0) / 30)) if total_bytes else 0.5
                progress(frac, f"imported {seen:,} rows")
        if mapping is None and not report.issues:
            report.issues.add(Issue(None, None, None, "the file has no header row or no data"))
        report.warnings.extend(reading.warnings())
        if reading.describe():
            report.notes.append(reading.describe())
        if days is not None and not report.issues:
            # summed days are checked (over 1,440 minutes is an error) before the weekly rows are upserted
            folded = days.store(conn, report.issues)
            report.rejected += folded.rejected_rows
            report.rows_stored = folded.weeks
            if not report.issues:
                report.notes.extend(folded.notes())
                report.warnings.extend(folded.warnings())
        elif days is not None:
            days.close()
        if report.issues:
            tx.discard()
        if not report.issues:
            if not touched.empty and (report.rows_stored or kind == "usage"):
                # the summaries follow in the same transaction, for the keys this file touched only
                cutoff = pd.Timestamp.today().normalize() if kind == "usage" else _last_usage_import(conn)
                summaries.apply(conn, touched, cutoff)
            after = _count(conn, kind)  # in the locked transaction: this import's rows only
            report.inserted = after - before
            report.updated = max(0, report.rows_stored - report.inserted)
            if dry_run and not tx.in_run:
                tx.discard()  # a run's later files see this one's rows; the run rolls back at its end
    if warnings:
        report.warnings.extend(warnings)
    if date_check is not None and not report.issues and (said := date_check.warning()):
        report.warnings.append(said)
    report.seconds = time.perf_counter() - started
    _log_import(engine, report, user)
    return report


def _log_import(engine: Engine, report: ImportReport, user: str | None) -> None:
    """One import-log row per file (inside a run: once the run's transaction is over)."""
    run = _RUN.get()
    if run is not None:
        run.logs.append((report, user))
    else:
        _write_import_log(engine, report, user)


def _write_import_log(engine: Engine, report: ImportReport, user: str | None) -> None:
    status = {"rejected": "rejected", "checked": "dry-run", "not written": "not written"}.get(report.status, "imported")
    message = "\n".join(report.error_lines()[:50] + report.warnings[:20]) or None
    entry = ImportLog(imported_at=dt.datetime.now(dt.UTC),
                      user=user or _default_user(), kind=report.kind, file_name=report.file_name,
                      checksum=report.checksum, status=status, rows_read=report.rows_read,
                      rows_stored=report.rows_stored if report.written else 0, inserted=report.inserted,
                      updated=report.updated, rejected=report.rejected, seconds=round(report.seconds, 3),
                      message=message)
    with Session(engine) as session:
        session.add(entry)
        session.commit()


def _default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


# --------------------------------------------------------------------------- files and uploads
def _raw_chunks(name: str, stream: io.BufferedIOBase, head: bytes, warnings: list[str],
                sheet: str | None = None) -> Iterator[pd.DataFrame]:
    fmt = detect_format(name, head)
    if fmt == "csv":
        layout = sniff_text(head)
        yield from iter_csv_chunks(stream, layout, block_bytes=config.CHUNK_BYTES, warnings=warnings)
        return
    refuse_unsupported(fmt)  # .ods, .xls: say what to save them as
    data = stream.read()
    if fmt == "xlsx":
        frame = read_excel_bytes(data, sheet, warnings)
    elif fmt == "parquet":
        frame = read_parquet_bytes(data)
    else:
        raise NotATableError("this is a zip archive: import it as a set of files (kind auto)")
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    yield frame


def _checksum_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def import_file(engine: Engine, kind: str, path: str | Path, **kw) -> ImportReport:
    """Stream one file from disk into a table (no size limit; memory bounded by the chunk size)."""
    path = Path(path)
    with path.open("rb") as opened:
        # a pipe (/dev/stdin) cannot be read twice: copied to a temporary file first
        fh, checksum, size = (opened, None, None) if opened.seekable() else spool(opened)
        head = fh.read(1 << 20)
        fh.seek(0)
        if kind == "auto":
            kind = guess_kind_of(path.name, head) or ""
            if kind not in ct.TABLES:
                return _unreadable(engine, kind or "auto", path.name, "cannot tell which table this file is; "
                                   "name the kind (schools, students, tools, licenses, usage, …)")
        warnings: list[str] = []
        try:
            chunks = _raw_chunks(path.name, fh, head, warnings)
            return import_chunks(engine, kind, chunks, file_name=path.name, checksum=checksum or _checksum_file(path),
                                 total_bytes=path.stat().st_size if size is None else size, warnings=warnings, **kw)
        except (NotATableError, UnicodeDecodeError) as exc:
            return _unreadable(engine, kind, path.name, str(exc), getattr(exc, "fix", None))


def import_bytes(engine: Engine, kind: str, name: str, data: bytes, **kw) -> ImportReport:
    """Import one uploaded file held in memory."""
    limit = config.UPLOAD_LIMIT_MB * 1024 * 1024
    if len(data) > limit:
        return _unreadable(engine, kind, name, f"the file is {len(data) / 1e6:.0f} MB, over the upload limit of "
                           f"{config.UPLOAD_LIMIT_MB} MB; import it from the command line (no limit) or split it")
    if kind == "auto":
        kind = guess_kind_of(name, data[: 1 << 20]) or ""
        if kind not in ct.TABLES:
            return _unreadable(engine, "auto", name, "cannot tell which table this file is; choose the kind")
    warnings: list[str] = []
    try:
        chunks = _raw_chunks(name, io.BytesIO(data), data[: 1 << 20], warnings)
        return import_chunks(engine, kind, chunks, file_name=name, checksum=hashlib.sha256(data).hexdigest(),
                             total_bytes=len(data), warnings=warnings, **kw)
    except (NotATableError, UnicodeDecodeError) as exc:
        return _unreadable(engine, kind, name, str(exc), getattr(exc, "fix", None))


def import_frame(engine: Engine, kind: str, frame: pd.DataFrame, *, file_name: str, **kw) -> ImportReport:
    """Import a DataFrame of text (adapters, the sample generator) through the same checks."""
    text_frame = frame.astype("object").where(frame.notna(), None)
    text_frame.index = pd.RangeIndex(2, 2 + len(frame))
    digest = hashlib.sha256(pd.util.hash_pandas_object(text_frame, index=False).to_numpy().tobytes()).hexdigest()
    return import_chunks(engine, kind, [text_frame], file_name=file_name, checksum=digest, **kw)


def _unreadable(engine: Engine, kind: str, name: str, reason: str, fix: str | None = None) -> ImportReport:
    report = ImportReport(kind=kind, file_name=name)
    report.issues.add(Issue(None, None, None, reason, fix or "export the table as CSV (UTF-8), Excel .xlsx or Parquet"))
    _log_import(engine, report, None)
    return report


def guess_kind_of(name: str, head: bytes) -> str | None:
    """Which contract table a file holds: by its name first, then by its headers."""
    stem = Path(name).stem.lower()
    for kind in sorted(ct.TABLES, key=len, reverse=True):
        if stem == kind or stem.endswith("_" + kind) or stem.startswith(kind):
            return kind
    try:
        fmt = detect_format(name, head)
        if fmt == "csv":
            headers = sniff_text(head).header
        else:
            return None
    except NotATableError:
        return None
    return ct.guess_kind(headers)


def read_raw_table(path: str | Path) -> pd.DataFrame:
    """Any table file as text columns (for `risk evaluate` on arbitrary student CSVs)."""
    path = Path(path)
    return read_table_bytes(path.name, path.read_bytes())


@dataclass
class UploadFile:
    name: str
    data: bytes


def _wanted_member(info: zipfile.ZipInfo) -> bool:
    return not Path(info.filename).name.startswith((".", "__"))  # macOS resource forks, hidden files


def expand_upload(files: list[UploadFile]) -> list[UploadFile]:
    """Unpack zips (keeping folder names) so every member is handled like an uploaded file.

    Raises ArchiveRefused (a zip bomb, a damaged, forged or encrypted zip) before a member is kept:
    declared and actual sizes are checked first (formats.open_checked_zip)."""
    out: list[UploadFile] = []
    for f in files:
        if detect_format(f.name, f.data[:4096]) == "zip":  # not a workbook (.xlsx, .ods)
            out.extend(UploadFile(member, content)
                       for member, content in read_zip_members(f.data, name=f.name, wanted=_wanted_member))
        else:
            out.append(f)
    return out


def _refused(engine: Engine, exc: NotATableError, kind: str, name: str) -> list[ImportReport]:
    """A refused archive (or unreadable member) as the import's one report: nothing is written."""
    return [_unreadable(engine, kind, getattr(exc, "file_name", "") or name, str(exc), getattr(exc, "fix", None))]


def import_upload(engine: Engine, files: list[UploadFile], *, kinds: dict[str, str] | None = None,
                  dry_run: bool = False, user: str | None = None, skip_unknown_refs: bool = False,
                  progress: Progress | None = None, row_guard: RowGuard | None = None,
                  atomic: bool = False, decimal: str | None = None, date_order: str | None = None) -> list[ImportReport]:
    """Import several files (or zips): OneRoster and LearnPlatform sets are recognised and
    converted; the rest go to their tables in dependency order, each file all-or-nothing, or with
    `atomic` all files or none (one transaction). Each report says its file's outcome (`status`).
    Raises DatabaseBusy when another import holds the write lock too long."""
    return _as_one_run(engine, lambda: _import_upload(engine, files, kinds=kinds, dry_run=dry_run, user=user,
                                                      skip_unknown_refs=skip_unknown_refs, progress=progress,
                                                      row_guard=row_guard, decimal=decimal, date_order=date_order),
                       atomic=atomic, dry_run=dry_run)


def _import_upload(engine: Engine, files: list[UploadFile], *, kinds: dict[str, str] | None,
                   dry_run: bool, user: str | None, skip_unknown_refs: bool,
                   progress: Progress | None, row_guard: RowGuard | None, decimal: str | None = None,
                   date_order: str | None = None) -> list[ImportReport]:
    try:
        files = expand_upload(files)
    except ArchiveRefused as exc:
        return _refused(engine, exc, "zip", "upload")
    names = {Path(f.name).name.lower(): f for f in files}
    reports: list[ImportReport] = []
    if "orgs.csv" in names and "users.csv" in names:
        try:
            frames = {Path(f.name).stem.lower(): read_table_bytes(f.name, f.data) for f in files
                      if Path(f.name).suffix.lower() == ".csv"}
        except NotATableError as exc:
            return _refused(engine, exc, "oneroster", "OneRoster")
        reports += _import_adapted(engine, adapters.from_oneroster(frames), "OneRoster", dry_run, user,
                                   row_guard=row_guard)
        return reports
    if "products_info.csv" in names:
        return import_learnplatform(engine, {f.name: f.data for f in files}, dry_run=dry_run, user=user,
                                    row_guard=row_guard)
    kinds = kinds or {}
    planned = []
    for f in files:
        kind = kinds.get(f.name) or guess_kind_of(f.name, f.data[: 1 << 20]) or "unknown"
        planned.append((ct.TABLES[kind].order if kind in ct.TABLES else 99, f, kind))
    planned.sort(key=lambda p: p[0])
    for i, (_, f, kind) in enumerate(planned):
        if progress:
            progress(i / max(1, len(planned)), f"importing {f.name}")
        if kind not in ct.TABLES:
            reports.append(_unreadable(engine, "unknown", f.name, "cannot tell which table this file is; choose the kind"))
            continue
        reports.append(import_bytes(engine, kind, f.name, f.data, dry_run=dry_run, user=user,
                                    skip_unknown_refs=skip_unknown_refs, row_guard=row_guard,
                                    decimal=decimal, date_order=date_order))
    if progress:
        progress(1.0, "done")
    return reports


def _import_adapted(engine: Engine, adapted: adapters.Adapted, source: str, dry_run: bool,
                    user: str | None, row_guard: RowGuard | None = None) -> list[ImportReport]:
    """Converted tables (named "<source>: <kind>") and converted source files (named by the file,
    errors on the file's own lines, original text shown) in dependency order, one report each."""
    jobs: list[tuple[int, str, Callable[[], ImportReport]]] = []
    for kind, frame in adapted.frames.items():
        def whole(kind: str = kind, frame: pd.DataFrame = frame) -> ImportReport:
            report = import_frame(engine, kind, frame, file_name=f"{source}: {kind}",
                                  dry_run=dry_run, user=user, row_guard=row_guard)
            report.warnings.extend(adapted.warnings.get(kind, []))
            return report
        jobs.append((ct.TABLES[kind].order, kind, whole))
    for part in adapted.files:
        def one_file(part: adapters.AdaptedFile = part) -> ImportReport:
            text_frame = part.frame.astype("object").where(part.frame.notna(), None)
            digest = hashlib.sha256(pd.util.hash_pandas_object(text_frame, index=True).to_numpy().tobytes()).hexdigest()
            report = import_chunks(engine, part.kind, [text_frame], file_name=part.name,
                                   checksum=digest, dry_run=dry_run, user=user, row_guard=row_guard,
                                   warnings=part.warnings, percent_scales=part.percent_scales)
            report.rows_read += part.skipped   # rows the adapter left out (named in its warning)
            report.skipped += part.skipped
            return report
        jobs.append((ct.TABLES[part.kind].order, part.kind, one_file))
    jobs.sort(key=lambda job: job[0])   # stable: files of one table keep their order
    reports = [run() for _, _, run in jobs]
    if adapted.settings and not dry_run and all(r.ok for r in reports):
        def save() -> None:
            for key, value in adapted.settings.items():
                save_setting(engine, key, value)
        _after_commit(save)   # inside a run: only once its transaction has committed
    return reports


def import_oneroster(engine: Engine, path: str | Path, **kw) -> list[ImportReport]:
    """A OneRoster 1.1/1.2 CSV folder or zip."""
    path = Path(path)
    if path.is_dir():
        files = [UploadFile(p.name, p.read_bytes()) for p in sorted(path.glob("*.csv"))]
    else:
        files = [UploadFile(path.name, path.read_bytes())]
    try:
        files = expand_upload(files)
        frames = {Path(f.name).stem.lower(): read_table_bytes(f.name, f.data) for f in files
                  if Path(f.name).suffix.lower() == ".csv"}
    except NotATableError as exc:
        return _refused(engine, exc, "oneroster", path.name)
    if "orgs" not in frames or "users" not in frames:
        report = _unreadable(engine, "oneroster", path.name, "a OneRoster set needs orgs.csv and users.csv")
        return [report]
    dry_run = kw.get("dry_run", False)
    return _as_one_run(engine, lambda: _import_adapted(engine, adapters.from_oneroster(frames), "OneRoster", dry_run,
                                                       kw.get("user"), row_guard=kw.get("row_guard")),
                       atomic=kw.get("atomic", False), dry_run=dry_run)


def import_learnplatform(engine: Engine, source: str | Path | dict[str, bytes], **kw) -> list[ImportReport]:
    """A LearnPlatform-style engagement export: products_info.csv, districts_info.csv and
    engagement files (engagement_data/<district>.csv or <district>.csv)."""
    if isinstance(source, dict):
        blobs = source
    else:
        path = Path(source)
        if path.is_dir():
            blobs = {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*.csv"))}
        else:
            try:
                blobs = {f.name: f.data for f in expand_upload([UploadFile(path.name, path.read_bytes())])}
            except ArchiveRefused as exc:
                return _refused(engine, exc, "learnplatform", path.name)
    try:
        frames = {name: read_table_bytes(name, data) for name, data in blobs.items()}
    except NotATableError as exc:
        return _refused(engine, exc, "learnplatform", "LearnPlatform")
    adapted = adapters.from_learnplatform(frames)
    dry_run = kw.get("dry_run", False)
    return _as_one_run(engine, lambda: _import_adapted(engine, adapted, "LearnPlatform", dry_run, kw.get("user"),
                                                       row_guard=kw.get("row_guard")),
                       atomic=kw.get("atomic", False), dry_run=dry_run)


# --------------------------------------------------------------------------- reading
READ_CHUNK_ROWS = 100_000  # rows held as Python objects at once while a table is read into a frame


def _read_sql(engine: Engine, sql: str, params: dict | None = None, chunk_rows: int | None = None) -> pd.DataFrame:
    """The query's rows as one frame, read in chunks: only one chunk's rows are Python objects at a time
    (all of a 2,000,000-row table fetched at once held ~1 GB of them at 500,000 students)."""
    chunk_rows = chunk_rows or READ_CHUNK_ROWS
    with engine.connect() as conn:
        result = conn.execute(text(sql).execution_options(stream_results=True, yield_per=chunk_rows), params or {})
        keys = list(result.keys())
        # plain tuples: building a frame from Row objects is ~10x slower
        chunks = [pd.DataFrame.from_records([tuple(r) for r in rows], columns=keys)
                  for rows in result.partitions(chunk_rows)]
    return _concat_chunks(chunks, keys)


def _concat_chunks(chunks: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    """Chunks as the frame one read would have built: a column whose type differs between chunks (all
    None in one, text in another) is inferred again over all its values, as a single read infers it."""
    if not chunks:
        return pd.DataFrame.from_records([], columns=keys)
    if len(chunks) == 1:
        return chunks[0]
    frame = pd.concat(chunks, ignore_index=True)
    mixed = [c for c in keys if len({str(chunk[c].dtype) for chunk in chunks}) > 1]
    if mixed:
        frame[mixed] = frame[mixed].infer_objects()
    return frame


def _scope_clause(scope: frozenset[str] | None, column: str, params: dict) -> str:
    if scope is None:
        return ""
    names = []
    for i, school in enumerate(sorted(scope)):
        params[f"s{i}"] = school
        names.append(f":s{i}")
    return f" WHERE {column} IN ({', '.join(names) or 'NULL'})"


def _expand_extra(frame: pd.DataFrame) -> pd.DataFrame:
    if "extra" not in frame:
        return frame
    # a row without extra values comes back as None or NaN (pandas fills missing objects with NaN); one parse of
    # all rows as a JSON array and one list per column: 4x faster than a parse and a dict per row (500,000 rows)
    parsed = json.loads("[" + ",".join(e if isinstance(e, str) else (json.dumps(e) if isinstance(e, dict) else "{}")
                                       for e in frame["extra"]) + "]")
    parsed = [d if isinstance(d, dict) else {} for d in parsed]
    names = dict.fromkeys(k for d in parsed for k in d)  # in order of first appearance, as a frame of dicts
    extras = pd.DataFrame({name: pd.Series([d.get(name) for d in parsed], dtype=object) for name in names},
                          index=frame.index)
    frame = frame.drop(columns="extra")
    for col in extras.columns:
        if col in frame.columns:
            continue
        values = extras[col].astype("object").where(extras[col].notna(), None)
        filled = values.dropna()
        numeric = pd.to_numeric(values, errors="coerce")
        words = filled.astype(str).str.strip().str.lower()
        # a kept column is numeric only when every filled value is a number, boolean when every
        # filled value is a yes/no word (Y/N labels such as on_track), else text
        if numeric.notna().sum() == len(filled):
            frame[col] = numeric
        elif len(filled) and words.isin(TRUE_WORDS | FALSE_WORDS).all():
            frame[col] = values.map(lambda v: None if v is None else str(v).strip().lower() in TRUE_WORDS).astype("boolean")
        else:
            frame[col] = values
    return frame


def read_table(engine: Engine, kind: str, scope: frozenset[str] | None = None) -> pd.DataFrame:
    """One canonical frame (see docs/architecture.md) filtered to the scope's schools."""
    params: dict = {}
    student_scope = _scope_clause(scope, "school_id", params)
    student_filter = f" WHERE student_id IN (SELECT student_id FROM students{student_scope})" if scope is not None else ""
    sql = {
        "schools": f"SELECT * FROM schools{_scope_clause(scope, 'school_id', params)}",
        "students": f"SELECT * FROM students{student_scope}",
        "usage": f"SELECT student_id, tool_id, week_start, minutes, sessions FROM usage{student_filter}",
        "assessments": f"SELECT * FROM assessments{student_filter}",
        "indicators": f"SELECT * FROM indicators{student_filter}",
        "interventions": f"SELECT * FROM interventions{student_filter}",
        "risk_flags": f"SELECT * FROM risk_flags{student_filter}",
        "progress_monitoring": f"SELECT * FROM progress_monitoring{student_filter}",
    }.get(kind)
    if sql is None:
        sql = f'SELECT * FROM "{kind}"'
        if scope is not None and kind in ("licenses", "usage_aggregate", "devices", "pd_sessions", "feedback"):
            names = ", ".join(f":s{i}" for i in range(len(scope))) or "NULL"
            if not params:
                _scope_clause(scope, "school_id", params)
            sql += f" WHERE school_id IN ({names})" + (" OR school_id = ''" if kind == "licenses" else "")
    frame = _read_sql(engine, sql, params)
    if frame.empty:
        return empty_frame(kind) if kind in FRAME_COLUMNS else frame
    for blank_key in BLANK_KEY_COLUMNS.get(kind, ()):
        if blank_key in frame:
            frame[blank_key] = frame[blank_key].replace("", None)
    frame = _expand_extra(frame)
    if kind == "usage_aggregate":
        frame = frame.drop(columns=["range_text"], errors="ignore")
    return conform_frame(kind, frame)


def load_district(engine: Engine, scope: frozenset[str] | None = None, *, usage: bool = True,
                  tables: Iterable[str] | None = None) -> District:
    """Every table as canonical frames, filtered to the scope's schools (None = all). `usage=False` leaves
    the raw weekly usage out (an empty frame): readers of the summaries (edtech.store.summaries) need none;
    `tables` reads only those (the others empty: a caller that reads tables on demand)."""
    init_db(engine)
    wanted = set(FRAME_COLUMNS if tables is None else tables) - (set() if usage else {"usage"})
    frames = {name: read_table(engine, name, scope) if name in wanted else empty_frame(name) for name in FRAME_COLUMNS}
    with engine.connect() as conn:  # the whole district's date, also for a scope's slice
        as_of = _data_as_of(conn, frames["usage"]["week_start"] if scope is None and "usage" in wanted else None)
    return District(**frames, fixed_as_of=as_of)


def import_history(engine: Engine, limit: int = 200) -> pd.DataFrame:
    return _read_sql(engine, "SELECT id, imported_at, user, kind, file_name, status, rows_read, rows_stored, "
                     "inserted, updated, rejected, seconds, checksum, message FROM import_log "
                     f"ORDER BY id DESC LIMIT {int(limit)}")


# --------------------------------------------------------------------------- settings, scenarios, models
# engine-level conveniences: one session per call over the crud functions of edtech.store.repository
def save_setting(engine: Engine, key: str, value: object) -> None:
    with Session(engine) as session:
        repository.save_setting(session=session, key=key, value=value)


def load_setting(engine: Engine, key: str, default: object = None) -> object:
    with Session(engine) as session:
        return repository.load_setting(session=session, key=key, default=default)


def save_scenario(engine: Engine, name: str, spec: dict, owner: str | None = None) -> None:
    with Session(engine) as session:
        repository.save_scenario(session=session, name=name, spec=spec, owner=owner)


def scenario_owner(engine: Engine, name: str) -> str | None:
    with Session(engine) as session:
        return repository.scenario_owner(session=session, name=name)


def list_scenarios(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return repository.list_scenarios(session=session)


def load_scenario(engine: Engine, name: str) -> dict | None:
    with Session(engine) as session:
        return repository.load_scenario(session=session, name=name)


def delete_scenario(engine: Engine, name: str) -> None:
    with Session(engine) as session:
        repository.delete_scenario(session=session, name=name)


def save_model_version(engine: Engine, *, target: str, model_name: str, metrics: dict, fingerprint: str,
                       card: str, artifact: bytes) -> int:
    with Session(engine) as session:
        return repository.create_model_version(session=session, target=target, model_name=model_name,
                                               metrics=metrics, fingerprint=fingerprint, card=card,
                                               artifact=artifact)


def list_model_versions(engine: Engine) -> pd.DataFrame:
    return _read_sql(engine, "SELECT id, created_at, target, model_name, metrics, fingerprint FROM model_versions "
                     "ORDER BY id DESC")


def load_model_version(engine: Engine, version_id: int) -> ModelVersion | None:
    with Session(engine) as session:
        return repository.get_model_version(session=session, version_id=version_id)


def load_model_artifact(engine: Engine, version_id: int) -> bytes:
    row = load_model_version(engine, version_id)
    if row is None:
        raise KeyError(f"no model version {version_id}")
    return bytes(row.artifact)
