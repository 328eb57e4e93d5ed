"""Usage summaries kept in the database (issue 15): pages read these, never the raw weekly rows.

Three tables, SQLAlchemy Core on SQLite and PostgreSQL alike, kept up to date inside each import's
transaction for the keys the import touched, and rebuilt from scratch by `rebuild_summaries`:

- `summary_student_tool_year`: per student x tool, the active weekly rows inside the tool's
  contract-year window (rules.contract_year_start): weeks used, minutes, sessions, first and last week.
  The window each tool's rows were computed for is kept in `summary_windows`; a reader whose window
  differs (a new license, a moved as-of date for a tool without contract) refreshes that tool only
  (`ensure_fresh`).
- `summary_school_tool_week`: per school (of the student's current roster row; '' = none) x tool x
  week, over every week of data: distinct active students, minutes, sessions, and `active_4wk`, the
  distinct students active in that week or the 3 before it counting only weeks inside the tool's
  window (rules.WEEKS_IN_30_DAYS; peak_active_30d is its maximum). Per tool x week figures are its sums
  (a student has one school).
- `summary_week`: per week, every usage row (active or not, for the as-of date) and the distinct
  active students across tools (the Overview's weekly active users).

Active row = rules.is_active_row (>= 1 session or > 0 minutes), written here once as SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from edtech.core import rules

metadata = sa.MetaData()

windows_table = sa.Table(
    "summary_windows", metadata,
    sa.Column("tool_id", sa.String, primary_key=True),
    sa.Column("first_week", sa.Date, nullable=False),   # earliest week_start counted (window start - 6 days)
    sa.Column("last_week", sa.Date, nullable=True),     # latest week_start counted; NULL = no later weeks exist
)
student_tool_table = sa.Table(
    "summary_student_tool_year", metadata,
    sa.Column("student_id", sa.String, primary_key=True),
    sa.Column("tool_id", sa.String, primary_key=True),
    sa.Column("weeks_used", sa.Integer, nullable=False),
    sa.Column("minutes", sa.Float, nullable=False),
    sa.Column("sessions", sa.Float, nullable=False),
    sa.Column("first_week", sa.Date, nullable=False),
    sa.Column("last_week", sa.Date, nullable=False),
    sa.Index("ix_summary_student_tool_year_tool", "tool_id"),
)
school_week_table = sa.Table(
    "summary_school_tool_week", metadata,
    sa.Column("school_id", sa.String, primary_key=True),
    sa.Column("tool_id", sa.String, primary_key=True),
    sa.Column("week_start", sa.Date, primary_key=True),
    sa.Column("active_users", sa.Integer, nullable=False),
    sa.Column("minutes", sa.Float, nullable=False),
    sa.Column("sessions", sa.Float, nullable=False),
    sa.Column("active_4wk", sa.Integer, nullable=False),
    sa.Index("ix_summary_school_tool_week_tool", "tool_id", "week_start"),
)
week_table = sa.Table(
    "summary_week", metadata,
    sa.Column("week_start", sa.Date, primary_key=True),
    sa.Column("usage_rows", sa.Integer, nullable=False),
    sa.Column("active_students", sa.Integer, nullable=False),
)
# computed parts of an analysis, stored with the token of the data versions (and code) they were computed
# from: a new server process reads the district-wide ROI analysis instead of recomputing it (Parquet frames)
parts_table = sa.Table(
    "summary_parts", metadata,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("token", sa.String, nullable=False),
    sa.Column("computed_at", sa.DateTime, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
)
SUMMARY_TABLES = (windows_table, student_tool_table, school_week_table, week_table, parts_table)
TRAIL_DAYS = 7 * (rules.WEEKS_IN_30_DAYS - 1)   # a week's trailing window reaches this many days back


def _usage() -> sa.Table:
    return SQLModel.metadata.tables["usage"]


def _students() -> sa.Table:
    return SQLModel.metadata.tables["students"]


def _active(u: sa.Table) -> sa.ColumnElement[bool]:
    """rules.is_active_row in SQL: >= 1 session or > 0 minutes (NULL counts as 0)."""
    return sa.or_(sa.func.coalesce(u.c.sessions, 0) >= 1, sa.func.coalesce(u.c.minutes, 0) > 0)


def _date(value: object) -> dt.date:
    return pd.Timestamp(value).date()


# ---------------------------------------------------------------- what an import touched

@dataclass
class Touched:
    """The keys one import wrote: (student, tool) pairs and weeks per tool of usage rows, students whose
    roster row changed, and whether contract windows may have moved (licenses, tools)."""

    pairs: set[tuple[str, str]] = field(default_factory=set)
    tool_weeks: dict[str, tuple[dt.date, dt.date]] = field(default_factory=dict)
    weeks: set[dt.date] = field(default_factory=set)
    students_changed: bool = False
    windows_changed: bool = False

    def add_usage(self, typed: pd.DataFrame) -> None:
        """Collect the keys of validated usage rows (any grain: the date's Monday is its week)."""
        if typed.empty:
            return
        day = pd.to_datetime(typed["date"])
        week = (day - pd.to_timedelta(day.dt.day_of_week, unit="D")).dt.normalize()
        keys = pd.DataFrame({"student_id": typed["student_id"].astype("object").to_numpy(),
                             "tool_id": typed["tool_id"].astype("object").to_numpy(), "week": week.to_numpy()})
        self.pairs.update(keys[["student_id", "tool_id"]].drop_duplicates().itertuples(index=False, name=None))
        span = keys.groupby("tool_id")["week"].agg(["min", "max"])
        for tool_id, lo, hi in zip(span.index, span["min"], span["max"], strict=True):
            lo, hi = _date(lo), _date(hi)
            if tool_id in self.tool_weeks:
                old_lo, old_hi = self.tool_weeks[tool_id]
                lo, hi = min(lo, old_lo), max(hi, old_hi)
            self.tool_weeks[tool_id] = (lo, hi)
        self.weeks.update(_date(w) for w in pd.unique(week))

    def merge(self, other: Touched) -> None:
        self.pairs |= other.pairs
        for tool_id, (lo, hi) in other.tool_weeks.items():
            old = self.tool_weeks.get(tool_id)
            self.tool_weeks[tool_id] = (lo, hi) if old is None else (min(lo, old[0]), max(hi, old[1]))
        self.weeks |= other.weeks
        self.students_changed |= other.students_changed
        self.windows_changed |= other.windows_changed

    @property
    def empty(self) -> bool:
        return not (self.pairs or self.weeks or self.students_changed or self.windows_changed)


# ---------------------------------------------------------------- schema

def create_tables(engine_or_conn: Engine | Connection) -> None:
    metadata.create_all(engine_or_conn)


def needs_rebuild(conn: Connection) -> bool:
    """Summaries are empty while usage is not (a database from before the summaries)."""
    has_usage = conn.execute(sa.select(_usage().c.student_id).limit(1)).first() is not None
    has_weeks = conn.execute(sa.select(week_table.c.week_start).limit(1)).first() is not None
    return has_usage and not has_weeks


# ---------------------------------------------------------------- windows

def _read(conn: Connection, statement: sa.Select) -> pd.DataFrame:
    result = conn.execute(statement)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def current_windows(conn: Connection, as_of: pd.Timestamp) -> pd.Series:
    """tool_id -> first week_start counted (contract-year start - 6 days), as the ROI engine decides it."""
    tools = conn.execute(sa.select(SQLModel.metadata.tables["tools"].c.tool_id)).scalars().all()
    lic_t = SQLModel.metadata.tables["licenses"]
    licenses = _read(conn, sa.select(lic_t.c.tool_id, lic_t.c.start_date, lic_t.c.end_date))
    for col in ("start_date", "end_date"):
        licenses[col] = pd.to_datetime(licenses[col])
    if licenses.empty:
        licenses = pd.DataFrame({"tool_id": pd.Series(dtype=object), "start_date": pd.Series(dtype="datetime64[ns]"),
                                 "end_date": pd.Series(dtype="datetime64[ns]")})
    current = rules.current_licenses(licenses, as_of)
    starts = current.groupby("tool_id")["start_date"].min()
    ids = pd.Index(sorted(set(tools) | set(current["tool_id"])), dtype=object)
    window_start = rules.contract_year_start(starts.reindex(ids), as_of)
    return (window_start - pd.Timedelta(days=6)).map(_date)


def _stored_windows(conn: Connection) -> dict[str, tuple[dt.date, dt.date | None]]:
    rows = conn.execute(sa.select(windows_table.c.tool_id, windows_table.c.first_week, windows_table.c.last_week))
    return {r[0]: (_date(r[1]), None if r[2] is None else _date(r[2])) for r in rows}


def _tools_with_weeks_after(conn: Connection, as_of: pd.Timestamp) -> set[str]:
    """Tools with usage dated after the as-of date (implausible future rows: the window is clipped)."""
    t = school_week_table
    return set(conn.execute(sa.select(t.c.tool_id).where(t.c.week_start > _date(as_of), t.c.active_users > 0)
                            .distinct()).scalars())


def wanted_windows(conn: Connection, as_of: pd.Timestamp) -> dict[str, tuple[dt.date, dt.date | None]]:
    first = current_windows(conn, as_of)
    clipped = _tools_with_weeks_after(conn, as_of)
    return {tool: (week, _date(as_of) if tool in clipped else None) for tool, week in first.items()}


# ---------------------------------------------------------------- recomputation of touched keys

STUDENT_TOOL_COLUMNS = ["student_id", "tool_id", "weeks_used", "minutes", "sessions", "first_week", "last_week"]


def _student_tool_totals(u: sa.Table, where: list, bucket: sa.ColumnElement | None = None) -> sa.Select:
    """Per student x tool over the usage rows `where` selects: weeks used, minutes, sessions, first and last week
    (the columns of `summary_student_tool_year`, in STUDENT_TOOL_COLUMNS' order); with `bucket`, per student x
    tool x bucket (a last `bucket` column; the past months' totals are running sums of these)."""
    keys = [u.c.student_id, u.c.tool_id]
    return (sa.select(*keys, sa.func.count().label("weeks_used"),
                      sa.func.coalesce(sa.func.sum(u.c.minutes), 0.0).label("minutes"),
                      sa.func.coalesce(sa.func.sum(u.c.sessions), 0).label("sessions"),
                      sa.func.min(u.c.week_start).label("first_week"),
                      sa.func.max(u.c.week_start).label("last_week"),
                      *([] if bucket is None else [bucket.label("bucket")]))
            .where(*where).group_by(*keys, *([] if bucket is None else [bucket])))


def _refresh_student_tool(conn: Connection, tools: Iterable[str], pairs: set[tuple[str, str]] | None,
                          windows: dict[str, tuple[dt.date, dt.date | None]]) -> None:
    """Delete and recompute the per student x tool rows of `tools` (only `pairs` of them when given)."""
    if pairs is None:
        _refresh_student_tool_whole(conn, tools, windows)
        return
    u, s = _usage(), student_tool_table
    for tool_id in sorted(tools):
        window = windows.get(tool_id)
        if pairs is None:
            conn.execute(s.delete().where(s.c.tool_id == tool_id))
            scope = [u.c.tool_id == tool_id]
        else:
            students = sorted(st for st, tl in pairs if tl == tool_id)
            if not students:
                continue
            scope = []
            for start in range(0, len(students), 5000):   # bounded IN lists on both databases
                chunk = students[start:start + 5000]
                conn.execute(s.delete().where(s.c.tool_id == tool_id, s.c.student_id.in_(chunk)))
            scope = [u.c.tool_id == tool_id]
        if window is None:
            continue
        first_week, last_week = window
        where = [*scope, _active(u), u.c.week_start >= first_week]
        if last_week is not None:
            where.append(u.c.week_start <= last_week)
        query = _student_tool_totals(u, where)
        if pairs is None:
            conn.execute(s.insert().from_select(STUDENT_TOOL_COLUMNS, query))
        else:
            students = sorted(st for st, tl in pairs if tl == tool_id)
            for start in range(0, len(students), 5000):
                chunk = students[start:start + 5000]
                conn.execute(s.insert().from_select(STUDENT_TOOL_COLUMNS, query.where(u.c.student_id.in_(chunk))))


def _refresh_student_tool_whole(conn: Connection, tools: Iterable[str],
                                windows: dict[str, tuple[dt.date, dt.date | None]]) -> None:
    """Every student x tool row of `tools`, recomputed by ONE grouped INSERT … SELECT over usage for up
    to 200 tools at a time (each tool's window as a CASE on tool_id): a scan per tool was the cost of
    a year's import (usage has no index on tool_id)."""
    u, s = _usage(), student_tool_table
    tools = sorted(tools)
    for start in range(0, len(tools), 200):
        group = tools[start:start + 200]
        conn.execute(s.delete().where(s.c.tool_id.in_(group)))
        counted = [tl for tl in group if windows.get(tl) is not None]
        if not counted:
            continue
        conn.execute(s.insert().from_select(STUDENT_TOOL_COLUMNS, _student_tool_totals(u, _in_windows(u, counted, windows))))


def _in_windows(u: sa.Table, tools: list[str], windows: dict[str, tuple[dt.date, dt.date | None]]) -> list:
    """The active usage rows of `tools` inside each tool's window [first_week, last_week] (a CASE on tool_id;
    last_week None = no bound): the rows `summary_student_tool_year` counts."""
    first = sa.case({tl: windows[tl][0] for tl in tools}, value=u.c.tool_id)
    where = [u.c.tool_id.in_(tools), _active(u), u.c.week_start >= first]
    bounded = {tl: windows[tl][1] for tl in tools if windows[tl][1] is not None}
    if bounded:
        last = sa.case(bounded, value=u.c.tool_id, else_=None)
        where.append(sa.or_(last.is_(None), u.c.week_start <= last))
    return where


_MONDAY_0 = np.datetime64("1970-01-05", "D")   # week numbers count the weeks from this Monday
STREAM_ROWS = 250_000                          # usage rows held at once while the school x week rows are computed
_NO_WEEK_LOW, _NO_WEEK_HIGH = np.iinfo(np.int64).min // 4, np.iinfo(np.int64).max // 4


def _week_numbers(values: np.ndarray) -> np.ndarray:
    """Week numbers of week_start values (date text on SQLite, dates on PostgreSQL); few distinct values."""
    codes, uniques = pd.factorize(values)
    days = pd.to_datetime(pd.Series(uniques, dtype=object)).to_numpy(dtype="datetime64[D]")
    return ((days - _MONDAY_0).astype("int64") // 7)[codes]


def _week_number(day: dt.date, *, up: bool = False) -> int:
    """The week number of the Monday on or before `day` (`up`: on or after it; a bound such as a window's
    first week, contract start - 6 days, need not be a Monday)."""
    days = int((np.datetime64(day, "D") - _MONDAY_0).astype("int64"))
    return -(-days // 7) if up else days // 7


class _SchoolWeeks:
    """School x tool x week rows of several tools from one ordered scan of usage, in bounded memory.

    Rows arrive in chunks that hold every row of their students (the scan is ordered by student), so
    a student's weeks of a tool are all in one chunk; per chunk the counts and the (student x tool,
    trailing week) pairs are reduced to school x tool x week sums, and the sums are added up."""

    def __init__(self, spans: dict[str, tuple[dt.date | None, dt.date | None]],
                 first_weeks: dict[str, dt.date | None]) -> None:
        self.tools = pd.Index(sorted(spans), dtype=object)
        def number(day: dt.date | None, default: int, up: bool) -> int:
            return default if day is None else _week_number(day, up=up)
        # weeks (Mondays) w with lo <= w <= hi, and w >= first for the trailing counts
        self.lo = np.array([number(spans[t][0], _NO_WEEK_LOW, True) for t in self.tools], dtype=np.int64)
        self.hi = np.array([number(spans[t][1], _NO_WEEK_HIGH, False) for t in self.tools], dtype=np.int64)
        self.first = np.array([number(first_weeks.get(t), _NO_WEEK_LOW, True) for t in self.tools], dtype=np.int64)
        self.counts: list[pd.DataFrame] = []
        self.trails: list[pd.DataFrame] = []

    def add(self, student: np.ndarray, tool: np.ndarray, week: np.ndarray, minutes: np.ndarray,
            sessions: np.ndarray, school: np.ndarray) -> None:
        tool_code = self.tools.get_indexer(tool)
        trail = rules.WEEKS_IN_30_DAYS - 1
        keep = tool_code >= 0
        keep[keep] = ((week[keep] >= self.lo[tool_code[keep]] - trail) & (week[keep] <= self.hi[tool_code[keep]]))
        if not keep.any():
            return
        student, tool_code, week = student[keep], tool_code[keep], week[keep]
        minutes, sessions, school = minutes[keep], sessions[keep], school[keep]
        self.counts.append(pd.DataFrame({"school_id": school, "tool": tool_code, "week": week,
                                         "active_users": 1, "minutes": minutes, "sessions": sessions})
                           .groupby(["school_id", "tool", "week"], sort=False).sum())
        # trailing 4-week distinct students, inside the window only (as the ROI engine counts them)
        inside = week >= self.first[tool_code]
        if not inside.any():
            return
        student_code, _ = pd.factorize(student[inside])
        n_tools = len(self.tools)
        pair = student_code.astype(np.int64) * n_tools + tool_code[inside]
        pair_code, pairs = pd.factorize(pair)
        pair_school = np.empty(len(pairs), dtype=object)
        pair_school[pair_code] = school[inside]
        pair_week = week[inside] - week[inside].min()
        span = int(pair_week.max()) + rules.WEEKS_IN_30_DAYS
        # each pair's weeks, as rules.active_in_trailing_weeks marks them (several pairs at once)
        marked = rules.active_in_trailing_weeks(pair_code, pair_week, len(pairs), span)
        rows, cols = np.nonzero(marked)
        target = cols + week[inside].min()
        pair_tool = pairs % n_tools
        ok = target <= self.hi[pair_tool[rows]]
        rows, target = rows[ok], target[ok]
        self.trails.append(pd.DataFrame({"school_id": pair_school[rows], "tool": pair_tool[rows], "week": target,
                                         "active_4wk": 1}).groupby(["school_id", "tool", "week"], sort=False).sum())

    def frame(self) -> pd.DataFrame:
        """school_id, tool_id, week_start, active_users, minutes, sessions, active_4wk inside each tool's span."""
        index = pd.MultiIndex.from_arrays([pd.Index([], dtype=object), pd.Index([], dtype=np.int64),
                                           pd.Index([], dtype=np.int64)], names=["school_id", "tool", "week"])
        counts = (pd.concat(self.counts).groupby(level=[0, 1, 2], sort=False).sum() if self.counts
                  else pd.DataFrame({"active_users": [], "minutes": [], "sessions": []}, index=index))
        trails = (pd.concat(self.trails).groupby(level=[0, 1, 2], sort=False).sum() if self.trails
                  else pd.DataFrame({"active_4wk": []}, index=index))
        out = counts.join(trails, how="outer").reset_index()
        out[["active_users", "active_4wk"]] = out[["active_users", "active_4wk"]].fillna(0).astype("int64")
        out[["minutes", "sessions"]] = out[["minutes", "sessions"]].fillna(0.0).astype("float64")
        tool = out["tool"].to_numpy(dtype=np.int64)
        week = out["week"].to_numpy(dtype=np.int64)
        out = out[(week >= self.lo[tool]) & (week <= self.hi[tool])]
        return pd.DataFrame({
            "school_id": out["school_id"].astype(object).to_numpy(),
            "tool_id": self.tools.to_numpy()[out["tool"].to_numpy(dtype=np.int64)],
            "week_start": (_MONDAY_0 + 7 * out["week"].to_numpy(dtype=np.int64)).astype("datetime64[ns]"),
            "active_users": out["active_users"].to_numpy(), "minutes": out["minutes"].to_numpy(),
            "sessions": out["sessions"].to_numpy(), "active_4wk": out["active_4wk"].to_numpy()})


def _refresh_school_weeks_many(conn: Connection, spans: dict[str, tuple[dt.date | None, dt.date | None]],
                               first_weeks: dict[str, dt.date | None]) -> None:
    """Recompute the school x week rows of several tools, each for its weeks in spans[tool] = [lo, hi]
    (None = unbounded), from ONE scan of usage (a scan per tool was the cost of a year's import:
    usage has no index on tool_id). Counts over all weeks; the trailing 4-week distinct count only
    over weeks from first_weeks[tool] on."""
    if not spans:
        return
    t = school_week_table
    for tool_id in sorted(spans):
        lo, hi = spans[tool_id]
        delete = t.delete().where(t.c.tool_id == tool_id)
        if lo is not None:
            delete = delete.where(t.c.week_start >= lo)
        if hi is not None:
            delete = delete.where(t.c.week_start <= hi)
        conn.execute(delete)
    (out,) = _scan_school_weeks(conn, spans, [first_weeks])
    if out.empty:
        return
    records = [{"school_id": s, "tool_id": tl, "week_start": w, "active_users": int(a),
                "minutes": float(m), "sessions": float(se), "active_4wk": int(k)}
               for s, tl, w, a, m, se, k in zip(out["school_id"], out["tool_id"], out["week_start"].dt.date,
                                                out["active_users"], out["minutes"], out["sessions"],
                                                out["active_4wk"], strict=True)]
    for start in range(0, len(records), 20_000):
        conn.execute(t.insert(), records[start:start + 20_000])


def _scan_school_weeks(conn: Connection, spans: dict[str, tuple[dt.date | None, dt.date | None]],
                       first_weeks: list[dict[str, dt.date | None]]) -> list[pd.DataFrame]:
    """The school x tool x week rows (`_SchoolWeeks.frame`) of the tools of `spans`, each for its weeks
    spans[tool] = [lo, hi], from ONE ordered, streamed scan of usage (bounded memory; reads only): what the
    table's refresh writes and what `past_usage_summaries` returns. One frame per map of `first_weeks` (the
    trailing counts' window starts; the past months' maps differ, their scan is shared)."""
    accumulators = [_SchoolWeeks(spans, first) for first in first_weeks]
    if not spans:
        return [sums.frame() for sums in accumulators]
    u, st = _usage(), _students()
    tools = sorted(spans)
    where = [_active(u)]
    if len(tools) <= 500:
        where.append(u.c.tool_id.in_(tools))
    los, his = [lo for lo, _ in spans.values()], [hi for _, hi in spans.values()]
    if None not in los:
        where.append(u.c.week_start >= min(los) - dt.timedelta(days=TRAIL_DAYS))
    if None not in his:
        where.append(u.c.week_start <= max(his))
    # ordered by student (the key's prefix: SQLite walks the table in order, no sort), streamed
    query = (sa.select(u.c.student_id, u.c.tool_id, sa.type_coerce(u.c.week_start, sa.String).label("week_start"),
                       sa.func.coalesce(u.c.minutes, 0.0).label("minutes"),
                       sa.func.coalesce(u.c.sessions, 0).label("sessions"),
                       sa.func.coalesce(st.c.school_id, "").label("school_id"))
             .select_from(u.outerjoin(st, st.c.student_id == u.c.student_id)).where(*where)
             .order_by(u.c.student_id))
    held: list[np.ndarray] | None = None
    # streaming set on the statement: set on the connection it would stay for the import's later statements
    # (PostgreSQL cannot run a DELETE through a server-side cursor)
    result = conn.execute(query.execution_options(stream_results=True, yield_per=STREAM_ROWS))
    for batch in result.partitions(STREAM_ROWS):
        cols = [np.array(c, dtype=object) for c in zip(*batch, strict=True)]
        if held is not None:
            cols = [np.concatenate([h, c]) for h, c in zip(held, cols, strict=True)]
        student = cols[0]
        # the last student's rows wait for the next batch (it may go on there)
        not_last = student != student[-1]
        cut = len(student) - int(not_last[::-1].argmax()) if not_last.any() else 0
        held = [c[cut:] for c in cols]
        if cut:
            _add_rows(accumulators, [c[:cut] for c in cols])
    if held is not None and len(held[0]):
        _add_rows(accumulators, held)
    return [sums.frame() for sums in accumulators]


def _add_rows(accumulators: list[_SchoolWeeks], cols: list[np.ndarray]) -> None:
    student, tool, week, minutes, sessions, school = cols
    week, minutes, sessions, school = (_week_numbers(week), minutes.astype("float64"), sessions.astype("float64"),
                                       school.astype(object))
    for sums in accumulators:
        sums.add(student, tool, week, minutes, sessions, school)


def _refresh_weeks(conn: Connection, weeks: Iterable[dt.date] | None) -> None:
    """Rows and distinct active students per week, for `weeks` (None = all)."""
    u, t = _usage(), week_table
    weeks = None if weeks is None else sorted(set(weeks))
    query = (sa.select(u.c.week_start, sa.func.count().label("usage_rows"),
                       sa.func.count(sa.distinct(sa.case((_active(u), u.c.student_id)))).label("active_students"))
             .group_by(u.c.week_start))
    if weeks is None:
        conn.execute(t.delete())
        conn.execute(t.insert().from_select(["week_start", "usage_rows", "active_students"], query))
        return
    for start in range(0, len(weeks), 500):
        chunk = weeks[start:start + 500]
        conn.execute(t.delete().where(t.c.week_start.in_(chunk)))
        conn.execute(t.insert().from_select(["week_start", "usage_rows", "active_students"],
                                            query.where(u.c.week_start.in_(chunk))))


def _save_windows(conn: Connection, windows: dict[str, tuple[dt.date, dt.date | None]], tools: Iterable[str]) -> None:
    tools = sorted(tools)
    for start in range(0, len(tools), 5000):
        conn.execute(windows_table.delete().where(windows_table.c.tool_id.in_(tools[start:start + 5000])))
    rows = [{"tool_id": tl, "first_week": windows[tl][0], "last_week": windows[tl][1]} for tl in tools if tl in windows]
    if rows:
        conn.execute(windows_table.insert(), rows)


def _sync_windows(conn: Connection, as_of: pd.Timestamp) -> None:
    """Tools whose window moved since their rows were computed: recompute their student rows and their
    trailing counts (a tool's whole weekly history: the window's first weeks change)."""
    wanted = wanted_windows(conn, as_of)
    stored = _stored_windows(conn)
    moved = {tl for tl in set(wanted) | set(stored) if wanted.get(tl) != stored.get(tl)}
    if not moved:
        return
    _refresh_student_tool(conn, moved, None, wanted)
    restart = {tool_id: (stored.get(tool_id), wanted.get(tool_id)) for tool_id in sorted(moved)}
    restart = {tool_id: new for tool_id, (old, new) in restart.items() if old is None or new is None or old[0] != new[0]}
    _refresh_school_weeks_many(conn, {tool_id: (None, None) for tool_id in restart},
                               {tool_id: new[0] if new else None for tool_id, new in restart.items()})
    _save_windows(conn, wanted, moved)


def apply(conn: Connection, touched: Touched, last_usage_import: pd.Timestamp | None) -> None:
    """Bring the summaries up to date after an import, inside its transaction (touched keys only).
    `last_usage_import` is rules.data_as_of's cutoff as it will stand once the import is logged."""
    create_tables(conn)
    if touched.empty:
        return
    if touched.weeks:
        _refresh_weeks(conn, touched.weeks)
    as_of = rules.data_as_of(usage_weeks(conn), last_usage_import=last_usage_import)
    wanted = wanted_windows(conn, as_of)
    stored = _stored_windows(conn)
    if touched.students_changed:
        # a student may have moved school: the school x week rows of every tool are recomputed
        every = sorted(set(conn.execute(sa.select(school_week_table.c.tool_id).distinct()).scalars())
                       | set(touched.tool_weeks))
        _refresh_school_weeks_many(conn, {tool_id: (None, None) for tool_id in every},
                                   {tool_id: stored.get(tool_id, wanted.get(tool_id, (None,)))[0] for tool_id in every})
    else:
        spans, first_weeks = {}, {}
        for tool_id, (lo, hi) in sorted(touched.tool_weeks.items()):
            window = stored.get(tool_id) or wanted.get(tool_id)
            # a week's rows change its own counts and the trailing counts of the 3 weeks after it
            spans[tool_id] = (lo, hi + dt.timedelta(days=TRAIL_DAYS))
            first_weeks[tool_id] = window[0] if window else None
        _refresh_school_weeks_many(conn, spans, first_weeks)
    if touched.pairs:
        by_tool: dict[str, int] = {}
        for _, tool_id in touched.pairs:
            by_tool[tool_id] = by_tool.get(tool_id, 0) + 1
        small = {tl for tl, n in by_tool.items() if n <= 20_000}
        windows_now = {tl: stored.get(tl) or wanted.get(tl) for tl in by_tool}
        windows_now = {tl: w for tl, w in windows_now.items() if w is not None}
        _refresh_student_tool(conn, small, touched.pairs, windows_now)
        _refresh_student_tool(conn, set(by_tool) - small, None, windows_now)
        new_tools = {tl for tl in by_tool if tl not in stored and tl in wanted}
        _save_windows(conn, wanted, new_tools)
    _sync_windows(conn, as_of)


def ensure_fresh(engine: Engine, as_of: pd.Timestamp) -> None:
    """Before reading: recompute the tools whose contract window is not the one their rows were
    computed for (a license import, or an as-of date that moved a window without contract)."""
    with engine.connect() as conn:
        create_tables(conn)
        conn.commit()
        stale = wanted_windows(conn, as_of) != _stored_windows(conn)
    if stale:
        with engine.begin() as conn:
            _sync_windows(conn, as_of)


def rebuild_summaries(engine_or_conn: Engine | Connection, as_of: pd.Timestamp) -> None:
    """Every summary recomputed from the raw weekly usage (an existing database, or a check)."""
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.begin() as conn:
            rebuild_summaries(conn, as_of)
        return
    conn = engine_or_conn
    create_tables(conn)
    for table in (windows_table, student_tool_table, school_week_table):
        conn.execute(table.delete())
    _refresh_weeks(conn, None)
    wanted = wanted_windows(conn, as_of)
    used = set(conn.execute(sa.select(_usage().c.tool_id).distinct()).scalars())
    _refresh_school_weeks_many(conn, {tool_id: (None, None) for tool_id in used},
                               {tool_id: wanted[tool_id][0] if tool_id in wanted else None for tool_id in used})
    wanted = wanted_windows(conn, as_of)   # the future-week clip needs the weekly rows
    _refresh_student_tool(conn, wanted, None, wanted)
    _save_windows(conn, wanted, wanted)


# ---------------------------------------------------------------- reads

def usage_weeks(conn: Connection) -> pd.Series:
    """Every week that holds a usage row (for rules.data_as_of), without scanning the usage table."""
    weeks = conn.execute(sa.select(week_table.c.week_start)).scalars().all()
    return pd.Series(pd.to_datetime(pd.Series(weeks, dtype="object")), dtype="datetime64[ns]")


def read_student_tool(engine: Engine) -> pd.DataFrame:
    """Per student x tool in the contract-year window (categorical ids, the columns the engines use)."""
    s = student_tool_table
    with engine.connect() as conn:
        frame = _read(conn, sa.select(s.c.tool_id, s.c.student_id, s.c.weeks_used, s.c.minutes, s.c.sessions,
                                      s.c.first_week, s.c.last_week))
    return conform_student_tool(frame)


def conform_student_tool(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({
        "tool_id": frame["tool_id"].astype(object), "student_id": frame["student_id"].astype(object),
        "weeks_used": frame["weeks_used"].astype("int64"), "minutes": frame["minutes"].astype("float64"),
        "sessions": frame["sessions"].astype("float64"),
        "first_week": pd.to_datetime(frame["first_week"]).astype("datetime64[ns]"),
        "last_week": pd.to_datetime(frame["last_week"]).astype("datetime64[ns]")})
    return out


def read_school_weeks(engine: Engine) -> pd.DataFrame:
    t = school_week_table
    with engine.connect() as conn:
        frame = _read(conn, sa.select(t.c.school_id, t.c.tool_id, t.c.week_start, t.c.active_users, t.c.minutes,
                                      t.c.sessions, t.c.active_4wk))
    return conform_school_weeks(frame)


def conform_school_weeks(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "school_id": frame["school_id"].astype(object), "tool_id": frame["tool_id"].astype(object),
        "week_start": pd.to_datetime(frame["week_start"]).astype("datetime64[ns]"),
        "active_users": frame["active_users"].astype("int64"), "minutes": frame["minutes"].astype("float64"),
        "sessions": frame["sessions"].astype("float64"), "active_4wk": frame["active_4wk"].astype("int64")})


def past_usage_summaries(engine: Engine, points: list[tuple[pd.Timestamp, pd.Timestamp]]
                         ) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Per (as_of, until) of `points` (in time order), in order: (student_tool, school_weeks) of the district as
    it stood at a past `as_of` (the columns and dtypes of `read_student_tool` and `read_school_weeks`), for the
    ROI engine's `UsageSummary`: only the usage weeks that ended by `until` (week_start + 6 days <= until, the
    roadmap's `district_at`), each tool's contract window as the engine decides it at `as_of`
    (`current_windows`, ending at `as_of`: rules.week_overlaps).

    Computed from usage by the queries that keep the tables, in bounded memory: the school weeks of every
    point from ONE streamed scan (`_scan_school_weeks`) cut at each point's last week (a week's counts read
    that week and the 3 before it only); the student totals of consecutive points with the same windows from
    ONE grouped query (`_student_tool_totals` over `_in_windows`) per student x tool x point's weeks, read in
    the points' order and summed as it goes (one point's rows at a time). Writes nothing. The tables
    themselves hold today's windows and weeks: a past month is not cut from them."""
    if not points:
        return
    with engine.connect() as conn:
        last_weeks = [min(_date(pd.Timestamp(until) - pd.Timedelta(days=6)), _date(as_of)) for as_of, until in points]
        ends = [_date(pd.Timestamp(until) - pd.Timedelta(days=6)) for _, until in points]
        firsts = [dict(current_windows(conn, pd.Timestamp(as_of)).items()) for as_of, _ in points]
        maps = list({tuple(sorted(first.items())): first for first in firsts}.values())
        tools = sorted(set().union(*firsts))
        scanned = _scan_school_weeks(conn, {tool: (None, max(ends)) for tool in tools}, maps)
        by_map = {tuple(sorted(first.items())): frame for first, frame in zip(maps, scanned, strict=True)}
        at = 0
        while at < len(points):   # runs of consecutive points with the same windows: one query each
            run = at + 1
            while run < len(points) and firsts[run] == firsts[at]:
                run += 1
            totals = _running_student_totals(conn, firsts[at], last_weeks[at:run])
            for index, student_tool in zip(range(at, run), totals, strict=True):
                weeks = by_map[tuple(sorted(firsts[index].items()))]
                weeks = weeks[weeks["tool_id"].isin(set(firsts[index]))
                              & (weeks["week_start"] <= pd.Timestamp(ends[index]))]
                yield student_tool, conform_school_weeks(weeks)
            at = run


def _running_student_totals(conn: Connection, first_weeks: dict[str, dt.date],
                            last_weeks: list[dt.date]) -> Iterator[pd.DataFrame]:
    """Per last week of `last_weeks` (ascending), the student x tool totals of the active rows in each tool's
    window [first_weeks[tool], last week] (`conform_student_tool`'s frame): the partial totals of the rows
    between two last weeks, read in that order (streamed), are added to the previous last week's."""
    if any(later < earlier for earlier, later in zip(last_weeks, last_weeks[1:])):
        raise ValueError("past usage summaries are computed for points in time order")
    u = _usage()
    bucket = sa.case(*[(u.c.week_start <= week, index) for index, week in enumerate(last_weeks)],
                     else_=len(last_weeks))
    windows = {tool: (week, last_weeks[-1]) for tool, week in first_weeks.items()}
    tools = sorted(windows)
    # tools in groups of 200 (bounded CASE lists, as the table's refresh); each group's rows in bucket order
    streams = [_by_bucket(conn.execute(
        _student_tool_totals(u, _in_windows(u, tools[start:start + 200], windows), bucket)
        .order_by(sa.literal_column("bucket")).execution_options(stream_results=True, yield_per=STREAM_ROWS)),
        len(last_weeks)) for start in range(0, len(tools), 200)]
    running = conform_student_tool(pd.DataFrame({c: pd.Series(dtype=object) for c in STUDENT_TOOL_COLUMNS}))
    for _ in last_weeks:
        parts = [next(stream) for stream in streams]
        both = pd.concat([running, *parts], ignore_index=True)
        running = (both.groupby(["student_id", "tool_id"], sort=False, as_index=False)
                   .agg(weeks_used=("weeks_used", "sum"), minutes=("minutes", "sum"), sessions=("sessions", "sum"),
                        first_week=("first_week", "min"), last_week=("last_week", "max")))
        yield conform_student_tool(running)


def _by_bucket(result: sa.CursorResult, buckets: int) -> Iterator[pd.DataFrame]:
    """The rows of a result ordered by its last column `bucket`, as one frame per bucket 0 .. buckets-1
    (empty when a bucket has none), STREAM_ROWS rows read at a time."""
    columns = list(result.keys())
    current, pending = 0, []
    empty = conform_student_tool(pd.DataFrame({c: pd.Series(dtype=object) for c in STUDENT_TOOL_COLUMNS}))
    for batch in result.partitions(STREAM_ROWS):
        frame = pd.DataFrame({name: np.array(values, dtype=object)
                              for name, values in zip(columns, zip(*batch, strict=True), strict=True)})
        for col in ("first_week", "last_week"):   # text on SQLite, dates on PostgreSQL; few distinct values
            codes, uniques = pd.factorize(frame[col])
            frame[col] = pd.to_datetime(pd.Series(uniques, dtype=object)).to_numpy(dtype="datetime64[ns]")[codes]
        frame = conform_student_tool(frame).assign(bucket=frame["bucket"].astype("int64"))
        for bucket, part in frame.groupby("bucket", sort=True):
            while current < int(bucket):
                yield pd.concat(pending, ignore_index=True) if pending else empty
                current, pending = current + 1, []
            pending.append(part[STUDENT_TOOL_COLUMNS])
    while current < buckets:
        yield pd.concat(pending, ignore_index=True) if pending else empty
        current, pending = current + 1, []


def past_usage_summary(engine: Engine, as_of: pd.Timestamp, until: pd.Timestamp
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`past_usage_summaries` of one point."""
    return next(past_usage_summaries(engine, [(as_of, until)]))


def read_weeks(engine: Engine) -> pd.DataFrame:
    t = week_table
    with engine.connect() as conn:
        frame = _read(conn, sa.select(t.c.week_start, t.c.usage_rows, t.c.active_students))
    return pd.DataFrame({"week_start": pd.to_datetime(frame["week_start"]).astype("datetime64[ns]"),
                         "usage_rows": frame["usage_rows"].astype("int64"),
                         "active_students": frame["active_students"].astype("int64")})


def read_all(engine: Engine) -> dict[str, pd.DataFrame]:
    """Every summary table, sorted by its key (for comparisons with a recomputation)."""
    return {
        "student_tool": read_student_tool(engine).sort_values(["student_id", "tool_id"]).reset_index(drop=True),
        "school_weeks": read_school_weeks(engine).sort_values(["school_id", "tool_id", "week_start"])
        .reset_index(drop=True),
        "weeks": read_weeks(engine).sort_values("week_start").reset_index(drop=True),
    }


# ---------------------------------------------------------------- stored parts of an analysis

def load_part(engine: Engine, name: str, token: str) -> bytes | None:
    """The stored payload of part `name` when it was computed for exactly `token`, else None."""
    t = parts_table
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.c.payload).where(t.c.name == name, t.c.token == token)).first()
    return None if row is None else bytes(row[0])


def save_part(engine: Engine, name: str, token: str, payload: bytes) -> None:
    """Replace part `name` (one row per part: older tokens are dropped)."""
    t = parts_table
    with engine.begin() as conn:
        conn.execute(t.delete().where(t.c.name == name))
        conn.execute(t.insert().values(name=name, token=token, payload=payload,
                                       computed_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)))
