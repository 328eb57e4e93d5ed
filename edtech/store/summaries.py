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
from collections.abc import Iterable
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

def _refresh_student_tool(conn: Connection, tools: Iterable[str], pairs: set[tuple[str, str]] | None,
                          windows: dict[str, tuple[dt.date, dt.date | None]]) -> None:
    """Delete and recompute the per student x tool rows of `tools` (only `pairs` of them when given)."""
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
        query = (sa.select(u.c.student_id, u.c.tool_id, sa.func.count().label("weeks_used"),
                           sa.func.coalesce(sa.func.sum(u.c.minutes), 0.0).label("minutes"),
                           sa.func.coalesce(sa.func.sum(u.c.sessions), 0).label("sessions"),
                           sa.func.min(u.c.week_start).label("first_week"),
                           sa.func.max(u.c.week_start).label("last_week"))
                 .where(*where).group_by(u.c.student_id, u.c.tool_id))
        if pairs is None:
            conn.execute(s.insert().from_select(
                ["student_id", "tool_id", "weeks_used", "minutes", "sessions", "first_week", "last_week"], query))
        else:
            students = sorted(st for st, tl in pairs if tl == tool_id)
            for start in range(0, len(students), 5000):
                chunk = students[start:start + 5000]
                conn.execute(s.insert().from_select(
                    ["student_id", "tool_id", "weeks_used", "minutes", "sessions", "first_week", "last_week"],
                    query.where(u.c.student_id.in_(chunk))))


def _refresh_school_weeks(conn: Connection, tool_id: str, lo: dt.date | None, hi: dt.date | None,
                          first_week: dt.date | None) -> None:
    """Recompute the school x week rows of one tool for weeks in [lo, hi] (None = every week): counts
    over all weeks; the trailing 4-week distinct count only over weeks from `first_week` on."""
    u, st, t = _usage(), _students(), school_week_table
    where = [u.c.tool_id == tool_id, _active(u)]
    if lo is not None:
        where.append(u.c.week_start >= lo - dt.timedelta(days=TRAIL_DAYS))
    if hi is not None:
        where.append(u.c.week_start <= hi)
    rows = _read(conn, sa.select(u.c.student_id, u.c.week_start, sa.func.coalesce(u.c.minutes, 0.0).label("minutes"),
                                 sa.func.coalesce(u.c.sessions, 0).label("sessions"),
                                 sa.func.coalesce(st.c.school_id, "").label("school_id"))
                 .select_from(u.outerjoin(st, st.c.student_id == u.c.student_id)).where(*where))
    delete = t.delete().where(t.c.tool_id == tool_id)
    if lo is not None:
        delete = delete.where(t.c.week_start >= lo)
    if hi is not None:
        delete = delete.where(t.c.week_start <= hi)
    conn.execute(delete)
    if rows.empty:
        return
    rows["week_start"] = pd.to_datetime(rows["week_start"])
    rows["school_id"] = rows["school_id"].astype(object)
    week0 = rows["week_start"].min()
    rows["week"] = ((rows["week_start"] - week0).dt.days // 7).astype("int64")
    n_weeks = int(rows["week"].max()) + 1 + rules.WEEKS_IN_30_DAYS - 1
    if hi is not None:
        n_weeks = min(n_weeks, int((pd.Timestamp(hi) - week0).days // 7) + 1)
    counts = rows.groupby(["school_id", "week"], sort=False).agg(
        active_users=("student_id", "size"), minutes=("minutes", "sum"), sessions=("sessions", "sum"))
    # trailing 4-week distinct students, inside the window only (as the ROI engine counts them)
    inside = rows if first_week is None else rows[rows["week_start"] >= pd.Timestamp(first_week)]
    parts = []
    for school_id, grp in inside.groupby("school_id", sort=False):
        codes, index = pd.factorize(grp["student_id"])
        active = np.zeros((len(index), n_weeks), dtype=bool)
        active[codes, grp["week"].to_numpy()] = True
        csum = np.cumsum(active, axis=1, dtype=np.int32)
        lagged = np.zeros_like(csum)
        lagged[:, rules.WEEKS_IN_30_DAYS:] = csum[:, :-rules.WEEKS_IN_30_DAYS]
        trailing = ((csum - lagged) > 0).sum(axis=0)
        weeks = np.flatnonzero(trailing)
        parts.append(pd.DataFrame({"school_id": school_id, "week": weeks, "active_4wk": trailing[weeks]}))
    trail = (pd.concat(parts, ignore_index=True).set_index(["school_id", "week"]) if parts
             else pd.DataFrame({"active_4wk": pd.Series(dtype="int64")},
                               index=pd.MultiIndex.from_arrays([[], []], names=["school_id", "week"])))
    out = counts.join(trail, how="outer").reset_index()
    out[["active_users", "active_4wk"]] = out[["active_users", "active_4wk"]].fillna(0).astype("int64")
    out[["minutes", "sessions"]] = out[["minutes", "sessions"]].fillna(0.0).astype("float64")
    out["week_start"] = week0 + pd.to_timedelta(out["week"] * 7, unit="D")
    if lo is not None:
        out = out[out["week_start"] >= pd.Timestamp(lo)]
    if hi is not None:
        out = out[out["week_start"] <= pd.Timestamp(hi)]
    if out.empty:
        return
    records = [{"school_id": s, "tool_id": tool_id, "week_start": w.date(), "active_users": int(a),
                "minutes": float(m), "sessions": float(se), "active_4wk": int(k)}
               for s, w, a, m, se, k in zip(out["school_id"], out["week_start"], out["active_users"],
                                            out["minutes"], out["sessions"], out["active_4wk"], strict=True)]
    for start in range(0, len(records), 20_000):
        conn.execute(t.insert(), records[start:start + 20_000])


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
    for tool_id in sorted(moved):
        old, new = stored.get(tool_id), wanted.get(tool_id)
        if old is None or new is None or old[0] != new[0]:
            _refresh_school_weeks(conn, tool_id, None, None, new[0] if new else None)
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
        for tool_id in sorted(set(conn.execute(sa.select(school_week_table.c.tool_id).distinct()).scalars())
                              | set(touched.tool_weeks)):
            _refresh_school_weeks(conn, tool_id, None, None, stored.get(tool_id, wanted.get(tool_id, (None,)))[0])
    else:
        for tool_id, (lo, hi) in sorted(touched.tool_weeks.items()):
            window = stored.get(tool_id) or wanted.get(tool_id)
            # a week's rows change its own counts and the trailing counts of the 3 weeks after it
            _refresh_school_weeks(conn, tool_id, lo, hi + dt.timedelta(days=TRAIL_DAYS),
                                  window[0] if window else None)
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
    for tool_id in sorted(used):
        _refresh_school_weeks(conn, tool_id, None, None, wanted[tool_id][0] if tool_id in wanted else None)
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
