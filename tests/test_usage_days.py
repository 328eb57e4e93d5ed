"""Usage keeps one value per student × tool × day (data contract v2, issue 13 items 1 and 7).

An import replaces exactly the (student, tool, day) keys it contains and nothing else; rows of one
day within a file are summed (timestamps too, exact duplicates with a warning); a day over 1,440
minutes after summing is rejected naming its lines; an all-Monday file over a day's worth is a
weekly-grain file; a database from before the days keeps its weekly totals (as the Monday value).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from edtech.core import config
from edtech.store import data, usage_days

KEY = ["student_id", "tool_id", "week_start"]
SCHOOLS = "school_id,school_name\n0001,North\n"
STUDENTS = "student_id,school_id,grade_level\n000100,0001,3\n000101,0001,4\n000102,0001,5\n"
TOOLS = "tool_id,tool_name\n101,MathQuest\n102,ReadRight\n"
HEADER = "student_id,tool_id,date,minutes\n"
MON, TUE, WED, THU = "2025-09-08", "2025-09-09", "2025-09-10", "2025-09-11"
NEXT_MON = "2025-09-15"


def _district(engine) -> None:
    for kind, text in (("schools", SCHOOLS), ("students", STUDENTS), ("tools", TOOLS)):
        report = data.import_bytes(engine, kind, f"{kind}.csv", text.encode())
        assert report.ok, report.error_lines()


@pytest.fixture
def district(engine):
    _district(engine)
    return engine


def _import(engine, body: str, name: str = "usage.csv", header: str = HEADER, **kw) -> data.ImportReport:
    return data.import_bytes(engine, "usage", name, (header + body).encode(), **kw)


def _week(engine, student: str = "000100", tool: str = "101", week: str = MON) -> tuple[float, int] | None:
    usage = data.read_table(engine, "usage").set_index(KEY)
    key = (student, tool, pd.Timestamp(week))
    if key not in usage.index:
        return None
    row = usage.loc[key]
    return float(row["minutes"]), int(row["sessions"])


def _days(engine, student: str = "000100", tool: str = "101", week: str = MON) -> list[float | None]:
    """The stored minutes of each weekday (Monday first), None = no value that day."""
    with engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT m0, m1, m2, m3, m4, m5, m6 FROM usage WHERE student_id = %(s)s AND tool_id = %(t)s "
            "AND week_start = %(w)s" if data.is_postgres(engine) else
            "SELECT m0, m1, m2, m3, m4, m5, m6 FROM usage WHERE student_id = ? AND tool_id = ? AND week_start = ?",
            {"s": student, "t": tool, "w": week} if data.is_postgres(engine) else (student, tool, week)).first()
    return None if row is None else [None if v is None else float(v) for v in row]


def _day_semantics(engine) -> None:
    """The reproduction of issue 13 item 1, then a re-imported day, on any database."""
    assert _import(engine, f"000100,101,{MON},30\n000100,101,{TUE},50\n").ok
    assert _week(engine) == (80.0, 2)
    thursday = _import(engine, f"000100,101,{THU},25\n", name="thursday.csv")
    assert thursday.ok, thursday.error_lines()
    assert _week(engine) == (105.0, 3)                       # was 25: the week was replaced
    assert _days(engine) == [30.0, 50.0, None, 25.0, None, None, None]
    # re-importing Tuesday replaces Tuesday only
    again = _import(engine, f"000100,101,{TUE},5\n", name="tuesday.csv")
    assert again.ok and again.inserted == 0 and again.updated == 1
    assert _week(engine) == (60.0, 3)
    assert _days(engine) == [30.0, 5.0, None, 25.0, None, None, None]
    # the same file again changes nothing
    assert _import(engine, f"000100,101,{TUE},5\n", name="tuesday.csv").ok
    assert _week(engine) == (60.0, 3)


def test_monday_tuesday_then_thursday_keeps_all_three_days(district) -> None:
    _day_semantics(district)


def test_reimporting_a_day_replaces_only_that_day(district) -> None:
    assert _import(district, f"000100,101,{MON},30\n000100,101,{TUE},50\n000100,101,{WED},10\n").ok
    fixed = _import(district, f"000100,101,{WED},0\n", name="fix.csv")   # a corrected day: 0 minutes
    assert fixed.ok
    assert _week(district) == (80.0, 2)                      # a day of 0 minutes is a value, not a session
    assert _days(district) == [30.0, 50.0, 0.0, None, None, None, None]


def test_a_file_never_deletes_other_days_weeks_students_or_tools(district) -> None:
    first = (f"000100,101,{MON},30\n000100,101,{TUE},50\n000100,102,{MON},7\n"
             f"000101,101,{MON},11\n000100,101,{NEXT_MON},9\n")
    assert _import(district, first).ok
    before = data.read_table(district, "usage").sort_values(KEY, ignore_index=True)
    assert _import(district, f"000100,101,{THU},25\n", name="one_day.csv").ok
    after = data.read_table(district, "usage").sort_values(KEY, ignore_index=True)
    assert len(after) == len(before) == 4
    changed = (after["student_id"] == "000100") & (after["tool_id"] == "101") & (after["week_start"] == MON)
    pd.testing.assert_frame_equal(after[~changed].reset_index(drop=True), before[~changed].reset_index(drop=True))
    assert _week(district) == (105.0, 3)


def test_repeated_rows_and_timestamps_of_a_day_are_summed(district) -> None:
    body = (f"000100,101,{MON}T08:15:00,10,1\n000100,101,{MON}T13:40,15,2\n"   # two sessions on Monday
            f"000100,101,{TUE},20,\n"                                          # blank sessions: 1 (has minutes)
            f"000100,101,{TUE}T18:00,5,0\n")
    report = _import(district, body, header="student_id,tool_id,timestamp,minutes,sessions\n")
    assert report.ok, report.error_lines()
    assert "4 rows → 2 student-days in 1 week" in report.summary()
    assert not any("duplicate" in w for w in report.warnings)   # repeats of a day, not copies
    assert _days(district) == [25.0, 25.0, None, None, None, None, None]
    assert _week(district) == (50.0, 4)
    # Tuesday again, alone: Monday's summed value stays
    assert _import(district, f"000100,101,{TUE}T09:00,3\n", name="tue.csv").ok
    assert _week(district) == (28.0, 4)


def test_exact_duplicate_rows_are_summed_with_a_warning(district) -> None:
    body = (f"000100,101,{MON},10\n"
            f"000100,101,{TUE},20\n"
            f"000100,101,{MON},10\n"        # line 4: a copy of line 2
            f"000101,101,{MON},10\n"        # another student: not a copy
            f"000100,101,{MON}T09:00,10\n")  # another time of day: a repeat, not a copy
    report = _import(district, body)
    assert report.ok
    duplicates = [w for w in report.warnings if "exact duplicate" in w]
    assert duplicates == ["1 exact duplicate row (line 4) summed into their day; "
                          "remove them if the export repeated rows"]
    assert _days(district)[:2] == [30.0, 20.0]


def test_a_day_over_1440_minutes_after_summing_is_rejected_with_its_lines(district) -> None:
    assert _import(district, f"000100,101,{MON},30\n").ok
    body = (f"000100,101,{TUE},700\n"
            f"000101,101,{TUE},700\n"
            f"000100,101,{TUE}T20:00,800\n"   # with line 2: 1,500 minutes on Tuesday
            f"000100,102,{TUE},1440\n")       # a full day, allowed
    report = _import(district, body, name="over.csv")
    assert not report.ok
    issues = [(i.line, i.column) for i in report.issues.examples]
    assert issues == [(2, "minutes")]
    text = report.error_lines()[0]
    assert "over.csv line 2, column minutes" in text and "lines 2, 4" in text and "1,440 minutes a day" in text
    assert report.rejected == 2 and "nothing was written" in report.summary()
    assert _week(district) == (30.0, 1)                   # nothing of the file was written
    assert data.table_counts(district)["usage"] == 1


def test_weekly_grain_file_is_stored_on_the_monday_and_said(district) -> None:
    body = (f"000100,101,{MON},900\n000100,101,{MON},700\n"    # one week's total over two rows: 1,600
            f"000101,101,{NEXT_MON},120\n")
    report = _import(district, body, name="weekly.csv")
    assert report.ok, report.error_lines()
    assert any(note.startswith("weekly-grain file") for note in report.notes)
    assert "weekly-grain file" in report.summary()
    assert _days(district) == [1600.0, None, None, None, None, None, None]
    assert _week(district) == (1600.0, 2)
    # the same rows on a Tuesday are a day over 1,440 minutes: rejected
    tuesday = _import(district, body.replace(MON, TUE), name="daily.csv")
    assert not tuesday.ok and [(i.line, i.column) for i in tuesday.issues.examples] == [(2, "minutes")]
    # a Monday over a whole week (7 × 1,440 minutes) is wrong even in a weekly file
    too_much = _import(district, "".join(f"000102,101,{MON},1440\n" for _ in range(8)), name="too_much.csv")
    assert not too_much.ok and "10,080" in too_much.error_lines()[0]
    # a file of Mondays under a day's worth says nothing about weeks
    days_only = _import(district, f"000102,102,{MON},30\n", name="monday.csv")
    assert days_only.ok and not any("weekly-grain" in n for n in days_only.notes)


def test_dry_run_says_what_the_import_would_do(district) -> None:
    assert _import(district, f"000100,101,{MON},30\n").ok
    body = f"000100,101,{MON},10\n000100,101,{MON}T10:00,5\n000100,101,{NEXT_MON},7\n"
    report = _import(district, body, name="check.csv", dry_run=True)
    assert report.ok and report.dry_run
    summary = report.summary()
    assert "would store 2 (1 new, 1 updated)" in summary, summary
    assert "3 rows → 2 student-days in 2 weeks" in summary, summary
    assert _week(district) == (30.0, 1) and _week(district, week=NEXT_MON) is None   # nothing written


@pytest.mark.parametrize("spill_rows", [1_000_000, 3], ids=["in-memory", "spilled-by-student-range"])
def test_long_files_fold_the_same_in_chunks_and_spilled(district, spill_rows: int,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of a few lines and records spilled to files give the same days, checks and warnings."""
    monkeypatch.setattr(config, "CHUNK_BYTES", 256)
    monkeypatch.setattr(usage_days, "SPILL_ROWS", spill_rows)
    dates = pd.date_range(MON, periods=12)
    rows = [f"{s},{t},{d:%Y-%m-%d},{(i % 7) + 1}\n" for i, (s, t, d) in enumerate(
        (s, t, d) for d in dates for s in ("000102", "000100", "000101") for t in ("102", "101"))]
    body = "".join(rows) + rows[0] + f"000100,101,{THU},500\n000100,101,{THU},500\n"   # a copy, and a long Thursday
    report = _import(district, body)
    assert report.ok, report.error_lines()
    assert report.warnings[:1] == ["2 exact duplicate rows (lines 74, 76) summed into their day; "
                                   "remove them if the export repeated rows"]
    assert f"{len(rows) + 3} rows → {len(rows)} student-days in 12 weeks" in report.summary()
    frame = pd.DataFrame([r.strip().split(",") for r in rows + [rows[0]]], columns=["s", "t", "d", "m"])
    frame["m"] = frame["m"].astype(float)
    expected = frame[(frame["s"] == "000100") & (frame["t"] == "101") & (frame["d"] < NEXT_MON)]["m"].sum()
    assert _week(district)[0] == expected + 1000.0
    filler = "".join(f"000102,101,{d:%Y-%m-%d},1\n" for d in pd.date_range("2025-10-01", periods=20))
    over = _import(district, f"000101,102,{WED},1000\n" + filler + f"000101,102,{WED},1000\n", name="over.csv")
    assert [(i.line, i.column) for i in over.issues.examples] == [(2, "minutes")]   # lines of two chunks
    assert "lines 2, 23" in over.error_lines()[0]


