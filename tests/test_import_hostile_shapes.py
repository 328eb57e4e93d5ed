"""Property (issue 13): a file in any hostile shape comes back exactly, or is rejected naming its
lines — never anything in between.

The round trip of tests/test_roundtrip.py, with the shapes real exports have: `,` `;` or tab
delimiters, day-first, month-first or ISO dates, European (`1.234,50`) or US (`1,234.50`) numbers
with or without thousands separators, blank lines and `,,,` rows anywhere (trailing too), trailing
delimiters, and rows with more values than the header (an unquoted delimiter). The oracle:

- a row with more values than the header: the file is rejected, those lines named, nothing written;
- a file whose values show how it is written (a day over 12, a decimal that is not a thousands
  group) is stored exactly, with no assumption;
- a file that cannot tell is either stored exactly, or stored under an assumption that a warning
  names, or rejected with every problem on a line; imported again with the true reading forced, it
  is stored exactly.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from edtech.store import data

STUDENTS = ["000101", "000102", "000103", "000104"]
TOOLS = ["101", "102", "0103"]
USAGE_KEY = ["student_id", "tool_id", "week_start"]
AMBIGUOUS_NUMBER = re.compile(r"[+-]?[1-9]\d{0,2}[.,]\d{3}")
_TEMPLATE: dict[str, Path] = {}


def district_template() -> Path:
    """Schools, students and tools loaded once into a database file that each example copies."""
    if "db" not in _TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="hostile-"))
        engine = data.make_engine(f"sqlite:///{folder / 'template.db'}")
        for kind, text in (
            ("schools", "school_id,school_name\n0001,North\n"),
            ("students", "student_id,school_id,grade_level\n" + "".join(f"{s},0001,5\n" for s in STUDENTS)),
            ("tools", "tool_id,tool_name\n" + "".join(f"{t},Tool {t}\n" for t in TOOLS)),
        ):
            report = data.import_bytes(engine, kind, f"{kind}.csv", text.encode())
            assert report.ok, report.error_lines()
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        _TEMPLATE["db"] = folder / "template.db"
    return _TEMPLATE["db"]


# --------------------------------------------------------------------------- writing values
def date_text(day: dt.date, order: str) -> str:
    if order == "iso":
        return day.isoformat()
    first, second = (day.month, day.day) if order == "mdy" else (day.day, day.month)
    return f"{first:02d}/{second:02d}/{day.year}"


def number_text(hundredths: int, decimal: str, *, decimals: int, grouped: bool) -> str:
    """A non-negative amount of hundredths written with `decimal` as the separator."""
    whole, frac = divmod(hundredths, 100)
    thousands = "," if decimal == "." else "."
    body = f"{whole:,}".replace(",", thousands) if grouped else str(whole)
    if decimals == 0:
        return body
    return f"{body}{decimal}{f'{frac:02d}'.ljust(decimals, '0')}"


def proves(texts: list[str]) -> bool:
    """Whether any written number reads only one way (has a separator and is not a thousands group)."""
    return any(("." in t or "," in t) and not AMBIGUOUS_NUMBER.fullmatch(t) for t in texts)


def dates_prove(days: list[dt.date], order: str) -> bool:
    return order == "iso" or any(d.day > 12 for d in days)


@st.composite
def shapes(draw):
    kind = draw(st.sampled_from(["usage", "licenses"]))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    decimal = draw(st.sampled_from([".", ","]))
    order = draw(st.sampled_from(["iso", "mdy", "dmy"]))
    # half the files are written so that they cannot tell: days 1-12 only, numbers like 12.500 only
    vague_dates, vague_numbers = draw(st.booleans()), draw(st.booleans())
    days = st.dates(dt.date(2024, 8, 1), dt.date(2026, 5, 31)).map(
        lambda d: d.replace(day=(d.day - 1) % 12 + 1) if vague_dates else d)
    if kind == "usage":
        rows = draw(st.lists(st.tuples(st.sampled_from(STUDENTS), st.sampled_from(TOOLS), days,
                                       st.integers(0, 4 * 90), st.integers(0, 3)), min_size=1, max_size=12))
        header = ["student_id", "tool_id", "date", "minutes"]
        # quarter minutes written with 0-3 decimals (3 decimals: `12.250` reads as a thousands group too)
        body = [[s, t, date_text(d, order),
                 number_text(q * 25, decimal, decimals=3 if vague_numbers else max(places, 0 if q % 4 == 0 else 2),
                             grouped=False)]
                for s, t, d, q, places in rows]
        truth = pd.DataFrame([(s, t, d, q / 4) for s, t, d, q, _ in rows],
                             columns=["student_id", "tool_id", "day", "minutes"])
        numbers = [r[3] for r in body]
        written_days = [d for _, _, d, _, _ in rows]
    else:
        starts = draw(st.lists(st.tuples(st.sampled_from(TOOLS), days), min_size=1, max_size=6,
                               unique_by=lambda p: p))
        rows = [(tool, start, start + dt.timedelta(days=draw(st.integers(30, 700))), draw(st.integers(1, 5000)),
                 draw(st.integers(1, 999).map(lambda k: k * 100_000) if vague_numbers else st.integers(0, 250_000_000)),
                 draw(st.sampled_from([0, 2])), draw(st.booleans()) or vague_numbers)
                for tool, start in starts]
        header = ["tool_id", "seats", "annual_cost", "start_date", "end_date"]
        body = [[tool, str(seats), number_text(cents, decimal, decimals=places if cents % 100 == 0 else 2,
                                               grouped=grouped), date_text(start, order), date_text(end, order)]
                for tool, start, end, seats, cents, places, grouped in rows]
        truth = pd.DataFrame([(tool, pd.Timestamp(start), pd.Timestamp(end), seats, cents / 100)
                              for tool, start, end, seats, cents, _, _ in rows],
                             columns=["tool_id", "start_date", "end_date", "seats", "annual_cost"])
        numbers = [r[2] for r in body]
        written_days = [d for _, start, end, *_ in rows for d in (start, end)]
    # hostile shaping, decided per data row: a trailing delimiter, an extra value (unquoted delimiter)
    trailing = draw(st.lists(st.integers(0, 2), min_size=len(body), max_size=len(body)))
    surplus = draw(st.sets(st.integers(0, len(body) - 1), max_size=2)) if draw(st.integers(0, 3)) == 0 else set()
    blanks = draw(st.lists(st.tuples(st.integers(0, len(body) + 1), st.sampled_from(["", "fields"])), max_size=4))
    return dict(kind=kind, delimiter=delimiter, decimal=decimal, order=order, header=header, body=body,
                truth=truth, trailing=trailing, surplus=surplus, blanks=blanks,
                # nothing to decide (no separator at all), or a value that reads only the true way
                decimal_proven=proves(numbers) or not any(("." in t or "," in t) for t in numbers),
                dates_proven=dates_prove(written_days, order))


def write(shape: dict) -> tuple[bytes, set[int]]:
    """The file's bytes and the spreadsheet lines of the rows given an extra value."""
    d = shape["delimiter"]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=d, lineterminator="\n")
    writer.writerow(shape["header"])
    lines = [out.getvalue().rstrip("\n")]
    for i, row in enumerate(shape["body"]):
        out.seek(0)
        out.truncate()
        writer.writerow(row)
        line = out.getvalue().rstrip("\n") + d * shape["trailing"][i]
        if i in shape["surplus"]:
            line += f"{d}extra value"
        lines.append(line)
    # blank lines (or lines of delimiters only) inserted after data row k; k = len: trailing
    for k, style in sorted(shape["blanks"], key=lambda b: -b[0]):
        lines.insert(min(k, len(lines) - 1) + 1, "" if style == "" else d * (len(shape["header"]) - 1))
    surplus_lines = set()
    data_row = -1
    for number, line in enumerate(lines, start=1):
        if number == 1 or not line.strip(d + " "):
            continue
        data_row += 1
        if data_row in shape["surplus"]:
            surplus_lines.add(number)
    return ("\n".join(lines) + "\n").encode(), surplus_lines


