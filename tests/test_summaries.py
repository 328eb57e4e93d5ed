"""Usage summaries (issue 15): after any sequence of imports they equal a from-scratch recomputation,
and every page's use case shows the same figures from the summaries as from the raw weekly rows."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import SQLModel

from edtech.adoption import engine as adoption
from edtech.adoption.overview import weekly_active_users
from edtech.roi import engine as roi
from edtech.services import adoption as adoption_service
from edtech.services import overview as overview_service
from edtech.services import workspace
from edtech.store import data, summaries

STUDENTS = [f"S{i}" for i in range(1, 9)]
TOOLS = ["T1", "T2", "T3"]
FIRST_DAY = dt.date(2025, 9, 1)   # a Monday, long before today: every week is plausible
N_DAYS = 84


def _district(engine) -> None:
    """Two schools, eight students, three tools: T1 and T3 licensed from inside the usage period (their
    contract window cuts the data), T2 without a contract (the 365 days to the as-of date)."""
    def put(kind: str, frame: pd.DataFrame) -> None:
        report = data.import_frame(engine, kind, frame, file_name=f"{kind}.csv")
        assert report.ok, report.error_lines()

    put("schools", pd.DataFrame({"school_id": ["A", "B"], "school_name": ["Ash", "Birch"], "level": ["elementary"] * 2}))
    put("students", pd.DataFrame({"student_id": STUDENTS, "school_id": ["A", "B"] * 4, "grade_level": ["3"] * 8}))
    put("tools", pd.DataFrame({"tool_id": TOOLS, "tool_name": ["One", "Two", "Three"],
                               "recommended_minutes_per_week": [30, 20, None], "recommended_weeks": [6, 4, None]}))
    put("licenses", pd.DataFrame({"tool_id": ["T1", "T3"], "school_id": ["", "A"], "seats": [6, 3],
                                  "annual_cost": [600.0, 300.0], "start_date": ["2025-09-17", "2025-10-06"],
                                  "end_date": ["2026-09-16", "2026-10-05"]}))


usage_rows = st.lists(st.tuples(st.sampled_from(STUDENTS), st.sampled_from(TOOLS), st.integers(0, N_DAYS - 1),
                                st.integers(0, 90), st.integers(0, 2)), min_size=1, max_size=25)
operations = st.lists(st.one_of(
    st.tuples(st.just("usage"), usage_rows),
    st.tuples(st.just("license"), st.integers(0, N_DAYS - 1)),   # T2 gains a contract: its window moves
    st.tuples(st.just("move"), st.sampled_from(STUDENTS)),        # a student changes school
), min_size=1, max_size=5)


def _apply(engine, op) -> None:
    kind, arg = op
    if kind == "usage":
        frame = pd.DataFrame(arg, columns=["student_id", "tool_id", "day", "minutes", "sessions"])
        frame["date"] = [(FIRST_DAY + dt.timedelta(days=int(d))).isoformat() for d in frame.pop("day")]
        report = data.import_frame(engine, "usage", frame, file_name="usage.csv")
    elif kind == "license":
        start = FIRST_DAY + dt.timedelta(days=arg)
        report = data.import_frame(engine, "licenses", pd.DataFrame({
            "tool_id": ["T2"], "school_id": ["B"], "seats": [4], "annual_cost": [200.0],
            "start_date": [start.isoformat()], "end_date": [(start + dt.timedelta(days=364)).isoformat()]}),
            file_name="licenses.csv")
    else:
        current = data.read_table(engine, "students").set_index("student_id")["school_id"]
        report = data.import_frame(engine, "students", pd.DataFrame({
            "student_id": [arg], "school_id": ["B" if current[arg] == "A" else "A"], "grade_level": ["3"]}),
            file_name="students.csv")
    assert report.ok, report.error_lines()


def _check_against_scratch(engine) -> None:
    """The maintained summaries (as a reader sees them) equal a rebuild from the raw rows, and the ROI
    and adoption figures computed from them equal those computed from the raw weekly usage."""
    as_of = data.data_as_of(engine)
    summaries.ensure_fresh(engine, as_of)
    kept = summaries.read_all(engine)
    with engine.connect() as conn:
        kept_windows = summaries.wanted_windows(conn, as_of)
    summaries.rebuild_summaries(engine, as_of)
    scratch = summaries.read_all(engine)
    for name, frame in kept.items():
        pd.testing.assert_frame_equal(frame, scratch[name], obj=name)
    with engine.connect() as conn:
        assert kept_windows == summaries.wanted_windows(conn, as_of)
    district = data.load_district(engine)
    summary = roi.UsageSummary(summaries.read_student_tool(engine), summaries.read_school_weeks(engine))
    _same_metrics(roi.compute_usage_metrics(district, summary=summary), roi.compute_usage_metrics(district))
    pd.testing.assert_frame_equal(adoption.student_tool_usage(district, summary.student_tool, summary.school_weeks),
                                  adoption.student_tool_usage(district))
    trend = adoption.weekly_trend_from_summary(summary.school_weeks)
    raw_trend = adoption.weekly_trend(district.usage, district.students).reset_index(drop=True)
    if len(raw_trend) or len(trend):  # (an empty raw trend's column types depend on how it got empty)
        pd.testing.assert_frame_equal(trend, raw_trend)


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys).reset_index(drop=True) if len(frame) else frame.reset_index(drop=True)


def _same_metrics(mine: roi.UsageMetrics, raw: roi.UsageMetrics) -> None:
    pd.testing.assert_frame_equal(_sorted(mine.tools, ["tool_id"]), _sorted(raw.tools, ["tool_id"]), obj="tools")
    pd.testing.assert_frame_equal(_sorted(mine.schools, ["tool_id", "school_id"]),
                                  _sorted(raw.schools, ["tool_id", "school_id"]), obj="schools")
    pd.testing.assert_frame_equal(_sorted(mine.students, ["tool_id", "student_id"]),
                                  _sorted(raw.students, ["tool_id", "student_id"]), obj="students")
    pd.testing.assert_frame_equal(_sorted(mine.weekly, ["tool_id", "week_start"]),
                                  _sorted(raw.weekly, ["tool_id", "week_start"]), obj="weekly", check_dtype=False)


def _fresh(engine) -> None:
    summaries.metadata.drop_all(engine)
    SQLModel.metadata.drop_all(engine)
    data.init_db(engine)
    _district(engine)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_summaries_equal_a_recomputation_after_any_imports_sqlite(tmp_path, ops) -> None:
    engine = data.make_engine(f"sqlite:///{tmp_path / 'prop.db'}")
    try:
        _fresh(engine)
        for op in ops:
            _apply(engine, op)
        _check_against_scratch(engine)
    finally:
        engine.dispose()


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_summaries_equal_a_recomputation_after_any_imports_postgresql(pg_engine, ops) -> None:
    _fresh(pg_engine)
    for op in ops:
        _apply(pg_engine, op)
    _check_against_scratch(pg_engine)


def test_an_old_database_gets_its_summaries(tmp_path) -> None:
    """A database with usage but no summaries (made before them) is summarized by init_db."""
    engine = data.make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    _fresh(engine)
    _apply(engine, ("usage", [("S1", "T1", 20, 30, 1), ("S2", "T2", 3, 15, 1), ("S2", "T2", 40, 0, 0)]))
    before = summaries.read_all(engine)
    summaries.metadata.drop_all(engine)
    data.init_db(engine)
    after = summaries.read_all(engine)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[name], obj=name)
    assert len(after["student_tool"]) == 2
    engine.dispose()


def test_pages_show_the_same_figures_from_summaries_and_raw_rows(sample_db_url) -> None:
    """On the sample district: the ROI analysis, the scoreboard, the adoption report and the Overview
    computed by the Workspace (summaries, raw weeks never read) equal those recomputed from raw usage."""
    engine = data.make_engine(sample_db_url)
    ws = workspace.Workspace(engine)
    board = ws.board
    adoption_report = adoption_service.adoption_report(ws)
    weekly_active = overview_service.overview(ws).weekly_active
    assert not ws.whole.loaded("usage"), "a summary reader loaded the raw weekly usage"

    raw = data.load_district(engine)
    metrics, effects, combined = roi.analyze_district(raw, outcome_choice=ws.outcome_choice)
    _same_metrics(ws.roi.metrics, metrics)
    pd.testing.assert_frame_equal(_sorted(ws.roi.effects, ["tool_id", "assessment"]),
                                  _sorted(effects, ["tool_id", "assessment"]))
    raw_ws = workspace.Workspace(engine)
    raw_ws.__dict__["roi"] = workspace.RoiAnalysis(metrics, effects, combined)
    pd.testing.assert_frame_equal(board, raw_ws.board)
    raw_report = adoption_service.build_report(raw)
    for part in ("student_usage", "schools", "tool_totals", "weekly", "access", "equity_quartile",
                 "equity_subgroup", "concentration", "pd_change"):
        pd.testing.assert_frame_equal(getattr(adoption_report, part), getattr(raw_report, part), obj=part)
    pd.testing.assert_frame_equal(weekly_active, weekly_active_users(raw.usage))
    engine.dispose()


def test_a_stored_analysis_is_read_back_identical_and_only_for_its_data(sample_db_url) -> None:
    """A new process reads the ROI analysis the database stored for these data versions (identical
    frames); an import that stores rows changes the token, so the analysis is computed again."""
    engine = data.make_engine(sample_db_url)
    first = workspace.Workspace(engine).roi
    token = workspace.part_token(engine, workspace.ROI_READS)
    stored = summaries.load_part(engine, "roi", token)
    assert stored is not None
    again = workspace.roi_from_bytes(stored)
    for name in ("tools", "schools", "students", "weekly"):
        pd.testing.assert_frame_equal(getattr(first.metrics, name), getattr(again.metrics, name), obj=name)
    pd.testing.assert_frame_equal(first.effects, again.effects)
    pd.testing.assert_frame_equal(first.combined, again.combined)
    assert first.metrics.as_of == again.metrics.as_of and first.metrics.params == again.metrics.params

    student, tool = first.metrics.students.iloc[0][["student_id", "tool_id"]]
    report = data.import_frame(engine, "usage", pd.DataFrame({
        "student_id": [student], "tool_id": [tool], "date": [str(first.metrics.as_of.date())], "minutes": [45]}),
        file_name="one more day.csv")
    assert report.ok, report.error_lines()
    assert workspace.part_token(engine, workspace.ROI_READS) != token
    assert summaries.load_part(engine, "roi", workspace.part_token(engine, workspace.ROI_READS)) is None
    engine.dispose()
