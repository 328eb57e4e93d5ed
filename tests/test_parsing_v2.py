"""Issue 13, "the parser never bends data" (contract v2): each case here failed on the code before it.

Shifted columns, European decimals, day-first dates, inputs that crashed the importer and messages
that did not say what to do. A file is read exactly, or rejected with its lines named and nothing
written; where the file cannot say how it is written (`12.500`, `03/04/2025`), the assumption is a
warning that names the override.
"""

from __future__ import annotations

import io
import os
import threading
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from edtech.cli.parser import main as cli_main
from edtech.core import config
from edtech.core.access import SYSTEM
from edtech.services import uploads
from edtech.store import data

SCHOOLS = "school_id,school_name\n0001,North\n0002,South\n"
STUDENTS = "student_id,school_id,grade_level\n000101,0001,3\n000102,0002,7\n"
TOOLS = "tool_id,tool_name\n101,MathQuest\n102,ReadRight\n"
LICENSE_HEADER = "tool_id,seats,annual_cost,start_date,end_date\n"


def load(engine, kind: str, text: str | bytes, name: str | None = None, **kw) -> data.ImportReport:
    payload = text.encode() if isinstance(text, str) else text
    return data.import_bytes(engine, kind, name or f"{kind}.csv", payload, **kw)


@pytest.fixture
def district(engine):
    for kind, text in (("schools", SCHOOLS), ("students", STUDENTS), ("tools", TOOLS)):
        report = load(engine, kind, text)
        assert report.ok, report.error_lines()
    return engine


def where(report: data.ImportReport) -> list[tuple[int | None, str | None, str]]:
    return [(i.line, i.column, i.reason) for i in report.issues.examples]


def licenses(engine) -> pd.DataFrame:
    return data.read_table(engine, "licenses").set_index("tool_id")


# --------------------------------------------------------------------------- 1. shifted columns
def test_leading_fields_never_become_an_index(engine) -> None:
    """`0982,Real Name,note,` under a 2-column header was stored as school_id "Real Name"."""
    report = load(engine, "schools", "school_id,school_name\n0982,Real Name,note,\n0983,Other\n")
    assert not report.ok
    assert [(line, reason.split(" (")[0]) for line, _, reason in where(report)] == [
        (2, "has more values than the header has columns")]
    assert "line 2 = '0982,Real Name,note,'" in report.error_lines()[0]
    assert data.table_counts(engine)["schools"] == 0


def test_an_unquoted_delimiter_is_an_error_not_a_join(engine) -> None:
    """`0950,Smith, John Elementary,D042` was stored with " John Elementary,D042" as the district."""
    text = ("school_id,school_name,district_id\n0949,\"Smith, Jane Elementary\",D042\n"
            "0950,Smith, John Elementary,D042\n")
    report = load(engine, "schools", text)
    assert not report.ok
    assert [line for line, _, _ in where(report)] == [3]
    assert "put quotes around a value that contains the delimiter" in report.error_lines()[0]
    assert data.table_counts(engine)["schools"] == 0
    fixed = load(engine, "schools", text.replace("0950,Smith, John Elementary", '0950,"Smith, John Elementary"'))
    assert fixed.ok, fixed.error_lines()
    stored = data.read_table(engine, "schools").set_index("school_id")
    assert stored.loc["0950", "school_name"] == "Smith, John Elementary"
    assert stored.loc["0950", "district_id"] == "D042"


def test_blank_surplus_fields_are_a_trailing_delimiter_not_data(engine) -> None:
    report = load(engine, "schools", "school_id,school_name\n0001,North,,\n0002,South,\n")
    assert report.ok, report.error_lines()
    assert data.read_table(engine, "schools")["school_name"].tolist() == ["North", "South"]