# --------------------------------------------------------------------------- comparing with the truth
def expected_usage(truth: pd.DataFrame) -> pd.DataFrame:
    day = pd.to_datetime(truth["day"])
    frame = truth.assign(week_start=day - pd.to_timedelta(day.dt.day_of_week, unit="D"),
                         sessions=(truth["minutes"] > 0).astype(int))
    return (frame.groupby(USAGE_KEY).agg(minutes=("minutes", "sum"), sessions=("sessions", "sum"))
            .reset_index().sort_values(USAGE_KEY, ignore_index=True))


def stored_equals_truth(engine, shape: dict) -> bool:
    if shape["kind"] == "usage":
        got = data.read_table(engine, "usage").sort_values(USAGE_KEY, ignore_index=True)[USAGE_KEY + ["minutes", "sessions"]]
        want = expected_usage(shape["truth"])
        return (len(got) == len(want) and got[USAGE_KEY].astype(str).equals(want[USAGE_KEY].astype(str))
                and got["minutes"].tolist() == want["minutes"].tolist()
                and got["sessions"].astype(int).tolist() == want["sessions"].tolist())
    cols = ["tool_id", "start_date", "end_date", "seats", "annual_cost"]
    got = data.read_table(engine, "licenses")[cols].sort_values(["tool_id", "start_date"], ignore_index=True)
    want = shape["truth"][cols].sort_values(["tool_id", "start_date"], ignore_index=True)
    return (len(got) == len(want) and got["tool_id"].tolist() == want["tool_id"].tolist()
            and got["start_date"].tolist() == want["start_date"].tolist()
            and got["end_date"].tolist() == want["end_date"].tolist()
            and got["seats"].astype(int).tolist() == want["seats"].tolist()
            and got["annual_cost"].tolist() == want["annual_cost"].tolist())


