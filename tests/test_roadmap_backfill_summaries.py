"""The roadmap's back-filled months from usage summaries computed in the database (issue 15): every back-filled
value (month x KPI) equals the value computed from the raw weekly rows, without the weekly rows read; the
past-month summary frames equal a pandas recomputation from the raw rows (two months, the district and a
school's students)."""

from __future__ import annotations

import pandas as pd
import pytest

from edtech.core import rules
from edtech.core.access import SYSTEM
from edtech.core.scope import restrict_district
from edtech.roadmap import catalogue
from edtech.roi import engine as roi_engine
from edtech.services import roadmap as rm
from edtech.services import workspace
from edtech.store import data, summaries

MINE = "0201"
MONTH_ENDS = [pd.Timestamp("2025-10-31"), pd.Timestamp("2026-03-31")]


class _Direct(workspace.Provider):
    """Computes every part (the back-fill's shared part included), nothing kept between calls."""


def _with_backfilled_kpis(engine) -> None:
    """An initiative from the first usage month with every back-filled metric, district-wide and for MINE."""
    check = rm.save_initiative(engine, {"name": "Back-fill check", "start_date": "2025-07-01",
                                        "end_date": "2027-06-30", "status": "active"}, principal=SYSTEM)
    backfilled = ["utilization:T05", "dosage_share:T05", "idle_license_share", "devices_per_student",
                  "pd_hours_per_staff"]   # (the sample's own KPIs add T01's and two more schools)
    assert {catalogue.parse_metric(m)[0] for m in backfilled} == {k for k, m in catalogue.METRICS.items()
                                                                  if m.backfilled}
    for metric in backfilled:
        for scope in ("district", MINE):
            rm.save_kpi(engine, check, {"metric": metric, "scope": scope, "baseline": 0.0, "target": 0.5,
                                        "target_date": "2027-06-30"}, principal=SYSTEM)


@pytest.mark.slow  # two whole back-fills of the sample (~20-30 s): make test-slow, which CI runs too
def test_every_backfilled_value_equals_the_value_from_the_raw_weekly_rows(sample_db_url):
    engine = data.make_engine(sample_db_url)
    _with_backfilled_kpis(engine)
    kpis = rm.kpis_frame(engine)
    on_demand = workspace.load_district_on_demand(engine)
    loaded = data.load_district(engine)   # a plain District: every weekly row in pandas (the raw-row path)
    assert loaded.as_of == on_demand.as_of
    current_month = rm.month_start(loaded.as_of)
    none_stored = rm.read_snapshots(engine).iloc[0:0]

    from_summaries = rm._backfill(engine, kpis, on_demand, current_month, none_stored, _Direct())  # noqa: SLF001
    assert not on_demand.loaded("usage")   # the weekly rows were never read
    from_rows = rm._backfill(engine, kpis, loaded, current_month, none_stored, _Direct())  # noqa: SLF001

    # every back-filled KPI, every month from the first usage month (2025-08) to the month before the current one
    months = {row[2] for row in from_rows}
    assert len(months) == 10 and min(months) == pd.Timestamp("2025-08-01")
    assert len(from_rows) == len(from_summaries) > 10 * 14
    got = {(i, k, m): v for i, k, m, v in from_summaries}
    values = 0
    for initiative_id, kpi_id, month, expected in from_rows:
        value = got[(initiative_id, kpi_id, month)]
        assert (value is None) == (expected is None), (initiative_id, kpi_id, month)
        if expected is not None:
            values += 1
            assert value == pytest.approx(expected, rel=1e-12, abs=1e-15), (initiative_id, kpi_id, month, value,
                                                                            expected)
    assert values > 100