def test_old_database_keeps_its_weekly_totals(tmp_path: Path) -> None:
    """A database made before the days: its weekly rows become the Monday's value, so a later day
    import adds to the week instead of silently replacing it, and re-importing Monday replaces it."""
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    engine = data.make_engine(url)
    data.init_db(engine)
    _district(engine)
    engine.dispose()
    with sqlite3.connect(path) as raw:   # the usage table as older versions made it
        raw.execute("DROP TABLE usage")
        raw.execute("CREATE TABLE usage (student_id VARCHAR NOT NULL, tool_id VARCHAR NOT NULL, week_start DATE "
                    "NOT NULL, minutes FLOAT NOT NULL, sessions INTEGER NOT NULL, "
                    "PRIMARY KEY (student_id, tool_id, week_start)) WITHOUT ROWID")
        raw.execute(f"INSERT INTO usage VALUES ('000100', '101', '{MON}', 95.0, 4), ('000101', '101', '{MON}', 12.0, 1)")
    engine = data.make_engine(url)
    data.init_db(engine)
    assert _week(engine) == (95.0, 4) and _days(engine) == [95.0] + [None] * 6
    data.init_db(engine)                                    # idempotent: nothing doubles
    assert _week(engine) == (95.0, 4)
    assert _import(engine, f"000100,101,{THU},25\n").ok
    assert _week(engine) == (120.0, 5)
    assert _import(engine, f"000100,101,{MON},40\n").ok    # the Monday (the old total) is replaced
    assert _week(engine) == (65.0, 2)
    assert _week(engine, student="000101") == (12.0, 1)
    assert list(data.read_table(engine, "usage").columns) == [*KEY, "minutes", "sessions"]
    engine.dispose()


@pytest.mark.postgres
def test_day_semantics_on_postgresql(pg_engine) -> None:
    _district(pg_engine)
    _day_semantics(pg_engine)
    over = _import(pg_engine, f"000101,101,{TUE},1000\n000101,101,{TUE},1000\n", name="over.csv")
    assert not over.ok and "lines 2, 3" in over.error_lines()[0]
    assert _week(pg_engine, student="000101") is None
