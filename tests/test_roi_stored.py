"""The stored parts the ROI pages read (issue 15): the scoreboard with the saved weights and the per-school
student counts, each read back equal to a recomputation from the raw rows; the outcome picker's names."""

from __future__ import annotations

import pandas as pd

from edtech.roi import engine as roi
from edtech.roi import figures
from edtech.services import overview as overview_service
from edtech.services import roi as roi_service
from edtech.services import workspace
from edtech.store import data, summaries

ONE_SCHOOL = frozenset({"0202"})


def test_the_stored_board_is_read_back_equal_to_a_fresh_scoring(sample_db_url, monkeypatch) -> None:
    engine = data.make_engine(sample_db_url)
    first = workspace.Workspace(engine).district_board()
    token = workspace.part_token(engine, workspace.BOARD_READS)
    assert summaries.load_part(engine, "roi_board", token) is not None, "the board was not stored"

    # a new process reads it back: no scoring, no ROI analysis read for the director's board
    def must_not_run(*args, **kwargs):
        raise AssertionError("the stored board was scored again")

    monkeypatch.setattr(roi, "score_metrics", must_not_run)
    ws = workspace.Workspace(engine)
    again = ws.board
    assert "roi" not in ws.__dict__, "the director's stored board should not need the ROI analysis"
    monkeypatch.undo()

    # equal to the board scored from a ROI analysis recomputed from the raw weekly rows
    whole = data.load_district(engine)
    metrics, _, combined = roi.analyze_district(whole, outcome_choice=workspace.load_outcome_choice(engine))
    from edtech.core import rules
    from edtech.feedback import satisfaction

    rated = satisfaction.attach(combined, whole.feedback, whole.as_of, rules.suppression_threshold())
    raw = roi.order_scoreboard(roi.score_metrics(rated, workspace.load_weights(engine)))
    pd.testing.assert_frame_equal(first, raw)
    pd.testing.assert_frame_equal(again.drop(columns="scope_share"), raw)
    # other weights are scored on the spot, not read from the stored board
    other = workspace.Workspace(engine).district_board({"utilization": 100})
    assert not other["roi_score"].equals(raw["roi_score"])
    engine.dispose()


def test_a_new_weight_or_import_does_not_read_the_old_board(sample_db_url) -> None:
    engine = data.make_engine(sample_db_url)
    workspace.Workspace(engine).district_board()
    before = workspace.part_token(engine, workspace.BOARD_READS)
    roi_service.save_weights(engine, {"utilization": 100, "fidelity": 0, "effect": 0, "cost_effectiveness": 0})
    assert workspace.part_token(engine, workspace.BOARD_READS) != before
    board = workspace.Workspace(engine).district_board()
    fresh = workspace.Workspace(engine).score_district(workspace.load_weights(engine))
    pd.testing.assert_frame_equal(board, fresh)
    engine.dispose()


def test_key_figures_from_the_stored_school_counts_equal_the_per_student_count(sample_db_url) -> None:
    engine = data.make_engine(sample_db_url)
    whole = data.load_district(engine)
    for scope in (None, ONE_SCHOOL):
        ws = workspace.Workspace(engine, scope)
        got = overview_service.key_figures(ws)
        # the definition: distinct students of the scope's roster with a row in the per-student usage
        students = whole.students if scope is None else whole.students[whole.students["school_id"].isin(scope)]
        want = figures.key_figures(ws.board, ws.student_tool_year(), students)
        assert got == want, scope
        assert 0 < got["students_using_tools"] < got["students"]
    token = workspace.part_token(engine, overview_service.SCHOOL_STUDENTS_READS)
    assert summaries.load_part(engine, "school_students", token) is not None

    # a new process reads the 12 rows back: no roster, no student x tool rows
    ws = workspace.Workspace(engine)
    stored = overview_service.school_students(ws)
    assert not ws.whole.loaded("students") and "roi" not in ws.__dict__
    raw_metrics = roi.compute_usage_metrics(whole)  # from the raw weekly rows
    pd.testing.assert_frame_equal(stored, figures.school_student_counts(raw_metrics.students, whole.students))
    assert stored["students"].sum() == len(whole.students)
    engine.dispose()


def test_school_counts_keep_a_student_without_a_school() -> None:
    students = pd.DataFrame({"student_id": ["a", "b", "c", "d"], "school_id": ["s1", "s1", None, "s2"]})
    usage = pd.DataFrame({"student_id": ["a", "c", "c", "x"], "tool_id": ["t1", "t1", "t2", "t1"]})
    counts = figures.school_student_counts(usage, students)
    assert counts.to_dict("records") == [
        {"school_id": "s1", "students": 2, "students_using_tools": 1},
        {"school_id": "s2", "students": 1, "students_using_tools": 0},
        {"school_id": None, "students": 1, "students_using_tools": 1}]
    assert figures.students_using_tools(usage, students) == counts["students_using_tools"].sum()


def test_assessment_names_are_the_distinct_names_of_the_score_rows(sample_db_url) -> None:
    engine = data.make_engine(sample_db_url)
    names = roi_service.assessment_names(engine)
    assert names == sorted(data.read_table(engine, "assessments")["assessment"].dropna().unique())
    assert len(names) >= 2
    engine.dispose()


def test_the_precompute_step_stores_the_board_and_the_school_counts(sample_db_url) -> None:
    from edtech.services import precompute

    engine = data.make_engine(sample_db_url)
    timings = precompute.precompute(engine, only={"roi", "roi_board", "school_students"})
    assert all(v >= 0 for v in timings.values()), timings
    assert summaries.load_part(engine, "roi_board", workspace.part_token(engine, workspace.BOARD_READS))
    assert summaries.load_part(engine, "school_students",
                               workspace.part_token(engine, overview_service.SCHOOL_STUDENTS_READS))
    engine.dispose()