def _recomputed(usage: pd.DataFrame, whole, as_of: pd.Timestamp, month_end: pd.Timestamp
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two past-month frames in pandas from raw weekly rows (`usage`: the district's or a scope's)."""
    lic_now = rules.current_licenses(whole.licenses, as_of)
    windows = roi_engine._contract_windows(whole.tools, lic_now, as_of)  # noqa: SLF001 - the engine's own windows
    first = (windows.set_index("tool_id")["window_start"] - pd.Timedelta(days=6))
    school_of = whole.students.set_index("student_id")["school_id"]
    rows = usage[rules.is_active_row(usage) & usage["tool_id"].isin(set(first.index))
                 & (usage["week_start"] + pd.Timedelta(days=6) <= month_end)].copy()
    rows["school_id"] = rows["student_id"].map(school_of).fillna("").astype(object)
    rows["minutes"] = rows["minutes"].fillna(0.0)
    rows["sessions"] = rows["sessions"].fillna(0.0)
    inside = rows[(rows["week_start"] >= rows["tool_id"].map(first)) & (rows["week_start"] <= as_of)]
    student_tool = inside.groupby(["student_id", "tool_id"], as_index=False).agg(
        weeks_used=("week_start", "size"), minutes=("minutes", "sum"), sessions=("sessions", "sum"),
        first_week=("week_start", "min"), last_week=("week_start", "max"))
    counts = rows.groupby(["school_id", "tool_id", "week_start"]).agg(
        active_users=("student_id", "size"), minutes=("minutes", "sum"), sessions=("sessions", "sum"))
    # trailing 4 weeks: a student active in week w (inside the window) counts in weeks w .. w+3 (up to the month)
    trailing = rows[rows["week_start"] >= rows["tool_id"].map(first)]
    spread = pd.concat([trailing.assign(week_start=trailing["week_start"] + pd.Timedelta(days=7 * k))
                        for k in range(rules.WEEKS_IN_30_DAYS)])
    spread = spread[spread["week_start"] + pd.Timedelta(days=6) <= month_end]
    trails = (spread.drop_duplicates(["student_id", "tool_id", "week_start"])
              .groupby(["school_id", "tool_id", "week_start"]).size().rename("active_4wk"))
    school_weeks = counts.join(trails, how="outer").reset_index()
    school_weeks[["active_users", "active_4wk"]] = school_weeks[["active_users", "active_4wk"]].fillna(0)
    school_weeks[["minutes", "sessions"]] = school_weeks[["minutes", "sessions"]].fillna(0.0)
    return summaries.conform_student_tool(student_tool), summaries.conform_school_weeks(school_weeks)


STUDENT_KEYS, WEEK_KEYS = ["student_id", "tool_id"], ["school_id", "tool_id", "week_start"]


def _same(got: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    """Equal row for row (sorted by the key), exactly: the same figures, not close ones."""
    assert len(got) > 0
    pd.testing.assert_frame_equal(got.sort_values(keys).reset_index(drop=True),
                                  expected.sort_values(keys).reset_index(drop=True), check_exact=True)


def test_past_month_summaries_equal_a_recomputation_from_the_raw_rows(sample_db_url):
    engine = data.make_engine(sample_db_url)
    whole = data.load_district(engine)
    with engine.connect() as conn:
        weeks = summaries.usage_weeks(conn)
    points = [(rm.as_of_at(weeks, end), end) for end in MONTH_ENDS]
    # the as-of date from the database's weeks is the raw-row district's
    assert [p[0] for p in points] == [rm.district_at(whole, end).as_of for end in MONTH_ENDS]
    version = data.data_version(engine)
    frames = list(summaries.past_usage_summaries(engine, points))
    assert data.data_version(engine) == version   # read only
    today = summaries.read_all(engine)
    mine = restrict_district(whole, frozenset({MINE}))
    for (as_of, end), (student_tool, school_weeks) in zip(points, frames, strict=True):
        # the columns and dtypes of the tables' readers
        assert list(student_tool.dtypes.items()) == list(today["student_tool"].dtypes.items())
        assert list(school_weeks.dtypes.items()) == list(today["school_weeks"].dtypes.items())
        assert len(student_tool) and len(school_weeks)
        assert school_weeks["week_start"].max() + pd.Timedelta(days=6) <= end
        expected_st, expected_sw = _recomputed(whole.usage, whole, as_of, end)
        _same(student_tool, expected_st, STUDENT_KEYS)
        _same(school_weeks, expected_sw, WEEK_KEYS)
        # a school's rows: what its own students' raw rows give
        st_mine, sw_mine = _recomputed(mine.usage, whole, as_of, end)
        _same(student_tool[student_tool["student_id"].isin(set(mine.students["student_id"]))], st_mine, STUDENT_KEYS)
        _same(school_weeks[school_weeks["school_id"] == MINE], sw_mine, WEEK_KEYS)
    # the months differ (a past month is not today's table cut by date)
    assert len(frames[0][0]) != len(frames[1][0])
    assert frames[1][1]["week_start"].max() > frames[0][1]["week_start"].max()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def small_engine(request: pytest.FixtureRequest, tmp_path):
    """The small district of tests/test_summaries.py (T2 without a contract: its window moves every month, so
    the past months' windows differ) with fixed usage, on each backend."""
    from tests.test_summaries import _apply, _fresh

    if request.param == "sqlite":
        engine = data.make_engine(f"sqlite:///{tmp_path / 'small.db'}")
    else:
        engine = request.getfixturevalue("pg_engine")
    _fresh(engine)
    rows = [(f"S{1 + (i * 5) % 8}", ("T1", "T2", "T3")[i % 3], (i * 11) % 84, (i * 7) % 50, i % 3) for i in range(90)]
    _apply(engine, ("usage", rows))
    yield engine
    engine.dispose()


def test_past_month_summaries_on_both_databases_with_moving_windows(small_engine):
    whole = data.load_district(small_engine)
    with small_engine.connect() as conn:
        weeks = summaries.usage_weeks(conn)
        ends = [pd.Timestamp("2025-09-30"), pd.Timestamp("2025-10-31"), pd.Timestamp("2025-11-30")]
        points = [(rm.as_of_at(weeks, end), end) for end in ends]
        # T2's window moves with the as-of date: the points are not one run of the same windows
        assert len({tuple(sorted(summaries.current_windows(conn, as_of).items())) for as_of, _ in points}) == 3
    for (as_of, end), (student_tool, school_weeks) in zip(points, summaries.past_usage_summaries(small_engine, points),
                                                         strict=True):
        expected_st, expected_sw = _recomputed(whole.usage, whole, as_of, end)
        _same(student_tool, expected_st, STUDENT_KEYS)
        _same(school_weeks, expected_sw, WEEK_KEYS)
