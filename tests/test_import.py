"""The importer's promises (issue 2 acceptance): all or nothing, named lines and columns, grouped
repeats, idempotent upserts, partial columns, size limit, chunked streaming, skipped references,
uploads of Excel, Parquet, zips, and every encoding/delimiter end to end."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edtech.cli.parser import main as cli_main
from edtech.core import config
from edtech.store import data, usage_days

USAGE_KEY = ["student_id", "tool_id", "week_start"]
STUDENT_IDS = [f"{i:06d}" for i in range(100, 160)]   # 000100 … 000159: leading zeros everywhere

SCHOOLS = "school_id,school_name,level,enrollment,frl_pct,title_i\n0001,North,elementary,400,55,Y\n0002,South,high,900,20,N\n"
STUDENTS = "student_id,school_id,grade_level,frl\n" + "".join(
    f"{sid},{'0001' if i % 2 else '0002'},{['KG', '01', '7', '12'][i % 4]},{'yes' if i % 3 else 'no'}\n"
    for i, sid in enumerate(STUDENT_IDS))
TOOLS = "tool_id,tool_name,recommended_minutes_per_week\n101,MathQuest,60\n102,ReadRight,45\n0103,ZeroTool,\n"


def load_small_district(engine) -> None:
    for kind, text in (("schools", SCHOOLS), ("students", STUDENTS), ("tools", TOOLS)):
        report = data.import_bytes(engine, kind, f"{kind}.csv", text.encode())
        assert report.ok, report.error_lines()


@pytest.fixture
def district(engine):
    load_small_district(engine)
    return engine


def usage_frame(n_rows: int, seed: int = 1) -> pd.DataFrame:
    """Event-level usage in random order (so one student's week is spread over the whole file)."""
    rng = np.random.default_rng(seed)
    day = pd.Timestamp("2025-08-25") + pd.to_timedelta(rng.integers(0, 120, n_rows), unit="D")
    return pd.DataFrame({
        "student_id": rng.choice(STUDENT_IDS, n_rows),
        "tool_id": rng.choice(["101", "102", "0103"], n_rows),
        "date": day.strftime("%Y-%m-%d"),
        "minutes": (rng.integers(0, 240, n_rows) / 4).astype(float),
    })


def weekly(frame: pd.DataFrame) -> pd.DataFrame:
    """What the contract says is stored: sums per student × tool × ISO week (Monday)."""
    dates = pd.to_datetime(frame["date"])
    f = frame.assign(week_start=dates - pd.to_timedelta(dates.dt.day_of_week, unit="D"),
                     minutes=frame["minutes"].astype(float))
    f["sessions"] = (f["minutes"] > 0).astype(int) if "sessions" not in frame else frame["sessions"].astype(int)
    out = f.groupby(USAGE_KEY).agg(minutes=("minutes", "sum"), sessions=("sessions", "sum")).reset_index()
    return out.sort_values(USAGE_KEY, ignore_index=True)


def stored_usage(engine) -> pd.DataFrame:
    return data.read_table(engine, "usage").sort_values(USAGE_KEY, ignore_index=True)[USAGE_KEY + ["minutes", "sessions"]]


def csv_bytes(frame: pd.DataFrame, **kw) -> bytes:
    return frame.to_csv(index=False, **kw).encode(kw.pop("encoding", "utf-8") if "encoding" in kw else "utf-8")


# --------------------------------------------------------------------------- all or nothing (acceptance)
BAD_ROWS = {  # spreadsheet line -> (column, bad text)
    101: ("minutes", "-5"),
    2002: ("tool_id", "999"),
    5003: ("date", "2025-02-30"),
    9004: ("student_id", "123"),   # 000123 written as a number
}


def acceptance_file(tmp_path: Path) -> Path:
    frame = usage_frame(10_000, seed=3).astype(object)
    frame.loc[frame.index[frame["student_id"] == "000123"], "student_id"] = "000124"
    for line, (column, text) in BAD_ROWS.items():
        frame.loc[line - 2, column] = text
    frame.loc[9004 - 2, "student_id"] = "123"
    path = tmp_path / "usage_10000.csv"
    path.write_bytes(csv_bytes(frame))
    return path


def test_acceptance_four_bad_rows_in_10000(district, tmp_path: Path, empty_db_url: str,
                                           capsys: pytest.CaptureFixture) -> None:
    path = acceptance_file(tmp_path)
    before = data.table_counts(district)
    code = cli_main(["--db", empty_db_url, "import", "usage", str(path)])
    err = capsys.readouterr().err
    assert code == 3
    assert data.table_counts(district) == before
    for line, (column, text) in BAD_ROWS.items():
        assert f"usage_10000.csv line {line}, column {column} = '{text}'" in err, err
    report = data.import_file(district, "usage", path)
    assert sorted((i.line, i.column) for i in report.issues.examples) == sorted(
        (line, col) for line, (col, _) in BAD_ROWS.items())
    assert report.rejected == 4 and report.rows_read == 10_000 and report.rows_stored == 0
    assert "nothing was written" in report.summary()
    history = data.import_history(district)
    assert history.iloc[0]["status"] == "rejected" and history.iloc[0]["rows_stored"] == 0


def test_bad_row_in_a_late_chunk_rolls_back_earlier_chunks(district, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "CHUNK_BYTES", 8 << 10)
    path = acceptance_file(tmp_path)
    report = data.import_file(district, "usage", path)
    assert not report.ok
    # line numbers stay spreadsheet lines across chunk boundaries
    assert sorted((i.line, i.column) for i in report.issues.examples) == sorted(
        (line, col) for line, (col, _) in BAD_ROWS.items())
    assert data.table_counts(district)["usage"] == 0


def test_repeated_errors_are_grouped(district) -> None:
    frame = usage_frame(500, seed=4).astype(object)
    frame.loc[10:109, "minutes"] = "-1"            # 100 identical problems
    frame.loc[200, "date"] = "31/02/2025"          # plus one different problem (no such day either way)
    report = data.import_bytes(district, "usage", "usage.csv", csv_bytes(frame))
    assert not report.ok
    lines = report.error_lines()
    assert "80 more rows: minutes is negative" in lines
    assert sum("is negative" in ln and "line" in ln for ln in lines) == 20     # 20 examples, then a count
    assert any("line 202, column date = '31/02/2025'" in ln for ln in lines)
    errors = report.error_frame()
    assert {"file", "line", "column", "value", "reason", "how_to_fix"} <= set(errors.columns)
    assert errors["reason"].str.startswith("80 more rows").sum() == 1
    assert report.rejected == 101


def test_dry_run_checks_but_writes_nothing(district) -> None:
    report = data.import_bytes(district, "usage", "usage.csv", csv_bytes(usage_frame(300)), dry_run=True)
    assert report.ok and report.dry_run and report.rows_read == 300
    assert data.table_counts(district)["usage"] == 0


# --------------------------------------------------------------------------- idempotent upserts
def test_reimport_changes_nothing_and_corrected_file_replaces_rows(district) -> None:
    frame = usage_frame(2000, seed=5)
    payload = csv_bytes(frame)
    first = data.import_bytes(district, "usage", "usage.csv", payload)
    assert first.ok
    pd.testing.assert_frame_equal(stored_usage(district), weekly(frame), check_dtype=False)
    second = data.import_bytes(district, "usage", "usage.csv", payload)
    assert second.ok and second.inserted == 0 and second.updated == first.rows_stored
    pd.testing.assert_frame_equal(stored_usage(district), weekly(frame), check_dtype=False)

    # a corrected file for one student: their weeks are replaced, everybody else is untouched
    one = frame[frame["student_id"] == "000101"].copy()
    one["minutes"] = 1.0
    third = data.import_bytes(district, "usage", "fix.csv", csv_bytes(one))
    assert third.ok and third.inserted == 0
    expected = weekly(frame).set_index(USAGE_KEY)
    fixed = weekly(one).set_index(USAGE_KEY)
    expected.loc[fixed.index, ["minutes", "sessions"]] = fixed[["minutes", "sessions"]]
    pd.testing.assert_frame_equal(stored_usage(district), expected.reset_index(), check_dtype=False)


def test_corrected_school_file_updates_and_absent_columns_are_kept(district) -> None:
    report = data.import_bytes(district, "schools", "fix.csv", b"School ID,Name\n0001,North Elementary\n")
    assert report.ok and report.inserted == 0 and report.updated == 1
    schools = data.read_table(district, "schools").set_index("school_id")
    assert schools.loc["0001", "school_name"] == "North Elementary"
    # columns the file does not carry are not overwritten with blanks
    assert schools.loc["0001", "level"] == "elementary"
    assert schools.loc["0001", "enrollment"] == 400
    assert schools.loc["0001", "frl_pct"] == pytest.approx(0.55)
    assert bool(schools.loc["0001", "title_i"]) is True
    assert len(schools) == 2  # nothing else deleted


def test_blank_optional_value_in_a_carried_column_means_unknown(district) -> None:
    report = data.import_bytes(district, "tools", "t.csv", b"tool_id,tool_name,recommended_minutes_per_week\n101,MathQuest,\n")
    assert report.ok
    tools = data.read_table(district, "tools").set_index("tool_id")
    assert pd.isna(tools.loc["101", "recommended_minutes_per_week"])
    assert tools.loc["102", "recommended_minutes_per_week"] == 45


def test_duplicate_keys_in_one_file_keep_the_last_row(district) -> None:
    report = data.import_bytes(district, "tools", "t.csv", b"tool_id,tool_name\n101,First\n101,Second\n")
    assert report.ok
    assert any("duplicate" in w for w in report.warnings)
    assert data.read_table(district, "tools").set_index("tool_id").loc["101", "tool_name"] == "Second"


# --------------------------------------------------------------------------- limits and streaming
def test_upload_over_the_limit_is_refused_before_parsing(district, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "UPLOAD_LIMIT_MB", 1)
    payload = csv_bytes(usage_frame(40_000))
    assert len(payload) > 1024 * 1024

    def no_parsing(*args, **kwargs):
        raise AssertionError("the file was parsed")

    with monkeypatch.context() as m:
        m.setattr(data, "_raw_chunks", no_parsing)
        m.setattr(data, "sniff_text", no_parsing)
        report = data.import_bytes(district, "usage", "big.csv", payload)
    assert not report.ok
    assert "over the upload limit of 1 MB" in report.error_lines()[0]
    assert data.table_counts(district)["usage"] == 0


def test_command_line_streaming_has_no_size_limit(district, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "UPLOAD_LIMIT_MB", 1)
    path = tmp_path / "big.csv"
    frame = usage_frame(40_000)
    path.write_bytes(csv_bytes(frame))
    assert path.stat().st_size > 1024 * 1024
    report = data.import_file(district, "usage", path)
    assert report.ok, report.error_lines()
    assert report.rows_read == 40_000


@pytest.mark.parametrize("stage_rows", [1_000_000, 10], ids=["days-in-memory", "days-spilled-to-files"])
def test_streaming_in_chunks_stores_the_same_weekly_rows(district, tmp_path: Path, stage_rows: int,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    frame = usage_frame(3000, seed=8)
    path = tmp_path / "usage.csv"
    path.write_bytes(csv_bytes(frame))
    one = data.import_file(district, "usage", path)
    assert one.ok
    whole = stored_usage(district)
    pd.testing.assert_frame_equal(whole, weekly(frame), check_dtype=False)
    with district.begin() as conn:
        conn.exec_driver_sql("DELETE FROM usage")

    monkeypatch.setattr(config, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(usage_days, "SPILL_ROWS", stage_rows)
    calls: list[str] = []
    many = data.import_file(district, "usage", path, progress=lambda frac, msg: calls.append(msg))
    assert many.ok, many.error_lines()
    assert len(calls) > 5, "the file was not read in several chunks"
    pd.testing.assert_frame_equal(stored_usage(district), whole)
    assert many.rows_stored == one.rows_stored == len(whole)
    assert many.inserted == len(whole)


def test_sessions_column_is_summed_and_blank_sessions_default(district) -> None:
    text = ("student_id,tool_id,date,minutes,logins\n"
            "000100,101,2025-09-08,10,3\n000100,101,2025-09-10,5,\n000100,101,2025-09-12,0,\n")
    report = data.import_bytes(district, "usage", "u.csv", text.encode())
    assert report.ok
    row = stored_usage(district).iloc[0]
    assert (row["minutes"], row["sessions"]) == (15.0, 4)   # 3 + default 1 + 0 (no minutes)


def test_skip_unknown_refs_counts_skipped_rows(district, tmp_path: Path, capsys: pytest.CaptureFixture,
                                               empty_db_url: str) -> None:
    frame = usage_frame(400, seed=9)
    frame.loc[[5, 50, 77], "student_id"] = ["999999", "123", "999999"]
    frame.loc[300, "tool_id"] = "nope"
    rejected = data.import_bytes(district, "usage", "u.csv", csv_bytes(frame))
    assert not rejected.ok and rejected.rejected == 4
    report = data.import_bytes(district, "usage", "u.csv", csv_bytes(frame), skip_unknown_refs=True)
    assert report.ok and report.skipped == 4
    assert "4 skipped" in report.summary()
    kept = frame.drop(index=[5, 50, 77, 300])
    pd.testing.assert_frame_equal(stored_usage(district), weekly(kept), check_dtype=False)
    # the same through the command line
    path = tmp_path / "u.csv"
    path.write_bytes(csv_bytes(frame))
    assert cli_main(["--db", empty_db_url, "import", "usage", str(path), "--skip-unknown"]) == 0
    assert "4 skipped" in capsys.readouterr().out


# --------------------------------------------------------------------------- formats end to end
@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_every_encoding_and_delimiter_imports(district, delimiter: str, encoding: str) -> None:
    text = delimiter.join(["Student ID", "School", "Grade", "Gender"]) + "\r\n" + \
        delimiter.join(["000200", "0001", "Kindergarten", "Féminin"]) + "\r\n"
    report = data.import_bytes(district, "students", "s.csv", text.encode(encoding))
    assert report.ok, report.error_lines()
    row = data.read_table(district, "students").set_index("student_id").loc["000200"]
    assert (row["school_id"], row["grade_level"], row["gender"]) == ("0001", "K", "Féminin")


def test_excel_upload(district) -> None:
    buf = io.BytesIO()
    pd.DataFrame({"Student ID": ["000300", "000301"], "School": ["0001", "0002"], "Grade": ["PK", "09"],
                  "IEP": ["Y", None], "Favourite subject": ["art", "maths"]}).to_excel(buf, index=False)
    report = data.import_bytes(district, "students", "roster.xlsx", buf.getvalue())
    assert report.ok, report.error_lines()
    students = data.read_table(district, "students").set_index("student_id")
    assert students.loc["000300", "grade_level"] == "PK" and students.loc["000301", "grade_level"] == "9"
    assert bool(students.loc["000300", "iep"]) is True and pd.isna(students.loc["000301", "iep"])
    assert students.loc["000301", "favourite_subject"] == "maths"


def test_excel_error_lines_match_the_spreadsheet(district) -> None:
    buf = io.BytesIO()
    pd.DataFrame({"student_id": ["000100", "000101"], "tool_id": ["101", "101"],
                  "date": ["2025-09-08", "2025-02-30"], "minutes": [10, 20]}).to_excel(buf, index=False)
    report = data.import_bytes(district, "usage", "u.xlsx", buf.getvalue())
    assert [(i.line, i.column) for i in report.issues.examples] == [(3, "date")]


def test_parquet_upload(district) -> None:
    frame = usage_frame(500, seed=10)
    typed = frame.assign(date=pd.to_datetime(frame["date"]))
    buf = io.BytesIO()
    typed.to_parquet(buf)
    report = data.import_bytes(district, "usage", "usage.parquet", buf.getvalue())
    assert report.ok, report.error_lines()
    pd.testing.assert_frame_equal(stored_usage(district), weekly(frame), check_dtype=False)


def test_zip_of_several_files_in_dependency_order(engine) -> None:
    usage = usage_frame(200, seed=12)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:   # written in the wrong order on purpose
        zf.writestr("export/usage.csv", csv_bytes(usage))
        zf.writestr("export/students.csv", STUDENTS)
        zf.writestr("export/tools.csv", TOOLS)
        zf.writestr("export/schools.csv", SCHOOLS)
        zf.writestr("__MACOSX/._schools.csv", b"\x00\x05junk")
    reports = data.import_upload(engine, [data.UploadFile("district.zip", buf.getvalue())])
    assert [r.kind for r in reports] == ["schools", "students", "tools", "usage"]
    assert all(r.ok for r in reports), [r.error_lines() for r in reports]
    pd.testing.assert_frame_equal(stored_usage(engine), weekly(usage), check_dtype=False)


def test_extra_columns_kept_for_students_and_indicators_warned_otherwise(district) -> None:
    students = data.import_bytes(district, "students", "s.csv",
                                 b"student_id,school_id,grade_level,Reading Level,Bus Route\n000100,0001,3,B,7\n")
    assert students.ok and not students.warnings
    row = data.read_table(district, "students").set_index("student_id").loc["000100"]
    assert row["reading_level"] == "B" and row["bus_route"] == 7
    indicators = data.import_bytes(district, "indicators", "i.csv",
                                   b"student_id,as_of,attendance_rate,failed_next_term\n000100,2026-01-31,0.9,1\n"
                                   b"000101,2026-01-31,0.8,0\n")
    assert indicators.ok
    ind = data.read_table(district, "indicators").set_index("student_id")
    assert ind.loc["000100", "failed_next_term"] == 1 and ind.loc["000101", "failed_next_term"] == 0
    usage = data.import_bytes(district, "usage", "u.csv",
                              b"student_id,tool_id,date,minutes,Shoe Size\n000100,101,2025-09-08,10,42\n")
    assert usage.ok
    assert any("Shoe Size" in w and "ignored" in w for w in usage.warnings)
    assert "shoe_size" not in data.read_table(district, "usage").columns


def test_references_checked_for_licenses_devices_pd_sessions(district) -> None:
    cases = {
        "licenses": (b"tool_id,school_id,seats,annual_cost,start_date,end_date\n101,0099,5,10,2025-07-01,2026-06-30\n",
                     "school_id"),
        "devices": (b"device_id,device_type,purchase_date,purchase_cost,school_id\nD1,laptop,2024-01-01,300,0099\n",
                    "school_id"),
        "pd_sessions": (b"staff_id,school_id,date,hours,tool_id\nT1,0001,2025-09-01,2,999\n", "tool_id"),
        "assessments": (b"student_id,assessment,window,score\n000999,MAP,fall,200\n", "student_id"),
    }
    for kind, (payload, column) in cases.items():
        report = data.import_bytes(district, kind, f"{kind}.csv", payload)
        assert [(i.line, i.column) for i in report.issues.examples] == [(2, column)], kind
        assert data.table_counts(district)[kind] == 0


def test_missing_required_column_and_empty_file(district) -> None:
    report = data.import_bytes(district, "licenses", "l.csv", b"tool_id,seats,start_date,end_date\n101,5,2025-07-01,2026-06-30\n")
    assert [(i.line, i.column) for i in report.issues.examples] == [(1, "annual_cost")]
    assert "cost" in report.error_lines()[0]     # the accepted names are listed
    header_only = data.import_bytes(district, "tools", "t.csv", b"tool_id,tool_name\n")
    assert not header_only.ok or header_only.rows_stored == 0


def test_kept_extra_columns_merge_across_files(engine):
    """A later students file with other extra columns keeps the earlier ones (nothing is lost)."""
    import pandas as pd

    from edtech.store import data

    data.import_frame(engine, "schools", pd.DataFrame({"school_id": ["1"], "school_name": ["A"]}), file_name="s")
    first = pd.DataFrame({"student_id": ["01"], "school_id": ["1"], "grade_level": ["K"], "reading_level": ["B"]})
    second = pd.DataFrame({"student_id": ["01"], "school_id": ["1"], "grade_level": ["1"], "home_language": ["es"]})
    assert data.import_frame(engine, "students", first, file_name="a").ok
    assert data.import_frame(engine, "students", second, file_name="b").ok
    row = data.read_table(engine, "students").iloc[0]
    assert (row["grade_level"], row["reading_level"], row["home_language"]) == ("1", "B", "es")


def test_percent_scale_is_decided_once_per_file(engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A streamed file keeps the first chunk's percent scale; a later 0-100 value is flagged, not misread."""
    import pandas as pd

    from edtech.core import config
    from edtech.store import data

    ids = [f"{i:04d}" for i in range(400)]
    data.import_frame(engine, "schools", pd.DataFrame({"school_id": ["1"], "school_name": ["A"]}), file_name="s")
    students = pd.DataFrame({"student_id": ids, "school_id": "1", "grade_level": "5"})
    assert data.import_frame(engine, "students", students, file_name="st").ok
    rates = ["0.9"] * 399 + ["95"]          # the last row switches to percents
    path = tmp_path / "indicators.csv"
    path.write_text("student_id,as_of,attendance_rate\n" + "".join(
        f"{s},2026-01-31,{r}\n" for s, r in zip(ids, rates, strict=True)))
    monkeypatch.setattr(config, "CHUNK_BYTES", 4096)
    report = data.import_file(engine, "indicators", path)
    assert not report.ok
    assert [(i.line, i.column) for i in report.issues.examples] == [(401, "attendance_rate")]
    assert "earlier rows" in report.issues.examples[0].reason
    monkeypatch.setattr(config, "CHUNK_BYTES", 16 << 20)   # one chunk: the whole column is 0-100
    whole = data.import_file(engine, "indicators", path)
    assert whole.ok
    assert data.read_table(engine, "indicators")["attendance_rate"].max() == pytest.approx(0.95)


def test_indicators_without_as_of_use_the_data_date_and_reimport_changes_nothing(sample_db_url, tmp_path, capsys):
    """v2: a missing as_of is the data's as-of date (stated), never the wall clock; exit 0, idempotent."""
    import sqlite3

    path = tmp_path / "indicators.csv"
    path.write_text("student_id,attendance_rate,gpa\n001937,0.95,3.1\n")
    assert cli_main(["import", "indicators", str(path), "--db", sample_db_url]) == 0
    out = capsys.readouterr().out
    assert "rows without as_of are dated 2026-06-07, the data's as-of date" in out
    assert cli_main(["import", "indicators", str(path), "--db", sample_db_url]) == 0
    assert "0 new, 1 updated" in capsys.readouterr().out
    rows = sqlite3.connect(sample_db_url.removeprefix("sqlite:///")).execute(
        "SELECT as_of, gpa FROM indicators WHERE student_id = '001937' AND gpa IS NOT NULL").fetchall()
    assert len(rows) == 1 and str(rows[0][0]).startswith("2026-06-07") and rows[0][1] == 3.1