def test_a_surplus_row_after_the_first_block_is_named_too(engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast reader stops at the first long row; the exact reader names it, whatever the chunking."""
    monkeypatch.setattr(config, "CHUNK_BYTES", 2 << 10)
    rows = "".join(f"{i:04d},School {i}\n" for i in range(1, 400))
    report = load(engine, "schools", "school_id,school_name\n" + rows + "0400,Last, One\n")
    assert [line for line, _, _ in where(report)] == [401]


def test_cli_exit_3_for_a_shifted_row(tmp_path: Path, empty_db_url: str, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "schools.csv"
    path.write_text("school_id,school_name\n0982,Real Name,note,\n")
    assert cli_main(["--db", empty_db_url, "import", "schools", str(path)]) == 3
    assert "schools.csv line 2" in capsys.readouterr().err


# --------------------------------------------------------------------------- 2. European decimals
def test_comma_decimal_money_is_not_read_a_thousand_times_too_small(district) -> None:
    report = load(district, "licenses", LICENSE_HEADER + '101,10,"1.234,50",2025-07-01,2026-06-30\n')
    assert report.ok, report.error_lines()
    assert licenses(district).loc["101", "annual_cost"] == 1234.5
    assert "decimal separator ','" in report.summary()


def test_an_ambiguous_value_follows_the_files_other_values(district) -> None:
    """`12.500` alone could be either; another column of the file writes `1.234,50`: twelve thousand five hundred."""
    report = load(district, "licenses", "tool_id,seats,annual_cost,pd_cost,start_date,end_date\n"
                  '101,10,12.500,"1.234,50",2025-07-01,2026-06-30\n')
    assert report.ok, report.error_lines()
    assert licenses(district).loc["101", "annual_cost"] == 12500.0
    assert report.warnings == []


def test_an_ambiguous_file_is_read_with_a_point_and_says_so(district) -> None:
    report = load(district, "licenses", LICENSE_HEADER + "101,10,12.500,2025-07-01,2026-06-30\n")
    assert report.ok, report.error_lines()
    assert licenses(district).loc["101", "annual_cost"] == 12.5
    [warning] = [w for w in report.warnings if "decimal" in w]
    assert "'12.500' (annual_cost, line 2)" in warning and "--decimal ," in warning
    forced = load(district, "licenses", LICENSE_HEADER + "101,10,12.500,2025-07-01,2026-06-30\n", decimal=",")
    assert forced.ok and licenses(district).loc["101", "annual_cost"] == 12500.0
    assert "(--decimal ,)" in forced.summary()


def test_a_file_with_both_separators_is_rejected_naming_the_lines(district) -> None:
    report = load(district, "licenses", LICENSE_HEADER + "101,10,1500.75,2025-07-01,2026-06-30\n"
                  '102,5,"99,5",2025-07-01,2026-06-30\n')
    assert not report.ok
    [(line, column, reason)] = where(report)
    assert (line, column) == (3, "annual_cost")
    assert reason.startswith("uses ',' as the decimal separator, but line 2 (annual_cost '1500.75')")
    assert data.table_counts(district)["licenses"] == 0


def test_decimal_flag_on_the_cli_and_the_data_page(district, empty_db_url: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "licenses.csv"
    path.write_text("tool_id;seats;annual_cost;start_date;end_date\n101;10;12.500;2025-07-01;2026-06-30\n")
    assert cli_main(["--db", empty_db_url, "import", "licenses", str(path), "--decimal", ","]) == 0
    assert "decimal separator ','" in capsys.readouterr().out
    assert licenses(district).loc["101", "annual_cost"] == 12500.0
    page = uploads.import_upload(district, [data.UploadFile("licenses.csv", path.read_bytes())], SYSTEM, decimal=".")
    assert page[0].ok and licenses(district).loc["101", "annual_cost"] == 12.5


# --------------------------------------------------------------------------- 3. day-first dates
def test_day_first_file_is_read_day_first_and_says_so(district) -> None:
    report = load(district, "licenses", LICENSE_HEADER + "101,10,100,01/07/2025,30/06/2026\n")
    assert report.ok, report.error_lines()
    row = licenses(district).loc["101"]
    assert (row["start_date"], row["end_date"]) == (pd.Timestamp("2025-07-01"), pd.Timestamp("2026-06-30"))
    assert "dates read day-first (DD/MM/YYYY), as line 2 (end_date '30/06/2026') shows" in report.summary()


def test_a_file_that_cannot_tell_is_month_first_with_a_warning(district) -> None:
    report = load(district, "licenses", LICENSE_HEADER + "101,10,100,03/04/2025,04/05/2026\n")
    assert report.ok, report.error_lines()
    assert licenses(district).loc["101", "start_date"] == pd.Timestamp("2025-03-04")
    [warning] = report.warnings
    assert "month-first" in warning and "--date-order dmy" in warning and "'03/04/2025'" in warning
    forced = load(district, "licenses", LICENSE_HEADER + "102,10,100,03/04/2025,04/05/2026\n", date_order="dmy")
    assert forced.ok and forced.warnings == []
    assert licenses(district).loc["102", "start_date"] == pd.Timestamp("2025-04-03")


def test_a_file_that_proves_both_orders_is_an_error(district) -> None:
    report = load(district, "licenses", LICENSE_HEADER + "101,10,100,13/07/2025,14/07/2026\n"
                  "102,10,100,07/01/2025,07/30/2026\n")
    assert not report.ok
    [(line, column, reason)] = where(report)
    assert (line, column) == (3, "end_date")
    assert reason.startswith("reads only as month-first (MM/DD/YYYY), but line 2 (start_date '13/07/2025')")
    assert data.table_counts(district)["licenses"] == 0


def test_an_assumption_contradicted_in_a_later_chunk_is_an_error(district, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long file's first chunk could not tell and was read month-first: a later day-first date
    cannot be read the other way any more, so the file is rejected (never half one way)."""
    monkeypatch.setattr(config, "CHUNK_BYTES", 2 << 10)
    rows = "".join("000101,101,03/04/2025,5\n" for _ in range(300)) + "000101,101,25/04/2025,5\n"
    report = load(district, "usage", "student_id,tool_id,date,minutes\n" + rows)
    assert not report.ok
    [(line, column, reason)] = where(report)
    assert (line, column) == (302, "date")
    assert "earlier rows of this file were read as month-first" in reason and "--date-order" in reason


def test_date_order_flag_on_the_cli(district, empty_db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text("student_id,tool_id,date,minutes\n000101,101,08/09/2025,30\n")
    assert cli_main(["--db", empty_db_url, "import", "usage", str(path), "--date-order", "dmy"]) == 0
    assert data.read_table(district, "usage")["week_start"].tolist() == [pd.Timestamp("2025-09-08")]


# --------------------------------------------------------------------------- 4. crashes become clean errors
def test_trailing_blank_lines_and_empty_fields_do_not_reject_a_valid_file(district) -> None:
    report = load(district, "usage", "student_id,tool_id,date,minutes\n000101,101,2025-09-08,30\n\n,,,\n\n")
    assert report.ok, report.error_lines()
    assert report.rows_read == 1


def test_a_blank_line_keeps_the_line_numbers(district) -> None:
    report = load(district, "usage", "student_id,tool_id,date,minutes\n\n000101,101,2025-09-08,-5\n")
    assert [(line, column) for line, column, _ in where(report)] == [(3, "minutes")]


@pytest.mark.parametrize("line", [2, 3])
def test_a_value_over_128_kb_is_an_error_naming_the_line(engine, line: int) -> None:
    rows = ["0001,North", "0002,South"]
    rows[line - 2] = "0009," + "x" * 200_000
    report = load(engine, "schools", "school_id,school_name\n" + "\n".join(rows) + "\n")
    assert not report.ok
    assert [(i.line, i.column) for i in report.issues.examples] == [(line, "school_name")]
    assert "is longer than 131,072 characters" in report.error_lines()[0]
    assert data.table_counts(engine)["schools"] == 0


def test_a_header_over_128_kb_is_an_error_naming_line_1(engine) -> None:
    report = load(engine, "schools", "school_id," + "n" * 200_000 + "\n0001,North\n")
    assert not report.ok and "line 1 (the header)" in report.error_lines()[0]


def test_a_quote_never_closed_is_named(engine) -> None:
    report = load(engine, "schools", 'school_id,school_name\n0001,"North\n0002,South\n')
    assert not report.ok
    assert [line for line, _, _ in where(report)] == [2]
    assert 'opens a quote (") that is never closed' in report.error_lines()[0]


def test_a_nul_byte_is_an_error_naming_the_line(engine) -> None:
    report = load(engine, "schools", b"school_id,school_name\n0001,North\n0002,So\x00uth\n")
    assert not report.ok
    assert where(report) == [(3, "school_name", "contains a NUL byte (\\x00)")]
    assert data.table_counts(engine)["schools"] == 0


@pytest.mark.postgres
def test_a_nul_byte_is_an_error_on_postgresql_too(pg_engine) -> None:
    report = load(pg_engine, "schools", b"school_id,school_name\n0001,North\n0002,So\x00uth\n")
    assert where(report) == [(3, "school_name", "contains a NUL byte (\\x00)")]
    assert data.table_counts(pg_engine)["schools"] == 0


def test_a_windows_1252_byte_after_the_first_megabyte(engine) -> None:
    body = b"".join(b"%05d,School %d\n" % (i, i) for i in range(1, 90_000))
    assert len(body) > formats_sniff_bytes()
    report = load(engine, "schools", b"school_id,school_name\n" + body + b"99999,Caf\xe9 Elementary\n")
    assert report.ok, report.error_lines()
    stored = data.read_table(engine, "schools").set_index("school_id")
    assert stored.loc["99999", "school_name"] == "Café Elementary"
    assert any("read as Windows-1252" in w and "90,001" in w for w in report.warnings)


def test_mixed_encodings_are_an_error_naming_the_line(engine) -> None:
    body = b"".join(b"%05d,School %d\n" % (i, i) for i in range(1, 90_000))
    text = "school_id,school_name\n00000,Zoë\n".encode() + body + b"99999,Caf\xe9\n"
    report = load(engine, "schools", text)
    assert not report.ok
    [(line, column, reason)] = where(report)
    assert (line, column) == (90_002, "school_name")
    assert reason.startswith("has a byte (0xE9) that is not UTF-8")


def formats_sniff_bytes() -> int:
    from edtech.ingest.formats import SNIFF_BYTES

    return SNIFF_BYTES


def _pipe(payload: bytes) -> str:
    """A path that reads like /dev/stdin fed by a pipe (not seekable)."""
    read_end, write_end = os.pipe()

    def feed() -> None:
        with os.fdopen(write_end, "wb") as out:
            out.write(payload)

    threading.Thread(target=feed, daemon=True).start()
    return f"/dev/fd/{read_end}"


def test_a_pipe_is_imported(empty_db_url: str, capsys: pytest.CaptureFixture) -> None:
    path = _pipe(SCHOOLS.encode())
    try:
        assert cli_main(["--db", empty_db_url, "import", "auto", path]) == 0
    finally:
        os.close(int(path.rsplit("/", 1)[1]))
    engine = data.make_engine(empty_db_url)
    assert data.table_counts(engine)["schools"] == 2
    engine.dispose()


# --------------------------------------------------------------------------- 5. messages
def _ods() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", compress_type=zipfile.ZIP_STORED)
        zf.writestr("content.xml", "<office:document-content/>")
    return buf.getvalue()


@pytest.mark.parametrize(("name", "payload", "said"), [
    ("schools.ods", _ods(), ".ods (OpenDocument) is not supported — save it as .xlsx or CSV"),
    ("schools.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), ".xls (Excel 97-2003) is not supported — "
     "open it in Excel or LibreOffice, save it as .xlsx"),
])
def test_unsupported_spreadsheets_say_what_to_save_them_as(engine, name: str, payload: bytes, said: str) -> None:
    for report in (load(engine, "schools", payload, name), *data.import_upload(engine, [data.UploadFile(name, payload)])):
        assert not report.ok
        assert said in "\n".join(report.error_lines()), report.error_lines()


def test_utf16_with_a_byte_order_mark_is_read(engine) -> None:
    report = load(engine, "schools", "school_id\tschool_name\n0001\tZoë Elementary\n".encode("utf-16"))
    assert report.ok, report.error_lines()
    assert data.read_table(engine, "schools")["school_name"].tolist() == ["Zoë Elementary"]


def test_formula_cells_without_a_saved_result_are_named(district) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["student_id", "tool_id", "date", "minutes"])
    sheet.append(["000101", "101", "2025-09-08", "=10*3"])      # openpyxl saves no result
    sheet.append(["000102", "101", "2025-09-08", 20])
    buf = io.BytesIO()
    book.save(buf)
    report = load(district, "usage", buf.getvalue(), "usage.xlsx")
    assert any("column 'minutes' (D2)" in w and "formulas with no saved result" in w for w in report.warnings)
    assert not report.ok and where(report) == [(2, "minutes", "is required but blank")]


def test_each_fix_is_said_once(district) -> None:
    rows = "".join(f"000101,101,2025-09-0{d},-5\n" for d in range(1, 5))
    lines = load(district, "usage", "student_id,tool_id,date,minutes\n" + rows).error_lines()
    assert len(lines) == 4
    assert sum("correct the value" in ln for ln in lines) == 1


def test_the_preview_shows_how_dates_and_numbers_will_be_read() -> None:
    [preview] = uploads.preview_upload([data.UploadFile("licenses.csv", (LICENSE_HEADER + "101,10,100,03/04/2025,"
                                                                         "04/05/2026\n").encode())], date_order="dmy")
    assert preview.reading == "dates read day-first (DD/MM/YYYY) (--date-order dmy)"
    [guessed] = uploads.preview_upload([data.UploadFile("licenses.csv", (LICENSE_HEADER + "101,10,100,03/04/2025,"
                                                                         "04/05/2026\n").encode())])
    assert "assumed" in guessed.reading and "--date-order dmy" in guessed.reading_warnings[0]


@pytest.mark.parametrize("block_bytes", [2 << 10, 64 << 20])
def test_trailing_delimiters_on_every_row_read_the_same_table(block_bytes: int) -> None:
    """Exports that end every row with a delimiter are read by the fast reader with room for the blank
    fields: the same table as without them, whatever the chunking; a filled extra field is still named."""
    from edtech.ingest import formats

    rows = [f"{i:05d};School {i};D{i % 3}" for i in range(1, 600)]
    plain = ("school_id;school_name;district_id\n" + "\n".join(rows) + "\n").encode()
    trailing = ("school_id;school_name;district_id\n" + "\n".join(r + ";;" for r in rows) + "\n").encode()

    def read(payload: bytes) -> tuple[pd.DataFrame, list]:
        chunks = list(formats.iter_csv_chunks(io.BytesIO(payload), formats.sniff_text(payload), block_bytes=block_bytes))
        return pd.concat(chunks), [p for c in chunks for p in c.attrs.get(formats.ROW_PROBLEMS, [])]

    want, _ = read(plain)
    got, problems = read(trailing)
    pd.testing.assert_frame_equal(got, want)
    assert problems == []
    filled = trailing.replace(b"00400;School 400;D1;;", b"00400;School 400;D1;;x")
    got, problems = read(filled)
    assert [line for line, *_ in problems] == [401] and 401 not in got.index and len(got) == len(want) - 1


def test_a_nul_byte_in_a_kept_extra_column_is_an_error(engine) -> None:
    """Students keep unknown columns as text: a NUL there (from a workbook or Parquet file) is named too."""
    assert load(engine, "schools", SCHOOLS).ok
    buf = io.BytesIO()
    pd.DataFrame({"student_id": ["000101", "000102"], "school_id": ["0001", "0001"], "grade_level": ["3", "4"],
                  "reading_level": ["B\x00", "C"]}).to_parquet(buf)
    report = load(engine, "students", buf.getvalue(), "students.parquet")
    assert where(report) == [(2, "reading_level", "contains a NUL byte (\\x00)")]
    assert data.table_counts(engine)["students"] == 0


@pytest.mark.parametrize(("payload", "said"), [
    ("school_id,school_name\n0001,North\n".encode("utf-16") + b"\x35", "line 3, column school_id = '\ufffd': has bytes that are not UTF-16"),   # cut mid-character
    (b"\nschool_id,school_name\n0001,North\n", "line 1 is blank: the header must be the first line"),
])
def test_damaged_shapes_are_refused_cleanly(engine, payload: bytes, said: str) -> None:
    report = load(engine, "schools", payload)
    assert not report.ok and said in "\n".join(report.error_lines()), report.error_lines()
    assert data.table_counts(engine)["schools"] == 0
