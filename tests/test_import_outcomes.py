"""What an import says it did is what it did (issue 13): the data's as-of date is not moved by an
implausible date, aggregate rows always name their school or district, LearnPlatform files are checked
per file with their own lines and text, several files have a per-file outcome (exit 4 = partly imported,
--atomic = all or none), a dry run reports what the import would store, counts are the import's own
while another import commits, and a locked database is a clear message.

Tests that concern the database run on SQLite and on PostgreSQL (`pg_url`, marked `postgres`).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest
from sqlmodel import SQLModel

from edtech.cli.parser import main as cli_main
from edtech.core import rules
from edtech.core.access import SYSTEM
from edtech.core.district import District
from edtech.services import uploads
from edtech.store import data

SCHOOLS = "school_id,school_name\n0001,North\n0002,South\n"
STUDENT_IDS = [f"{i:06d}" for i in range(1, 41)]
STUDENTS = "student_id,school_id,grade_level\n" + "".join(
    f"{sid},{'0001' if i % 2 else '0002'},{i % 12 + 1}\n" for i, sid in enumerate(STUDENT_IDS))
TOOLS = "tool_id,tool_name\n101,MathQuest\n102,ReadRight\n"
PRODUCTS = ("LP ID,URL,Product Name,Provider/Company Name,Sector(s),Primary Essential Function\n"
            "13117,https://x.example,SplashLearn,StudyPad Inc.,PreK-12,LC - Digital Learning Platforms\n"
            "20000,https://y.example,ReadRight,Read Co,PreK-12,LC - Reading\n")
DISTRICTS_INFO = "district_id,state,pct_black/hispanic\n1470,Utah,\"[0, 0.2[\"\n1536,Ohio,\"[0.2, 0.4[\"\n"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend (PostgreSQL: the session's throwaway server, schema dropped)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'outcomes.db'}"
    url = request.getfixturevalue("pg_url")
    engine = data.make_engine(url)
    SQLModel.metadata.drop_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def db(db_url: str):
    engine = data.make_engine(db_url)
    data.init_db(engine)
    yield engine
    engine.dispose()


def load_roster(engine) -> None:
    for kind, text in (("schools", SCHOOLS), ("students", STUDENTS), ("tools", TOOLS)):
        report = data.import_bytes(engine, kind, f"{kind}.csv", text.encode())
        assert report.ok, report.error_lines()


def usage_csv(extra: dict[int, str] | None = None) -> tuple[str, int]:
    """Six weeks of usage (Mondays 2025-09-01 … 2025-10-06) with extra rows at the given lines."""
    rows = [f"{sid},101,{day:%Y-%m-%d},20" for day in pd.date_range("2025-09-01", periods=6, freq="7D")
            for sid in STUDENT_IDS[:10]]
    for line, row in sorted((extra or {}).items()):
        rows.insert(line - 2, row)
    return "student_id,tool_id,date,minutes\n" + "\n".join(rows) + "\n", len(rows)


def implausible_warning(report: data.ImportReport) -> str:
    return next((w for w in report.warnings if "implausible" in w), "")


def counts(engine) -> dict[str, int]:
    return data.table_counts(engine)


# --------------------------------------------------------------------------- 1. the data's as-of date
def test_a_far_future_usage_row_is_named_and_never_moves_the_as_of_date(db) -> None:
    load_roster(db)
    text, _ = usage_csv({7: f"{STUDENT_IDS[0]},102,2050-01-02,15"})
    report = data.import_bytes(db, "usage", "usage.csv", text.encode())
    assert report.ok, report.error_lines()
    warning = implausible_warning(report)
    assert "1 after the import date" in warning and "line 7 (2050-01-02)" in warning   # count + named line

    last_week_end = pd.Timestamp("2025-10-12")   # Sunday of the last plausible week (Monday 2025-10-06)
    district = data.load_district(db)
    assert district.as_of == last_week_end
    assert data.load_district(db, frozenset({"0001"})).as_of == last_week_end   # a scope keeps the district's
    assert data.data_as_of(db) == last_week_end
    # the symptom: 30-day active users counted from the as-of date are the students of the last weeks
    usage = district.usage
    recent = usage[rules.week_overlaps(usage["week_start"], district.as_of - pd.Timedelta(days=29), district.as_of)]
    assert recent["student_id"].nunique() == 10
    # the indicators' default as_of is the same date (one rule)
    indicators = data.import_bytes(db, "indicators", "i.csv", f"student_id,gpa\n{STUDENT_IDS[0]},3.1\n".encode())
    assert indicators.ok, indicators.error_lines()
    assert "rows without as_of are dated 2025-10-12, the data's as-of date" in indicators.warnings


def test_dates_long_before_the_files_first_school_year_are_named(db) -> None:
    load_roster(db)
    # 2024-09-02 is in 2024-25, the year before this file's 2025-26 rows: part of the file, plausible;
    # 2019-10-07 is years before it: named
    text, _ = usage_csv({5: f"{STUDENT_IDS[1]},101,2024-09-02,10", 9: f"{STUDENT_IDS[2]},101,2019-10-07,10"})
    report = data.import_bytes(db, "usage", "usage.csv", text.encode())
    assert report.ok, report.error_lines()
    warning = implausible_warning(report)
    assert "1 before 2023-07-01" in warning and "line 9 (2019-10-07)" in warning
    assert "line 5" not in warning
    contiguous, _ = usage_csv({3: f"{STUDENT_IDS[1]},101,2023-09-04,10", 4: f"{STUDENT_IDS[1]},101,2024-09-02,10"})
    assert implausible_warning(data.import_bytes(db, "usage", "u2.csv", contiguous.encode())) == ""


def test_the_as_of_date_is_one_rule() -> None:
    weeks = pd.Series(pd.to_datetime(["2025-09-01", "2025-09-08", "2049-12-27"]))
    assert rules.data_as_of(weeks, last_usage_import=pd.Timestamp("2025-10-01")) == pd.Timestamp("2025-09-14")
    assert rules.data_as_of(weeks) == pd.Timestamp("2025-09-14")          # no import on record: cut at today
    assert rules.data_as_of(pd.Series([], dtype="datetime64[ns]")) == pd.Timestamp.today().normalize()
    usage = pd.DataFrame({"student_id": ["1", "1", "1"], "tool_id": ["t"] * 3, "week_start": weeks,
                          "minutes": [10.0] * 3, "sessions": [1] * 3})
    assert District(usage=usage).as_of == pd.Timestamp("2025-09-14")       # a generated district: same rule


# --------------------------------------------------------------------------- 2. usage_aggregate keys
def test_usage_aggregate_rows_need_a_school_or_a_district(db) -> None:
    no_column = data.import_bytes(db, "usage_aggregate", "agg.csv", b"date,tool_id,pct_access\n2025-09-01,101,0.5\n")
    assert not no_column.ok
    assert [(i.line, i.column) for i in no_column.issues.examples] == [(1, "district_id")]
    assert "school_id or district_id" in no_column.error_lines()[0]
    blank_row = data.import_bytes(db, "usage_aggregate", "agg.csv",
                                  b"date,tool_id,district_id,school_id,pct_access\n2025-09-01,101,D1,,0.5\n"
                                  b"2025-09-02,101,,,0.4\n2025-09-03,101,,0001,0.3\n")
    assert [(i.line, i.column) for i in blank_row.issues.examples] == [(3, "district_id")]
    assert counts(db)["usage_aggregate"] == 0


def engagement(rows: list[str]) -> str:
    return "time,lp_id,pct_access,engagement_index\n" + "\n".join(rows) + "\n"


def test_engagement_files_of_two_districts_never_overwrite_each_other(db) -> None:
    first = engagement(["2020-01-02,13117,0.67,12.5", "2020-01-03,13117,1.2,30"])
    second = engagement(["2020-01-02,13117,5,100", "2020-01-03,13117,7.5,150"])
    for name, text in (("1470.csv", first), ("1536.csv", second)):  # as the table: no district -> rejected
        report = data.import_bytes(db, "usage_aggregate", name, text.encode())
        assert not report.ok and "learnplatform" in report.error_lines()[0]
    assert counts(db)["usage_aggregate"] == 0
    reports = data.import_learnplatform(db, {"products_info.csv": PRODUCTS.encode(),
                                             "engagement_data/1470.csv": first.encode(),
                                             "engagement_data/1536.csv": second.encode()})
    assert all(r.ok for r in reports), [r.error_lines() for r in reports]
    agg = data.read_table(db, "usage_aggregate").set_index(["district_id", "date"])["pct_access"]
    assert len(agg) == 4
    assert agg[("1470", pd.Timestamp("2020-01-02"))] == pytest.approx(0.0067)
    assert agg[("1536", pd.Timestamp("2020-01-02"))] == pytest.approx(0.05)
    said = [w for r in reports for w in r.warnings if "taken from the file name" in w]
    assert len(said) == 2 and "district_id 1470" in said[0]


# --------------------------------------------------------------------------- 3. the LearnPlatform adapter
def bad_export() -> dict[str, bytes]:
    good = engagement(["2020-01-02,13117,0.67,12.5", "2020-01-03,13117,1.2,30", "2020-01-06,20000,3,40"])
    bad = engagement(["2020-01-02,13117,0.5,10", "2020-01-03,13117,abc,10", "2020-01-06,13117,-5,10",
                      "2020-02-30,13117,1,10"])
    return {"products_info.csv": PRODUCTS.encode(), "districts_info.csv": DISTRICTS_INFO.encode(),
            "engagement_data/1470.csv": good.encode(), "engagement_data/1536.csv": bad.encode()}


def test_learnplatform_values_are_checked_per_file_with_its_lines_and_original_text(db) -> None:
    reports = {r.file_name: r for r in data.import_learnplatform(db, bad_export())}
    bad = reports["engagement_data/1536.csv"]
    assert not bad.ok
    assert sorted((i.line, i.column, i.value) for i in bad.issues.examples) == [
        (3, "pct_access", "abc"), (4, "pct_access", "-5"), (5, "date", "2020-02-30")]
    assert bad.error_lines()[0].startswith("engagement_data/1536.csv line 3, column pct_access = 'abc'")
    assert reports["engagement_data/1470.csv"].ok and reports["products_info.csv"].ok
    agg = data.read_table(db, "usage_aggregate")
    assert sorted(agg["district_id"].unique()) == ["1470"] and len(agg) == 3   # nothing of the rejected file


# --------------------------------------------------------------------------- 4. several files: per-file outcome
def write_folder(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_a_folder_with_a_rejected_file_is_partly_imported_or_with_atomic_not_at_all(
        db, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = write_folder(tmp_path / "export", {
        "schools.csv": SCHOOLS, "tools.csv": "tool_id,tool_name,recommended_minutes_per_week\n101,MathQuest,abc\n"})
    assert cli_main(["--db", db_url, "import", "auto", str(folder), "--atomic"]) == 3
    out = capsys.readouterr().out
    assert "schools.csv → schools: 2 rows read, would have stored 2 (2 new, 0 updated); not written" in out
    assert "2 file(s): 1 not written, 1 rejected — nothing was written (--atomic: all files or none)" in out
    assert counts(db)["schools"] == 0 and counts(db)["tools"] == 0

    assert cli_main(["--db", db_url, "import", "auto", str(folder)]) == 4
    out = capsys.readouterr().out
    assert "schools.csv → schools: 2 rows read, stored 2 (2 new, 0 updated)" in out
    assert "2 file(s): 1 imported, 1 rejected — partly imported" in out
    assert counts(db)["schools"] == 2 and counts(db)["tools"] == 0

    fixed = write_folder(tmp_path / "fixed", {"schools.csv": SCHOOLS.replace("South", "Southside"),
                                              "students.csv": STUDENTS, "tools.csv": TOOLS})
    assert cli_main(["--db", db_url, "import", "auto", str(fixed), "--atomic"]) == 0
    assert "3 file(s): 3 imported — all imported" in capsys.readouterr().out
    assert (counts(db)["schools"], counts(db)["students"], counts(db)["tools"]) == (2, 40, 2)


def test_atomic_upload_through_the_service_writes_all_files_or_none(db) -> None:
    files = [data.UploadFile("schools.csv", SCHOOLS.encode()),
             data.UploadFile("students.csv", STUDENTS.replace("000002,0001", "000002,0099").encode())]
    reports = uploads.import_upload(db, files, SYSTEM, atomic=True)
    assert [r.status for r in reports] == ["not written", "rejected"]
    assert counts(db)["schools"] == 0
    assert set(data.import_history(db)["status"]) == {"not written", "rejected"}
    assert "table:schools" not in data.data_versions(db)         # no cache sees a change
    assert list(uploads.reports_frame(reports)["stored"]) == [0, 0]
    reports = uploads.import_upload(db, files, SYSTEM)              # each file on its own
    assert [r.status for r in reports] == ["imported", "rejected"]
    assert counts(db)["schools"] == 2 and counts(db)["students"] == 0


def test_atomic_learnplatform_import_keeps_nothing_when_one_file_is_rejected(db) -> None:
    reports = data.import_learnplatform(db, bad_export(), atomic=True)
    assert [r.status for r in reports] == ["not written", "not written", "rejected"]
    assert counts(db)["tools"] == 0 and counts(db)["usage_aggregate"] == 0
    assert data.load_setting(db, "learnplatform_districts") is None
    reports = data.import_learnplatform(db, {k: v for k, v in bad_export().items() if "1536" not in k}, atomic=True)
    assert [r.status for r in reports] == ["imported", "imported"]
    assert counts(db)["tools"] == 2 and counts(db)["usage_aggregate"] == 3
    assert data.load_setting(db, "learnplatform_districts")["1536"]["pct_black/hispanic"]["mid"] == pytest.approx(0.3)


# --------------------------------------------------------------------------- 5. dry run
def test_a_dry_run_reports_what_the_import_would_store(db) -> None:
    load_roster(db)
    change = "school_id,school_name\n0001,North Campus\n0003,East\n0004,West\n"
    dry = data.import_bytes(db, "schools", "schools.csv", change.encode(), dry_run=True)
    assert "would store 3 (2 new, 1 updated)" in dry.summary()
    assert (dry.status, dry.rows_stored, dry.inserted, dry.updated) == ("checked", 3, 2, 1)
    assert counts(db)["schools"] == 2
    assert data.read_table(db, "schools").set_index("school_id").loc["0001", "school_name"] == "North"

    text, _ = usage_csv()
    dry = data.import_bytes(db, "usage", "usage.csv", text.encode(), dry_run=True)
    assert counts(db)["usage"] == 0
    real = data.import_bytes(db, "usage", "usage.csv", text.encode())
    assert dry.rows_stored > 0
    assert (dry.rows_stored, dry.inserted, dry.updated, dry.notes) == (real.rows_stored, real.inserted,
                                                                       real.updated, real.notes)


def test_a_dry_run_of_several_files_sees_the_earlier_files(db) -> None:
    """Students of a school in the same upload are checked against it (nothing is written)."""
    files = [data.UploadFile("schools.csv", b"school_id,school_name\n0003,East\n"),
             data.UploadFile("students.csv", b"student_id,school_id,grade_level\n900001,0003,5\n900002,0003,6\n")]
    reports = data.import_upload(db, files, dry_run=True)
    assert [(r.ok, r.inserted) for r in reports] == [(True, 1), (True, 2)], [r.error_lines() for r in reports]
    assert [r.status for r in reports] == ["checked", "checked"]
    assert counts(db)["schools"] == 0 and counts(db)["students"] == 0
    assert set(data.import_history(db)["status"]) == {"dry-run"}


def test_the_report_carries_notes_about_folding_into_its_summary() -> None:
    report = data.ImportReport(kind="usage", file_name="u.csv", rows_read=3, rows_stored=2, inserted=2)
    report.notes.append("3 rows → 2 student-days in 2 weeks")
    assert report.summary() == "u.csv → usage: 3 rows read, stored 2 (2 new, 0 updated); 3 rows → 2 student-days in 2 weeks"


# --------------------------------------------------------------------------- 6. counts inside the transaction
def test_counts_are_this_imports_own_while_another_import_commits(db) -> None:
    load_roster(db)
    ours = "school_id,school_name\n0010,A\n0011,B\n0012,C\n"
    theirs = "school_id,school_name\n0020,D\n0021,E\n"
    other: dict = {}

    def start_the_other_import(conn, kind, typed, issues) -> None:   # runs inside our import, before it writes
        if "thread" in other:
            return
        other["thread"] = threading.Thread(target=lambda: other.setdefault(
            "report", data.import_bytes(db, "schools", "theirs.csv", theirs.encode())))
        other["thread"].start()
        other["thread"].join(timeout=1.0)   # it commits now unless our import holds the lock

    report = data.import_bytes(db, "schools", "ours.csv", ours.encode(), row_guard=start_the_other_import)
    other["thread"].join(timeout=60)
    assert (report.inserted, report.updated) == (3, 0)
    assert (other["report"].inserted, other["report"].updated) == (2, 0)
    assert counts(db)["schools"] == 7


# --------------------------------------------------------------------------- 7. a locked database
def test_a_busy_database_is_a_clear_message_not_a_traceback(db, db_url: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "IMPORT_LOCK_WAIT_S", 0.3, raising=False)
    load_roster(db)
    path = tmp_path / "schools.csv"
    path.write_text("school_id,school_name\n0005,Hill\n")
    blocker = db.connect()
    blocker.begin()
    blocker.exec_driver_sql("INSERT INTO schools (school_id, school_name) VALUES ('0099', 'Held')")  # not committed
    release = threading.Timer(3.0, blocker.rollback)
    release.start()
    try:
        assert cli_main(["--db", db_url, "import", "schools", str(path)]) == 1
        err = capsys.readouterr().err
        assert "the database is busy: another import is running; try again" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        app = uploads.import_upload(db, [data.UploadFile("schools.csv", path.read_bytes())], SYSTEM)
        assert [r.ok for r in app] == [False] and "the database is busy" in app[0].error_lines()[0]
    finally:
        release.cancel()
        if blocker.in_transaction():
            blocker.rollback()
        blocker.close()
    assert cli_main(["--db", db_url, "import", "schools", str(path)]) == 0
    assert counts(db)["schools"] == 3
