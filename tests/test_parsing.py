"""Every rule of the data contract at the level of one column or one file's bytes.

contract.py (aliases, header normalisation), parsing.py (type rules) and formats.py
(encodings, delimiters, Excel, Parquet) — no database involved.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from edtech.ingest import contract as ct
from edtech.ingest import formats
from edtech.ingest.parsing import parse_column, parse_date_text

ALIAS_CASES = [(t.name, col.name, alias) for t in ct.TABLES.values() for col in t.columns for alias in col.aliases]
CANONICAL_CASES = [(t.name, col.name) for t in ct.TABLES.values() for col in t.columns]


def col(type_: str, **kw) -> ct.Column:
    return ct.Column("x", type_, **kw)


def parse(values: list, type_: str, **kw):
    return parse_column(pd.Series(values, dtype="object"), col(type_, **kw))


# --------------------------------------------------------------------------- headers and aliases
@pytest.mark.parametrize(("kind", "column", "alias"), ALIAS_CASES)
def test_every_alias_maps_to_its_column(kind: str, column: str, alias: str) -> None:
    table = ct.TABLES[kind]
    # written the way a spreadsheet would: title case, spaces instead of underscores, padded
    header = "  " + alias.replace("_", " ").title() + " "
    mapping, unknown = ct.map_columns([header], table)
    assert mapping == {header: column}
    assert unknown == []


@pytest.mark.parametrize(("kind", "column"), CANONICAL_CASES)
def test_canonical_name_wins_over_alias(kind: str, column: str) -> None:
    table = ct.TABLES[kind]
    c = table.column(column)
    headers = ([c.aliases[0]] if c.aliases else []) + [column.upper()]
    mapping, unknown = ct.map_columns(headers, table)
    assert mapping[column.upper()] == column
    if c.aliases:
        # the alias did not steal the column, so it is left over (unknown) unless it is another column's name
        assert c.aliases[0] not in mapping or mapping[c.aliases[0]] != column


@pytest.mark.parametrize("raw", ["School ID", "school-id", "SCHOOL/ID", " school_id ", "\ufeffSchool Id", "school  id"])
def test_header_normalisation(raw: str) -> None:
    assert ct.normalize_header(raw) == "school_id"


def test_unknown_headers_are_reported() -> None:
    mapping, unknown = ct.map_columns(["student_id", "Shoe Size", "tool_id"], ct.TABLES["usage"])
    assert unknown == ["Shoe Size"]
    assert set(mapping.values()) == {"student_id", "tool_id"}


@pytest.mark.parametrize(("headers", "kind"), [
    (["School ID", "Name", "Level"], "schools"),
    (["student_id", "school_id", "grade"], "students"),
    (["user_id", "app_id", "timestamp", "duration_min"], "usage"),
    (["tool_id", "seats", "annual_cost", "start_date", "end_date"], "licenses"),
    (["device_id", "device_type", "purchase_date", "purchase_cost"], "devices"),
])
def test_guess_kind(headers: list[str], kind: str) -> None:
    assert ct.guess_kind(headers) == kind


# --------------------------------------------------------------------------- IDs and text
def test_ids_keep_leading_zeros_and_are_trimmed() -> None:
    p = parse(["000123", " 0042 ", "123", None, ""], ct.ID)
    assert [None if pd.isna(v) else v for v in p.values] == ["000123", "0042", "123", None, None]
    assert not p.bad.any()


def test_required_blank_is_an_error() -> None:
    p = parse(["a", "", None, "  "], ct.ID, required=True)
    assert list(p.bad) == [False, True, True, True]
    assert p.reasons.iloc[1] == "is required but blank"


# --------------------------------------------------------------------------- dates
@pytest.mark.parametrize(("text", "expected"), [
    ("2025-09-08", "2025-09-08"),
    ("2025-09-08T08:15:00", "2025-09-08"),
    ("2025-09-08T08:15", "2025-09-08"),
    ("2025-09-08 23:59:59", "2025-09-08"),
    ("2025-09-08T08:15:00Z", "2025-09-08"),
    ("09/08/2025", "2025-09-08"),
    ("9/8/2025", "2025-09-08"),
    ("02/29/2024", "2024-02-29"),
])
def test_dates_accepted(text: str, expected: str) -> None:
    p = parse([text], ct.DATE)
    assert not p.bad.any(), p.reasons.tolist()
    assert p.values.iloc[0] == pd.Timestamp(expected)
    assert str(p.values.dtype) == "datetime64[ns]"


@pytest.mark.parametrize(("text", "reason"), [
    ("2025-02-30", "is not a real calendar date"),
    ("02/29/2025", "is not a real calendar date"),
    ("13/13/2025", "is not a real calendar date"),   # neither order is a date
    ("31/02/2025", "is not a real calendar date"),
    ("2025-13-01", "is not a real calendar date"),
    ("08.09.2025", "is not a date"),
    ("Sept 8 2025", "is not a date"),
    ("2025/09/08", "is not a date"),
    ("25-09-08", "is not a date"),
    ("45908", "is not a date"),                      # an Excel serial number is not guessed either
])
def test_impossible_and_ambiguous_dates_rejected(text: str, reason: str) -> None:
    p = parse([text], ct.DATE)
    assert p.bad.iloc[0]
    assert p.reasons.iloc[0].startswith(reason)
    with pytest.raises(ValueError):
        parse_date_text(text)


def test_a_column_alone_is_read_in_the_order_its_values_prove() -> None:
    """Contract v2: a first number over 12 proves day-first (a column parsed alone is its own file);
    one value parsed without its file is month-first."""
    p = parse(["13/01/2025", "02/03/2025"], ct.DATE)
    assert not p.bad.any(), p.reasons.tolist()
    assert p.values.tolist() == [pd.Timestamp("2025-01-13"), pd.Timestamp("2025-03-02")]
    with pytest.raises(ValueError):
        parse_date_text("13/01/2025")
    assert parse_date_text("13/01/2025", "dmy") == pd.Timestamp("2025-01-13")


def test_blank_optional_date_is_missing_not_error() -> None:
    p = parse(["", None, "2025-01-02"], ct.DATE)
    assert not p.bad.any()
    assert p.values.isna().tolist() == [True, True, False]


# --------------------------------------------------------------------------- numbers, money, percent
@pytest.mark.parametrize(("text", "value"), [
    ("$12,500.00", 12500.0), (" 1999.5 ", 1999.5), ("12500", 12500.0), ("$ 3,000", 3000.0), ("0", 0.0),
    ("1,234,567.89", 1234567.89),
])
def test_money_strings(text: str, value: float) -> None:
    p = parse([text], ct.MONEY, min=0)
    assert not p.bad.any(), p.reasons.tolist()
    assert p.values.iloc[0] == value


@pytest.mark.parametrize("text", ["twelve", "12 USD", "€12", "$-", "1.2.3"])
def test_bad_money(text: str) -> None:
    p = parse([text], ct.MONEY)
    assert p.bad.iloc[0] and p.reasons.iloc[0] == "is not a number"


def test_plain_numbers_do_not_accept_money_signs() -> None:
    p = parse(["$5", "5", "1,000"], ct.NUMBER)
    assert p.bad.tolist() == [True, False, True]


def test_number_bounds() -> None:
    minutes = ct.TABLES["usage"].column("minutes")
    p = parse_column(pd.Series(["-5", "0", "1440", "1440.5", "abc", None]), minutes)
    assert p.reasons.tolist() == ["is negative", None, None, "is above the maximum of 1440", "is not a number",
                                  "is required but blank"]


def test_exclusive_minimum() -> None:
    seats = ct.TABLES["licenses"].column("seats")
    p = parse_column(pd.Series(["0", "1", "-1"]), seats)
    assert p.reasons.tolist() == ["must be greater than 0", None, "must be greater than 0"]


def test_integers_must_be_whole() -> None:
    p = parse(["3", "3.0", "3.5", " 7 "], ct.INT)
    assert p.bad.tolist() == [False, False, True, False]
    assert p.reasons.iloc[2] == "is not a whole number"
    assert p.values.iloc[3] == 7


def test_percent_as_share_stays() -> None:
    p = parse(["0.62", "0.35", "1", "0", None], ct.PERCENT)
    assert not p.bad.any()
    assert p.values.tolist()[:4] == [0.62, 0.35, 1.0, 0.0]


def test_percent_0_100_read_as_share() -> None:
    p = parse(["62", "35", "0.5", "100"], ct.PERCENT)
    assert not p.bad.any()
    np.testing.assert_allclose(p.values.to_numpy(), [0.62, 0.35, 0.005, 1.0])


@pytest.mark.parametrize("values", [["150", "20"], ["-0.2", "0.5"]])
def test_percent_out_of_range(values: list[str]) -> None:
    p = parse(values, ct.PERCENT)
    assert p.bad.iloc[0]
    assert p.reasons.iloc[0].startswith("is not a percent")


# --------------------------------------------------------------------------- booleans
TRUE_SPELLINGS = ["true", "TRUE", "True", "yes", "Yes", "YES", "y", "Y", "1", "t", "T", " yes "]
FALSE_SPELLINGS = ["false", "FALSE", "False", "no", "No", "NO", "n", "N", "0", "f", "F", " n "]


@pytest.mark.parametrize("text", TRUE_SPELLINGS)
def test_true_spellings(text: str) -> None:
    p = parse([text], ct.BOOL)
    assert not p.bad.any()
    assert bool(p.values.iloc[0]) is True


@pytest.mark.parametrize("text", FALSE_SPELLINGS)
def test_false_spellings(text: str) -> None:
    p = parse([text], ct.BOOL)
    assert not p.bad.any()
    assert bool(p.values.iloc[0]) is False


def test_blank_boolean_is_unknown() -> None:
    p = parse(["", None, "  ", "yes"], ct.BOOL)
    assert not p.bad.any()
    assert str(p.values.dtype) == "boolean"
    assert p.values.isna().tolist() == [True, True, True, False]


@pytest.mark.parametrize("text", ["maybe", "2", "on", "si", "-1", "yess"])
def test_bad_booleans(text: str) -> None:
    p = parse([text], ct.BOOL)
    assert p.bad.iloc[0] and p.reasons.iloc[0].startswith("is not a yes/no value")


# --------------------------------------------------------------------------- grades and enums
@pytest.mark.parametrize(("text", "grade"), [
    ("KG", "K"), ("kg", "K"), ("K", "K"), ("Kindergarten", "K"), ("kindergarten", "K"), ("00", "K"),
    ("PK", "PK"), ("pk", "PK"), ("PreK", "PK"), ("Pre-K", "PK"), ("TK", "PK"),
    ("01", "1"), ("1", "1"), ("07", "7"), ("7", "7"), ("12", "12"), (" 09 ", "9"),
])
def test_grades(text: str, grade: str) -> None:
    p = parse([text], ct.GRADE, required=True)
    assert not p.bad.any(), p.reasons.tolist()
    assert p.values.iloc[0] == grade


@pytest.mark.parametrize("text", ["13", "14", "-1", "first", "1st", "K5", "3.5"])
def test_bad_grades(text: str) -> None:
    p = parse([text], ct.GRADE, required=True)
    assert p.bad.iloc[0] and p.reasons.iloc[0].startswith("is not a grade")


def test_enum_is_case_and_space_insensitive() -> None:
    level = ct.TABLES["schools"].column("level")
    p = parse_column(pd.Series(["Elementary", " MIDDLE ", "k8", "K 12", "K-12", "college", None]), level)
    assert p.values.tolist()[:5] == ["elementary", "middle", "k8", "k12", "k12"]
    assert p.bad.tolist() == [False, False, False, False, False, True, False]
    assert p.reasons.iloc[5].startswith("is not one of elementary, middle")


@pytest.mark.parametrize(("kind", "column", "good", "bad"), [
    ("tools", "privacy_status", "Signed DPA", "signed"),
    ("tools", "accessibility", "WCAG AA", "AA"),
    ("devices", "device_type", "Chromebook", "phone"),
    ("devices", "status", "Retired", "broken"),
    ("funding", "restricted_to", "PD", "food"),
])
def test_enums(kind: str, column: str, good: str, bad: str) -> None:
    p = parse_column(pd.Series([good, bad]), ct.TABLES[kind].column(column))
    assert p.bad.tolist() == [False, True]


def test_repeated_values_are_parsed_once_but_reported_per_row() -> None:
    raw = pd.Series(["2025-02-30"] * 5 + ["2025-03-01"] * 5)
    p = parse_column(raw, ct.TABLES["usage"].column("date"))
    assert int(p.bad.sum()) == 5
    assert p.values.iloc[5:].eq(pd.Timestamp("2025-03-01")).all()


# --------------------------------------------------------------------------- formats: bytes -> text tables
def _read(data: bytes, name: str = "t.csv") -> pd.DataFrame:
    return formats.read_table_bytes(name, data)


TEXT_TABLE = "student_id{d}school_id{d}gender\n000123{d}0001{d}Zoë\n000124{d}0002{d}Renée\n"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_detected(delimiter: str) -> None:
    data = TEXT_TABLE.format(d=delimiter).encode()
    assert formats.sniff_text(data).delimiter == delimiter
    frame = _read(data)
    assert list(frame.columns) == ["student_id", "school_id", "gender"]
    assert frame["student_id"].tolist() == ["000123", "000124"]


@pytest.mark.parametrize(("encoded", "encoding"), [
    (TEXT_TABLE.format(d=",").encode("utf-8"), "utf-8"),
    (b"\xef\xbb\xbf" + TEXT_TABLE.format(d=",").encode("utf-8"), "utf-8-sig"),
    (TEXT_TABLE.format(d=",").encode("cp1252"), "cp1252"),
])
def test_encodings_decoded(encoded: bytes, encoding: str) -> None:
    assert formats.sniff_text(encoded).encoding == encoding
    frame = _read(encoded)
    assert list(frame.columns)[0] == "student_id"  # no BOM glued to the first header
    assert frame["gender"].tolist() == ["Zoë", "Renée"]


def test_line_numbers_are_spreadsheet_lines() -> None:
    frame = _read(b"a,b\n1,2\n3,4\n5,6\n")
    assert list(frame.index) == [2, 3, 4]


def test_quoted_values_and_embedded_newlines() -> None:
    frame = _read(b'school_id,school_name\n0001,"Lincoln, Elementary"\n0002,"Two\nLines"\n0003,Plain\n')
    assert frame["school_name"].tolist() == ["Lincoln, Elementary", "Two\nLines", "Plain"]


def test_short_rows_are_padded_and_long_rows_are_problems_naming_the_line() -> None:
    """A row with more values than the header is never joined into the last column (that stored
    "Smith, John Elementary" half in the wrong column): it is left out and named; blank surplus
    fields (a trailing delimiter) are not surplus."""
    data = b"a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12,,\n"
    chunks = list(formats.iter_csv_chunks(io.BytesIO(data), formats.sniff_text(data)))
    problems = [p for c in chunks for p in c.attrs.get(formats.ROW_PROBLEMS, [])]
    frame = pd.concat(chunks)
    assert frame.loc[3].tolist() == ["4", "5", None]
    assert 4 not in frame.index
    assert frame.loc[5].tolist() == ["10", "11", "12"]
    assert [(line, reason.startswith("has more values than the header")) for line, _, _, reason in problems] == [
        (4, True)]


def test_small_blocks_give_the_same_table() -> None:
    body = "".join(f"{i:06d},{i % 7},{i * 1.5}\n" for i in range(2000))
    data = ("id,x,y\n" + body).encode()
    layout = formats.sniff_text(data)
    chunks = list(formats.iter_csv_chunks(io.BytesIO(data), layout, block_bytes=4096))
    assert len(chunks) > 3
    joined = pd.concat(chunks)
    assert list(joined.index) == list(range(2, 2002))
    pd.testing.assert_frame_equal(joined, _read(data), check_dtype=False)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"   \n\n", "empty"),
    (b"\x00\x01\x02PK\x03\x04binary garbage\x00\n", "not a text table"),
    (b"12345\n67890\n", "not a header row"),
])
def test_not_a_table(data: bytes, message: str) -> None:
    with pytest.raises(formats.NotATableError, match=message):
        _read(data)


def test_detect_format() -> None:
    assert formats.detect_format("x.parquet", b"PAR1....") == "parquet"
    assert formats.detect_format("x.xlsx", b"PK\x03\x04....") == "xlsx"
    assert formats.detect_format("x.zip", b"PK\x03\x04....") == "zip"
    assert formats.detect_format("x.csv", b"a,b\n") == "csv"


def test_excel_first_sheet_and_named_sheet_read_as_text() -> None:
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xl:
        pd.DataFrame({"Student ID": ["000123", "000124"], "Grade": ["KG", "01"], "Score": [12.5, None]}).to_excel(
            xl, sheet_name="roster", index=False)
        pd.DataFrame({"other": ["x"]}).to_excel(xl, sheet_name="notes", index=False)
    frame = formats.read_table_bytes("roster.xlsx", buf.getvalue())
    assert frame["Student ID"].tolist() == ["000123", "000124"]
    assert frame["Grade"].tolist() == ["KG", "01"]
    assert frame["Score"].tolist()[1] is None
    notes = formats.read_table_bytes("roster.xlsx", buf.getvalue(), sheet="notes")
    assert list(notes.columns) == ["other"]


def test_parquet_typed_columns_become_text() -> None:
    buf = io.BytesIO()
    pd.DataFrame({
        "student_id": ["000123", "000124"],
        "date": pd.to_datetime(["2025-09-08", "2025-09-09"]),
        "minutes": [30.0, 12.5],
        "sessions": [2, 3],
        "flag": [True, None],
    }).to_parquet(buf)
    frame = formats.read_table_bytes("u.parquet", buf.getvalue())
    assert frame["student_id"].tolist() == ["000123", "000124"]
    assert frame["date"].tolist() == ["2025-09-08", "2025-09-09"]
    assert frame["minutes"].tolist() == ["30", "12.5"]
    assert frame["sessions"].tolist() == ["2", "3"]
    assert pd.isna(frame["flag"].iloc[1])
