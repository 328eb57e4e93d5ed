"""Property: any valid district written the many ways the contract allows comes back exactly.

Random schools, students, tools and event-level usage (text IDs with leading zeros, unicode
names, dates in ISO / ISO-with-time / US spelling, booleans in any spelling, quarter-minute
amounts) go through import_frame and read_table; usage comes back folded into ISO weeks exactly
as a pandas groupby folds it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edtech.store import data

USAGE_KEY = ["student_id", "tool_id", "week_start"]
GRADES = ["PK", "K"] + [str(g) for g in range(1, 13)]
GRADE_SPELLINGS = {"PK": ["PK", "pk", "Pre-K"], "K": ["K", "KG", "Kindergarten"],
                   **{str(g): [str(g), f"{g:02d}"] for g in range(1, 13)}}
TRUE_WORDS = ["true", "TRUE", "yes", "Y", "y", "1", "t", "T"]
FALSE_WORDS = ["false", "No", "n", "N", "0", "f", "F"]

ids = st.text(alphabet="0123456789ABCxyz-_", min_size=1, max_size=8).filter(lambda s: s.strip() == s)
# printable unicode (letters, marks, numbers, punctuation, symbols, inner spaces); no control characters
names = st.text(st.characters(categories=("L", "M", "N", "P", "S", "Zs"), exclude_characters="\x00"),
                min_size=1, max_size=20).map(str.strip).filter(bool)
days = st.dates(min_value=pd.Timestamp("2023-01-01").date(), max_value=pd.Timestamp("2026-12-31").date())


def date_text(day, style: int, hour: int) -> str:
    if style == 0:
        return day.isoformat()
    if style == 1:
        return f"{day.isoformat()}T{hour:02d}:15:00"
    return f"{day.month:02d}/{day.day:02d}/{day.year}"


@st.composite
def districts(draw):
    school_ids = draw(st.lists(ids, min_size=1, max_size=3, unique=True))
    student_ids = draw(st.lists(ids, min_size=1, max_size=8, unique=True))
    tool_ids = draw(st.lists(ids, min_size=1, max_size=3, unique=True))
    schools = pd.DataFrame({"school_id": school_ids,
                            "school_name": draw(st.lists(names, min_size=len(school_ids), max_size=len(school_ids)))})
    n = len(student_ids)
    grades = draw(st.lists(st.sampled_from(GRADES), min_size=n, max_size=n))
    flags = draw(st.lists(st.sampled_from([True, False, None]), min_size=n, max_size=n))
    students = pd.DataFrame({
        "student_id": student_ids,
        "school_id": draw(st.lists(st.sampled_from(school_ids), min_size=n, max_size=n)),
        "grade_level": grades,
        "frl": flags,
        "gender": draw(st.lists(st.one_of(st.none(), names), min_size=n, max_size=n)),
    })
    tools = pd.DataFrame({"tool_id": tool_ids,
                          "tool_name": draw(st.lists(names, min_size=len(tool_ids), max_size=len(tool_ids)))})
    rows = draw(st.lists(st.tuples(st.sampled_from(student_ids), st.sampled_from(tool_ids), days,
                                   st.integers(0, 2), st.integers(0, 23), st.integers(0, 4 * 600)),
                         min_size=0, max_size=40))
    usage = pd.DataFrame(rows, columns=["student_id", "tool_id", "day", "style", "hour", "quarters"])
    # text spellings chosen by the draw, so one table mixes ISO, ISO-with-time and US dates
    spelled = {
        "grade": [draw(st.sampled_from(GRADE_SPELLINGS[g])) for g in grades],
        "frl": [None if f is None else draw(st.sampled_from(TRUE_WORDS if f else FALSE_WORDS)) for f in flags],
    }
    return schools, students, tools, usage, spelled


def as_text(district) -> dict[str, pd.DataFrame]:
    schools, students, tools, usage, spelled = district
    students_text = students.assign(grade_level=spelled["grade"], frl=spelled["frl"]).rename(
        columns={"grade_level": "Grade", "frl": "FRL"})
    usage_text = pd.DataFrame({
        "user_id": usage["student_id"], "app_id": usage["tool_id"],
        "timestamp": [date_text(d, s, h) for d, s, h in zip(usage["day"], usage["style"], usage["hour"])],
        "minutes_used": [repr(q / 4) for q in usage["quarters"]],
    }, columns=["user_id", "app_id", "timestamp", "minutes_used"])
    return {"schools": schools, "students": students_text, "tools": tools, "usage": usage_text}


def expected_weekly(usage: pd.DataFrame) -> pd.DataFrame:
    if usage.empty:
        return pd.DataFrame(columns=USAGE_KEY + ["minutes", "sessions"])
    day = pd.to_datetime(usage["day"])
    frame = pd.DataFrame({"student_id": usage["student_id"], "tool_id": usage["tool_id"],
                          "week_start": day - pd.to_timedelta(day.dt.day_of_week, unit="D"),
                          "minutes": usage["quarters"] / 4, "sessions": (usage["quarters"] > 0).astype(int)})
    return (frame.groupby(USAGE_KEY).agg(minutes=("minutes", "sum"), sessions=("sessions", "sum"))
            .reset_index().sort_values(USAGE_KEY, ignore_index=True))


def plain(values: pd.Series) -> list:
    """Values with every kind of missing (None, NaN, NA) as None, for exact comparison."""
    return [None if pd.isna(v) else v for v in values]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(districts())
def test_random_valid_district_round_trips(district) -> None:
    schools, students, tools, usage, _ = district
    with tempfile.TemporaryDirectory() as tmp:
        engine = data.make_engine(f"sqlite:///{Path(tmp) / 'rt.db'}")
        try:
            for kind, frame in as_text(district).items():
                report = data.import_frame(engine, kind, frame, file_name=kind)
                assert report.ok, (kind, report.error_lines())
            got_schools = data.read_table(engine, "schools").sort_values("school_id", ignore_index=True)
            want_schools = schools.sort_values("school_id", ignore_index=True)
            assert got_schools["school_id"].tolist() == want_schools["school_id"].tolist()
            assert got_schools["school_name"].tolist() == want_schools["school_name"].tolist()

            got = data.read_table(engine, "students").sort_values("student_id", ignore_index=True)
            want = students.sort_values("student_id", ignore_index=True)
            for col in ("student_id", "school_id", "grade_level", "gender"):
                assert plain(got[col]) == plain(want[col]), col
            assert [None if pd.isna(v) else bool(v) for v in got["frl"]] == want["frl"].tolist()

            got_tools = data.read_table(engine, "tools").sort_values("tool_id", ignore_index=True)
            assert got_tools["tool_name"].tolist() == tools.sort_values("tool_id")["tool_name"].tolist()

            stored = data.read_table(engine, "usage").sort_values(USAGE_KEY, ignore_index=True)
            want_usage = expected_weekly(usage)
            assert len(stored) == len(want_usage)
            if len(want_usage):
                pd.testing.assert_frame_equal(stored[USAGE_KEY + ["minutes", "sessions"]], want_usage,
                                              check_dtype=False)
                assert (stored["week_start"].dt.day_of_week == 0).all()
        finally:
            engine.dispose()
