"""Usage imports: rows of any grain -> one value per student × tool × day (data contract v2).

Within one file, rows of the same student, tool and day are summed (timestamps too; exact duplicate
rows as well, with a warning); a day over 1,440 minutes after summing is an error naming its lines.
A file whose dates are all Mondays and whose summed Monday totals exceed a day's worth is a
weekly-grain file: each Monday holds a week's total (at most 7 × 1,440 minutes), and the summary says so.

The store keeps one value per student × tool × day, and an import replaces exactly the days it
contains. The days live in one row per student × tool × ISO week (`models.Usage`: `m0`…`m6` minutes
and `s0`…`s6` sessions, Monday…Sunday, NULL = no value that day) whose `minutes` and `sessions` are
the sums of its days, kept by the same upsert statement that writes the days. So every reader of
weekly usage stays as it is, and the table has a row per week, not per day.

Speed and memory: each chunk becomes compact numeric records (40 bytes a row: a student × tool × day
key, a hash of the date text, minutes, sessions, the line). Past SPILL_ROWS records they go to
temporary files by student range; each range is then folded with one sort, checked and upserted in
key order, so memory does not grow with the file and the writes walk the primary key in order.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

from edtech.ingest.validate import Issue, IssueLog
from edtech.store.models import USAGE_DAY_MINUTES, USAGE_DAY_SESSIONS

SPILL_ROWS = 1_000_000   # records held in memory; beyond, they wait in temporary files by student range
WRITE_BATCH_ROWS = 100_000
DAY_MINUTES = 1440.0
WEEK_MINUTES = 7 * DAY_MINUTES
EXAMPLE_LINES = 5        # lines named in a warning or an error before "…"

Records = dict[str, np.ndarray]   # one array per RECORD field
RECORD = np.dtype([("key", "<i8"), ("text", "<i8"), ("minutes", "<f8"), ("sessions", "<f8"), ("line", "<i8")])
_NS_PER_DAY = 86_400 * 10**9
_DAY_BITS = 20                  # key = (student code × tools + tool code) << 20 | (day + 2**19)
_DAY_OFFSET = 1 << 19           # days since 1970 fit in ±2**19 (pandas dates span 1677-2262)
_DAY_MASK = (1 << _DAY_BITS) - 1
_KEY = ("student_id", "tool_id", "week_start")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _lines_text(lines: np.ndarray) -> str:
    """'line 7' or 'lines 7, 12, …' (the first EXAMPLE_LINES)."""
    shown = ", ".join(str(int(x)) for x in lines[:EXAMPLE_LINES])
    return ("line " if len(lines) == 1 else "lines ") + shown + (", …" if len(lines) > EXAMPLE_LINES else "")


class UsageDays:
    """One usage file on its way into the store: `add` each validated chunk, then `store` once."""

    def __init__(self, student_ids: Iterable[str], tool_ids: Iterable[str], *, total_bytes: int | None = None,
                 spill_rows: int | None = None) -> None:
        # codes are positions in the sorted IDs, so code order is the database's key order
        self.students = np.array(sorted(student_ids), dtype=object)
        self.tools = np.array(sorted(tool_ids), dtype=object)
        self._student_index = pd.Index(self.students, dtype="object")
        self._tool_index = pd.Index(self.tools, dtype="object")
        self._n_tools = max(1, len(self.tools))
        self._spill_rows = SPILL_ROWS if spill_rows is None else spill_rows
        self._total_bytes = total_bytes
        self._held: list[Records] = []
        self._held_rows = 0
        self._spill_dir: tempfile.TemporaryDirectory | None = None
        self._spill_files: list = []
        self.rows = 0
        self.all_mondays = True

    # ------------------------------------------------------------------ reading
    def add(self, typed: pd.DataFrame, raw_dates: pd.Series, has_sessions: bool) -> None:
        """Records of one validated chunk (index = file line); `raw_dates` is the date column as written."""
        n = len(typed)
        if n == 0:
            return
        student = self._codes(typed["student_id"], self._student_index)
        tool = self._codes(typed["tool_id"], self._tool_index)
        dates = typed["date"]
        if isinstance(dates.dtype, pd.DatetimeTZDtype):
            dates = dates.dt.tz_localize(None)
        day = dates.to_numpy(dtype="datetime64[ns]").view("int64") // _NS_PER_DAY
        minutes = typed["minutes"].to_numpy(dtype="float64", na_value=np.nan) + 0.0   # -0.0 -> 0.0
        if has_sessions:
            sessions = typed["sessions"].to_numpy(dtype="float64", na_value=np.nan)
            sessions = np.where(np.isnan(sessions), (minutes > 0).astype("float64"), sessions)
        else:
            sessions = (minutes > 0).astype("float64")  # the contract's default: one session per row with minutes
        if len(raw_dates) != n:
            raw_dates = raw_dates.reindex(typed.index)
        # the date as written tells copies from repeats (08:15 and 13:40 of one day are not copies);
        # factorized first: a file has few distinct date texts
        codes, uniques = pd.factorize(raw_dates, use_na_sentinel=False)
        text_hash = pd.util.hash_array(np.asarray(uniques, dtype="object")).view("int64")[codes]
        rec = {"key": ((student * self._n_tools + tool) << _DAY_BITS) | (day + _DAY_OFFSET), "text": text_hash,
               "minutes": minutes, "sessions": sessions, "line": typed.index.to_numpy(dtype="int64")}
        self.all_mondays = self.all_mondays and bool(((day + 3) % 7 == 0).all())  # 1970-01-01 was a Thursday
        self.rows += n
        if self._spill_dir is None:
            self._held.append(rec)
            self._held_rows += n
            if self._held_rows > self._spill_rows:
                self._start_spilling()
        else:
            self._spill(rec)

    @staticmethod
    def _codes(values: pd.Series, index: pd.Index) -> np.ndarray:
        if isinstance(values.dtype, pd.CategoricalDtype):
            where = index.get_indexer(values.cat.categories.astype("object"))
            codes = values.cat.codes.to_numpy()
            out = np.where(codes >= 0, where[codes], -1)
        else:
            out = index.get_indexer(values.astype("object"))
        if (out < 0).any():  # validation (or skip_unknown_refs) leaves only known IDs
            raise ValueError("a usage row without a known student or tool reached the store")
        return out.astype("int64")

    def _partition_of(self, key: np.ndarray) -> np.ndarray:
        student = (key >> _DAY_BITS) // self._n_tools
        return (student * len(self._spill_files)) // max(1, len(self.students))

    def _start_spilling(self) -> None:
        # enough student ranges that each fits in memory again (about half of spill_rows each)
        estimate = max(2 * self._held_rows, (self._total_bytes or 0) // 24)
        ranges = int(np.clip(-(-estimate // max(1, self._spill_rows // 2)), 2, 256))
        self._spill_dir = tempfile.TemporaryDirectory(prefix="edtech-usage-")
        self._spill_files = [open(Path(self._spill_dir.name) / f"{i}.bin", "ab") for i in range(ranges)]  # noqa: SIM115
        held, self._held, self._held_rows = self._held, [], 0
        for rec in held:
            self._spill(rec)

    def _spill(self, rec: Records) -> None:
        part = self._partition_of(rec["key"])
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(len(self._spill_files) + 1))
        packed = np.empty(len(order), RECORD)  # one file per student range, records side by side
        for name in RECORD.names:
            packed[name] = rec[name][order]
        for i, fh in enumerate(self._spill_files):
            if bounds[i + 1] > bounds[i]:
                packed[bounds[i]:bounds[i + 1]].tofile(fh)

    def _ranges(self) -> Iterator[Records]:
        """The records by student range, in key order of the ranges."""
        if self._spill_dir is None:
            held, self._held = self._held, []
            if held:
                yield {name: np.concatenate([h[name] for h in held]) for name in RECORD.names}
            return
        for fh in self._spill_files:
            fh.close()
        for fh in self._spill_files:
            packed = np.fromfile(fh.name, dtype=RECORD)
            if len(packed):
                yield {name: np.ascontiguousarray(packed[name]) for name in RECORD.names}

    def close(self) -> None:
        self._held = []
        for fh in self._spill_files:
            fh.close()
        if self._spill_dir is not None:
            self._spill_dir.cleanup()
            self._spill_dir = None

    # ------------------------------------------------------------------ checking and writing
    def store(self, conn: Connection, issues: IssueLog) -> UsageOutcome:
        """Fold, check and upsert every range in the open transaction. Issues (a day over 1,440
        minutes) go to `issues`; the caller rolls back when there are any."""
        outcome = UsageOutcome(rows=self.rows)
        writer = _Writer(conn)
        try:
            for rec in self._ranges():
                weeks = self._fold(rec, outcome, issues)
                if not issues and weeks is not None:
                    writer.write(weeks)
            if not issues:
                writer.finish()
        finally:
            self.close()
        outcome.weeks = writer.weeks
        return outcome

    def _fold(self, rec: Records, outcome: UsageOutcome, issues: IssueLog) -> _Weeks | None:
        order = np.argsort(rec["key"])
        rec = {name: values[order] for name, values in rec.items()}
        key = rec["key"]
        start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        size = np.diff(np.r_[start, len(key)])
        day_minutes = np.add.reduceat(rec["minutes"], start)
        day_sessions = np.rint(np.add.reduceat(rec["sessions"], start)).astype("int64")
        day_key = key[start]
        outcome.days += len(start)
        self._find_duplicates(rec, size, outcome)

        limit = WEEK_MINUTES if self.all_mondays else DAY_MINUTES
        over_day = day_minutes > DAY_MINUTES + 1e-9
        if self.all_mondays and over_day.any():
            outcome.weekly_grain = True
        over = np.flatnonzero(day_minutes > limit + 1e-9)
        for i in over:
            lines = np.sort(rec["line"][start[i]:start[i] + size[i]])
            outcome.rejected_rows += int(size[i])
            if self.all_mondays:
                reason = "is over 10,080 minutes (a whole week) once the rows of the week are summed"
                fix = "a Monday row of a weekly file holds one week: correct the minutes or remove repeated rows"
            else:
                reason = "is over 1,440 minutes a day once the rows of the day are summed"
                fix = ("one student uses one tool at most 1,440 minutes a day: correct the minutes or remove "
                       "repeated rows (a weekly file dates every row on a Monday)")
            issues.add(Issue(int(lines[0]), "minutes", f"{day_minutes[i]:,.6g} in {_plural(len(lines), 'row')}: "
                             f"{_lines_text(lines)}", reason, fix))
        if issues:
            return None

        pair = day_key >> _DAY_BITS
        day = (day_key & _DAY_MASK) - _DAY_OFFSET
        weekday = (day + 3) % 7
        week = day - weekday
        week_start = np.flatnonzero(np.r_[True, (pair[1:] != pair[:-1]) | (week[1:] != week[:-1])])
        week_id = np.cumsum(np.r_[False, (pair[1:] != pair[:-1]) | (week[1:] != week[:-1])])
        n_weeks = len(week_start)
        minutes = np.full((n_weeks, 7), np.nan)
        minutes[week_id, weekday] = day_minutes
        sessions = np.zeros((n_weeks, 7), dtype="int64")
        sessions[week_id, weekday] = day_sessions
        return _Weeks(
            student=self.students[pair[week_start] // self._n_tools],
            tool=self.tools[pair[week_start] % self._n_tools],
            week=week[week_start], minutes=minutes, sessions=sessions,
            pattern=np.bitwise_or.reduceat(np.left_shift(1, weekday), week_start),
            total_minutes=np.add.reduceat(day_minutes, week_start),
            total_sessions=np.add.reduceat(day_sessions, week_start))

    @staticmethod
    def _find_duplicates(rec: Records, size: np.ndarray, outcome: UsageOutcome) -> None:
        """Exact duplicate rows (same IDs, date text, minutes and sessions): only days of several rows can hold one."""
        several = np.repeat(size > 1, size)
        if not several.any():
            return
        sub = {name: values[several] for name, values in rec.items()}
        mix = (sub["key"].view("uint64") * np.uint64(0x9E3779B97F4A7C15)
               ^ sub["text"].view("uint64") * np.uint64(0xC2B2AE3D27D4EB4F)
               ^ sub["minutes"].view("uint64") * np.uint64(0x165667B19E3779F9)
               ^ sub["sessions"].view("uint64") * np.uint64(0x27D4EB2F165667C5))
        # equal rows side by side (the later line second), then checked field by field
        order = np.lexsort((sub["line"], mix, sub["key"]))
        sub = {name: values[order] for name, values in sub.items()}
        same = np.ones(len(order) - 1, dtype=bool)
        for name in ("key", "text", "minutes", "sessions"):
            same &= sub[name][1:] == sub[name][:-1]
        if same.any():
            outcome.duplicates += int(same.sum())
            outcome.duplicate_lines = np.sort(np.r_[outcome.duplicate_lines, sub["line"][1:][same]])[:EXAMPLE_LINES + 1]


class UsageOutcome:
    """What a usage file did: rows read into days and weeks, duplicates, weekly grain."""

    def __init__(self, rows: int = 0) -> None:
        self.rows = rows
        self.days = 0
        self.weeks = 0
        self.duplicates = 0
        self.duplicate_lines = np.empty(0, dtype="int64")
        self.weekly_grain = False
        self.rejected_rows = 0

    def notes(self) -> list[str]:
        """Facts for the import summary ("3 rows → 2 student-days in 2 weeks")."""
        out = [f"{_plural(self.rows, 'row')} → {_plural(self.days, 'student-day')} in {_plural(self.weeks, 'week')}"]
        if self.weekly_grain:
            out.append("weekly-grain file (every date is a Monday and some totals exceed a day's 1,440 minutes): "
                       "each Monday holds that week's total")
        return out

    def warnings(self) -> list[str]:
        if not self.duplicates:
            return []
        return [f"{_plural(self.duplicates, 'exact duplicate row')} ({_lines_text(self.duplicate_lines)}) "
                "summed into their day; remove them if the export repeated rows"]


class _Weeks:
    """Weekly rows of one student range, in key order."""

    def __init__(self, *, student: np.ndarray, tool: np.ndarray, week: np.ndarray, minutes: np.ndarray,
                 sessions: np.ndarray, pattern: np.ndarray, total_minutes: np.ndarray,
                 total_sessions: np.ndarray) -> None:
        self.student, self.tool, self.week = student, tool, week
        self.minutes, self.sessions, self.pattern = minutes, sessions, pattern
        self.total_minutes, self.total_sessions = total_minutes, total_sessions

    def __len__(self) -> int:
        return len(self.week)

    def week_texts(self) -> np.ndarray:
        unique, inverse = np.unique(self.week, return_inverse=True)
        return np.array([str(np.datetime64(int(d), "D")) for d in unique], dtype=object)[inverse]

    def week_dates(self) -> np.ndarray:
        unique, inverse = np.unique(self.week, return_inverse=True)
        return np.array([np.datetime64(int(d), "D").item() for d in unique], dtype=object)[inverse]


def _day_sum(prefix: str, days: Iterable[int], *, of: str) -> str:
    return " + ".join(f'COALESCE({of}."{prefix}{d}", 0)' for d in days)


class _Writer:
    """Upserts weekly rows that carry some days: each day the file holds is replaced, the other days
    of the week are kept, and the week's totals are recomputed from its days in the same statement."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        self.weeks = 0
        self._statements: dict[int, str] = {}
        self._copied = False

    def write(self, weeks: _Weeks) -> None:
        if not len(weeks):
            return
        self.weeks += len(weeks)
        if self.postgres:
            self._copy(weeks)
        else:
            self._upsert_sqlite(weeks)

    # SQLite: one statement per set of weekdays present (a few in practice), each binding only the
    # key, those days and the totals, so a row costs about what a plain 5-column upsert costs
    def _statement(self, pattern: int) -> str:
        if pattern not in self._statements:
            days = [d for d in range(7) if pattern >> d & 1]
            other = [d for d in range(7) if not pattern >> d & 1]
            day_cols = [c for d in days for c in (USAGE_DAY_MINUTES[d], USAGE_DAY_SESSIONS[d])]
            cols = [*_KEY, *day_cols, "minutes", "sessions"]
            sets = [f'"{c}" = excluded."{c}"' for c in day_cols]
            if other:
                sets.append(f'"minutes" = excluded."minutes" + {_day_sum("m", other, of="usage")}')
                sets.append(f'"sessions" = excluded."sessions" + {_day_sum("s", other, of="usage")}')
            else:
                sets += ['"minutes" = excluded."minutes"', '"sessions" = excluded."sessions"']
            self._statements[pattern] = (
                f'INSERT INTO "usage" ({", ".join(chr(34) + c + chr(34) for c in cols)}) '
                f'VALUES ({", ".join("?" for _ in cols)}) '
                f'ON CONFLICT ({", ".join(_KEY)}) DO UPDATE SET {", ".join(sets)}')
        return self._statements[pattern]

    def _upsert_sqlite(self, weeks: _Weeks) -> None:
        texts = weeks.week_texts()
        for pattern in np.unique(weeks.pattern):
            days = [d for d in range(7) if int(pattern) >> d & 1]
            sql = self._statement(int(pattern))
            rows_of = np.flatnonzero(weeks.pattern == pattern)
            for first in range(0, len(rows_of), WRITE_BATCH_ROWS):
                i = rows_of[first:first + WRITE_BATCH_ROWS]
                cols = [weeks.student[i].tolist(), weeks.tool[i].tolist(), texts[i].tolist()]
                for d in days:
                    cols += [weeks.minutes[i, d].tolist(), weeks.sessions[i, d].tolist()]
                cols += [weeks.total_minutes[i].tolist(), weeks.total_sessions[i].tolist()]
                self.conn.exec_driver_sql(sql, list(zip(*cols)))

    # PostgreSQL: COPY every week into a temporary table, then one INSERT … ON CONFLICT
    _COLUMNS = (*_KEY, *USAGE_DAY_MINUTES, *USAGE_DAY_SESSIONS, "minutes", "sessions")

    def _copy(self, weeks: _Weeks) -> None:
        cur_cols = ", ".join(f'"{c}"' for c in self._COLUMNS)
        raw = self.conn.connection.dbapi_connection
        with raw.cursor() as cur:
            if not self._copied:
                cur.execute('CREATE TEMP TABLE IF NOT EXISTS usage_days_in (LIKE "usage" INCLUDING DEFAULTS) '
                            "ON COMMIT DROP")
                cur.execute("TRUNCATE usage_days_in")
                self._copied = True
            dates = weeks.week_dates()
            # binary COPY, row by row in C: several times faster than formatting the rows as CSV
            with cur.copy(f"COPY usage_days_in ({cur_cols}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["varchar", "varchar", "date", *["float8"] * 7, *["int4"] * 7, "float8", "int4"])
                for first in range(0, len(weeks), WRITE_BATCH_ROWS):
                    i = slice(first, first + WRITE_BATCH_ROWS)
                    present = ~np.isnan(weeks.minutes[i])
                    days = [np.where(present[:, d], weeks.minutes[i, d], None).tolist() for d in range(7)]
                    days += [np.where(present[:, d], weeks.sessions[i, d], None).tolist() for d in range(7)]
                    for row in zip(weeks.student[i].tolist(), weeks.tool[i].tolist(), dates[i].tolist(), *days,
                                   weeks.total_minutes[i].tolist(), weeks.total_sessions[i].tolist()):
                        copy.write_row(row)

    def finish(self) -> None:
        if not self.postgres or not self._copied:
            return
        cols = ", ".join(f'"{c}"' for c in self._COLUMNS)
        sets = [f'"{c}" = COALESCE(excluded."{c}", "usage"."{c}")' for c in (*USAGE_DAY_MINUTES, *USAGE_DAY_SESSIONS)]
        sets.append('"minutes" = ' + " + ".join(f'COALESCE(excluded."{c}", "usage"."{c}", 0)' for c in USAGE_DAY_MINUTES))
        sets.append('"sessions" = ' + " + ".join(f'COALESCE(excluded."{c}", "usage"."{c}", 0)' for c in USAGE_DAY_SESSIONS))
        with self.conn.connection.dbapi_connection.cursor() as cur:
            # rows were copied in key order (student ranges in order, sorted within): no ORDER BY
            cur.execute(f'INSERT INTO "usage" ({cols}) SELECT {cols} FROM usage_days_in '
                        f'ON CONFLICT ({", ".join(_KEY)}) DO UPDATE SET {", ".join(sets)}')
            cur.execute("DROP TABLE usage_days_in")


def keep_old_weekly_totals(conn: Connection, added_columns: Iterable[str]) -> None:
    """Migration of a database made before usage kept days: its weekly rows have totals and no days.

    Rule: a week's total is kept as its Monday's value (`m0`, `s0`). The week's total is unchanged,
    and a later import of other days of that week adds to it instead of silently replacing it; a
    later file that holds that Monday replaces it (as for any day)."""
    if "m0" not in set(added_columns):
        return
    no_days = " AND ".join(f'"{c}" IS NULL' for c in USAGE_DAY_MINUTES)
    conn.exec_driver_sql(f'UPDATE "usage" SET "m0" = "minutes", "s0" = "sessions" WHERE {no_days}')