def assumption_warnings(report: data.ImportReport) -> list[str]:
    return [w for w in report.warnings if "--date-order dmy" in w or "--decimal ," in w]


@settings(max_examples=50, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(shapes())
def test_hostile_shapes_round_trip_or_are_rejected_naming_the_line(shape: dict) -> None:
    payload, surplus_lines = write(shape)
    truth_reading = {"decimal": shape["decimal"], "date_order": "mdy" if shape["order"] == "iso" else shape["order"]}
    kind, name = shape["kind"], f"{shape['kind']}.csv"
    with tempfile.TemporaryDirectory() as tmp:
        engines = []

        def fresh():
            """The district without this table's rows: a new copy of the template."""
            db = Path(tmp) / f"hostile{len(engines)}.db"
            shutil.copy(district_template(), db)
            engines.append(data.make_engine(f"sqlite:///{db}"))
            return engines[-1]
        try:
            engine = fresh()
            report = data.import_bytes(engine, kind, name, payload)
            context = (payload.decode(), report.error_lines(), report.warnings)
            event(f"{kind}: " + ("surplus row" if surplus_lines else "proven" if shape["decimal_proven"]
                                 and shape["dates_proven"] else "assumed" if assumption_warnings(report)
                                 else "undecided, exact" if report.ok else "undecided, rejected"))
            if surplus_lines:
                # rejected, nothing written; with the true reading forced, the surplus rows are the only problems
                assert not report.ok, context
                assert surplus_lines <= {i.line for i in report.issues.examples}, context
                assert data.table_counts(engine)[kind] == 0
                forced = data.import_bytes(engine, kind, name, payload, **truth_reading)
                assert {i.line for i in forced.issues.examples} == surplus_lines, (payload.decode(), forced.error_lines())
                assert all(i.reason.startswith("has more values than the header") for i in forced.issues.examples)
                assert data.table_counts(engine)[kind] == 0
                return
            if shape["decimal_proven"] and shape["dates_proven"]:
                # the file says how it is written: read that way, exactly, with no assumption
                assert report.ok, context
                assert not assumption_warnings(report), context
                assert stored_equals_truth(engine, shape), context
                return
            if report.ok and not assumption_warnings(report):
                assert stored_equals_truth(engine, shape), context   # nothing in between
            if not report.ok:
                assert all(i.line is not None for i in report.issues.examples), context
                assert data.table_counts(engine)[kind] == 0
            # the file could not tell: with its true reading forced it is stored exactly
            engine = fresh()
            forced = data.import_bytes(engine, kind, name, payload, **truth_reading)
            assert forced.ok, (payload.decode(), forced.error_lines())
            assert not assumption_warnings(forced)
            assert stored_equals_truth(engine, shape), (payload.decode(), forced.warnings)
        finally:
            for engine in engines:
                engine.dispose()
