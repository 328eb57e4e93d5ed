"""The at-risk worklist (issue 14): the page opens on the students the PUBLISHED model version flags (no
training on open), for the director and a one-school coordinator; filters; the empty state; the board
report's wording follows the published version's outcome. One model is trained per module (through the
services, on the sample) and stored + published into each test's private copy of the sample."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest

from edtech.core.access import SYSTEM
from edtech.report import assemble
from edtech.risk import model as risk
from edtech.risk import worklist as worklists
from edtech.services import report as report_service
from edtech.services import risk as risk_service
from edtech.services import workspace
from edtech.store import data
from tests.apptest_utils import open_page

PAGE = "app_pages/at_risk.py"
MINE = "0201"
WORKLIST = {"student_id", "school_name", "grade_level", "band", "risk", "reason_1", "reason_2", "reason_3"}


@pytest.fixture(scope="module")
def trained(_sample_db_file) -> risk_service.TrainedRisk:
    """The sample's model, once per module (logistic only, no permutation importance: seconds, not half a
    minute); what it is stored and published as is what the page and the report read."""
    engine = data.make_engine(f"sqlite:///{_sample_db_file}")
    try:
        table = risk_service.district_table(workspace.Workspace(engine).whole)
    finally:
        engine.dispose()
    result = risk.evaluate_risk(table, risk_service.DEFAULT_DISTRICT_TARGET, kinds=("logistic",), importance=False)
    return risk_service.TrainedRisk(result=result, table=table, card=risk.model_card(result, data_name="the sample"))


def _publish(url: str, trained: risk_service.TrainedRisk) -> int:
    engine = data.make_engine(url)
    try:
        version = risk_service.save_version(engine, trained, principal=SYSTEM)
        risk_service.publish_version(engine, version, principal=SYSTEM)
        return version
    finally:
        engine.dispose()


def _worklist_grid(at) -> pd.DataFrame:
    grids = [d.value for d in at.dataframe if WORKLIST <= set(d.value.columns)]
    assert len(grids) == 1, [list(d.value.columns) for d in at.dataframe]
    return grids[0]


def _sample(url: str) -> tuple[pd.DataFrame, dict[str, str], set[str]]:
    """Students, school names and the ids in the indicators (one cohort in the sample)."""
    engine = data.make_engine(url)
    try:
        students = data.read_table(engine, "students").astype({"student_id": str, "school_id": str})
        schools = data.read_table(engine, "schools")
        cohort = set(data.read_table(engine, "indicators")["student_id"].astype(str))
    finally:
        engine.dispose()
    return (students, dict(zip(schools["school_id"].astype(str), schools["school_name"].astype(str), strict=True)),
            cohort)


def test_director_opens_on_the_worklist_without_training(sample_db_url, trained):
    version = _publish(sample_db_url, trained)
    at = open_page(PAGE, role="Director")
    assert not at.get("plotly_chart"), "something was trained or charted on open"
    grid = _worklist_grid(at)
    students, names, cohort = _sample(sample_db_url)
    assert len(grid) > 0
    # the sample roster has no names: the student id stands in; school names, grades, bands, reasons in words
    assert "name" not in grid.columns and set(grid["student_id"].astype(str)) <= set(students["student_id"])
    assert set(grid["school_name"].astype(str)) <= set(names.values())
    assert set(grid["band"]) == set(worklists.BAND_NAMES)
    assert list(grid["band"].map(worklists.BAND_NAMES.index)) == sorted(grid["band"].map(worklists.BAND_NAMES.index))
    assert (grid["reason_1"].astype(str).str.len() > 0).all()
    assert grid["reason_1"].str.contains("attended|course failure|GPA|absent|behavior|minutes|score").mean() > 0.5
    assert not grid["reason_1"].str.contains("_").any()
    # High = the flagging rule at the published cut-off (top 10% of each school's latest cohort)
    per_school = students[students["student_id"].isin(set(cohort))].groupby("school_id").size()
    high = grid[grid["band"] == "High"].groupby("school_name").size()
    for school_id, n in per_school.items():
        assert high[names[school_id]] == math.ceil(0.1 * n), school_id
    assert any(f"published model version #{version}" in c.value for c in at.caption)
    assert any("being off track next term" in c.value for c in at.caption)
    card = next(e for e in at.expander if "Model card" in e.label)
    assert "off_track_next_term" in card.markdown[0].value
    assert [b.proto.label for b in at.get("download_button")] == ["Download the list (CSV)"]
    # the Model quality tab waits for its button, and offers the district's outcomes (a picker, not free text)
    assert at.selectbox(key="risk_target").options == ["being off track next term (off_track_next_term)"]
    assert at.button(key="risk_train")


def test_coordinator_sees_their_school_only_with_the_district_bands_and_reasons(sample_db_url, trained):
    _publish(sample_db_url, trained)
    director = _worklist_grid(open_page(PAGE, role="Director"))
    at = open_page(PAGE, role="School coordinator", schools=[MINE])
    grid = _worklist_grid(at)
    students, names, _ = _sample(sample_db_url)
    mine = set(students.loc[students["school_id"] == MINE, "student_id"])
    assert len(grid) > 0 and set(grid["school_name"]) == {names[MINE]}
    assert set(grid["student_id"].astype(str)) <= mine
    # bands and reasons are district facts: the same rows as the director's list for that school
    theirs = director[director["school_name"] == names[MINE]].reset_index(drop=True)
    pd.testing.assert_frame_equal(grid.reset_index(drop=True), theirs)
    assert at.multiselect(key="risk_filter_school").options == [names[MINE]]
    assert len(at.get("download_button")) == 1  # coordinators export their students (audited on click)


def test_filters_by_school_grade_reason_and_band(sample_db_url, trained):
    _publish(sample_db_url, trained)
    at = open_page(PAGE, role="Director")
    full = _worklist_grid(at)
    school = sorted(full["school_name"].unique())[0]
    at.multiselect(key="risk_filter_school").set_value([school]).run()
    by_school = _worklist_grid(at)
    assert 0 < len(by_school) < len(full) and set(by_school["school_name"]) == {school}
    grade = str(by_school["grade_level"].iloc[0])
    at.multiselect(key="risk_filter_grade").set_value([grade]).run()
    by_grade = _worklist_grid(at)
    assert 0 < len(by_grade) <= len(by_school) and set(by_grade["grade_level"].astype(str)) == {grade}
    at.multiselect(key="risk_filter_school").set_value([]).run()
    at.multiselect(key="risk_filter_grade").set_value([]).run()
    topics = at.multiselect(key="risk_filter_reason").options
    assert "Attendance" in topics
    at.multiselect(key="risk_filter_reason").set_value(["Attendance"]).run()
    by_reason = _worklist_grid(at)
    assert 0 < len(by_reason) < len(full)
    reasons = by_reason[["reason_1", "reason_2", "reason_3"]].astype(str).agg(" ".join, axis=1)
    assert reasons.str.contains("attended|absent").all()
    at.multiselect(key="risk_filter_reason").set_value([]).run()
    at.multiselect(key="risk_filter_band").set_value(["High"]).run()
    assert set(_worklist_grid(at)["band"]) == {"High"}
    assert not at.exception


def test_empty_state_without_a_published_version(sample_db_url, trained):
    engine = data.make_engine(sample_db_url)
    risk_service.save_version(engine, trained, principal=SYSTEM)  # stored, not published: not used
    engine.dispose()
    director = open_page(PAGE, role="Director")
    assert any("No published model yet" in i.value for i in director.info)
    assert not [d for d in director.dataframe if WORKLIST <= set(d.value.columns)]
    assert "being off track next term" in director.button(key="risk_publish_default").proto.label
    coordinator = open_page(PAGE, role="School coordinator", schools=[MINE])
    assert any("No published model yet" in i.value for i in coordinator.info)
    assert any("ask your director" in c.value for c in coordinator.caption)
    assert "risk_publish_default" not in {b.key for b in coordinator.button}


def test_report_wording_follows_the_published_outcome(sample_db_url, trained):
    _publish(sample_db_url, trained)
    engine = data.make_engine(sample_db_url)
    try:
        ws = workspace.Workspace(engine)
        rep = report_service.build_report(ws, sections=["at_risk"])
        text = " ".join(rep.section("at_risk").paragraphs)
        assert "being off track next term" in text and "failing a course" not in text
        # another outcome published (its recorded target is what the prose names)
        other = dataclasses.replace(trained, result=dataclasses.replace(trained.result, target="gpa < 2"))
        version = risk_service.save_version(engine, other, principal=SYSTEM)
        risk_service.publish_version(engine, version, principal=SYSTEM)
        scores, _ = report_service.risk_scores(engine, ws.district)
        assert scores is not None and scores.outcome == "gpa < 2"
        text = " ".join(report_service.build_report(workspace.Workspace(engine), sections=["at_risk"])
                        .section("at_risk").paragraphs)
        assert "a GPA below 2" in text and "off track" not in text
    finally:
        engine.dispose()


# ------------------------------------------------------------------ pure pieces

def test_outcome_phrases():
    assert worklists.outcome_phrase("off_track_next_term") == "being off track next term"
    assert worklists.outcome_phrase("gpa < 2") == "a GPA below 2"
    assert worklists.outcome_phrase("attendance_rate <= 0.9") == "attendance rate at or below 0.9"
    assert worklists.outcome_phrase("Left_School") == "the outcome “left school”"
    scores = assemble.RiskScores(pd.DataFrame(columns=["student_id", "risk"]), outcome="dropped_out")
    assert scores.outcome_words == "dropping out"


def test_bands_are_nested_top_shares_of_each_school():
    scored = pd.DataFrame({"risk": [i / 100 for i in range(100)] * 2, "school": ["a"] * 100 + ["b"] * 100})
    bands = worklists.risk_bands(scored, k=0.1)
    for school in ("a", "b"):
        rows = scored["school"] == school
        counts = bands[rows].value_counts()
        assert (counts["High"], counts["Elevated"], counts["Watch"]) == (10, 10, 10)
        assert bands[rows & (scored["risk"] >= 0.9)].eq("High").all()
        assert bands[rows & (scored["risk"] < 0.7)].isna().all()


def test_names_come_from_the_roster_when_it_has_them():
    students = pd.DataFrame({"student_id": ["1", "2", "3"], "school_id": ["s", "s", "s"],
                             "grade_level": ["3", "4", "K"], "first_name": ["Ada", "Bo", None],
                             "Last Name": ["Lovelace", "Diddley", None]})
    schools = pd.DataFrame({"school_id": ["s"], "school_name": ["Hill School"]})
    scored = pd.DataFrame({"student_id": ["1", "2", "3"], "risk": [0.9, 0.5, 0.8],
                           "reason_1": ["attended 80% of days (district median 95%)", "", "GPA 1.50"],
                           "reason_2": ["", "", ""], "reason_3": ["", "", ""],
                           "reason_1_feature": ["attendance_rate", "", "gpa"], "reason_2_feature": ["", "", ""],
                           "reason_3_feature": ["", "", ""]})
    out = worklists.build_worklist(scored, students, schools, k=0.3)
    assert list(out["name"]) == ["Ada Lovelace", "3", "Bo Diddley"]  # High, Elevated, Watch; id without a name
    assert list(out["band"]) == ["High", "Elevated", "Watch"]
    assert list(out["school_name"]) == ["Hill School"] * 3
    assert out["reason_topics"].tolist() == [("Attendance",), ("Grades",), ()]
    assert out.loc[2, "reason_1"] == worklists.NO_REASON
    assert worklists.student_names(students.drop(columns=["first_name", "Last Name"])) is None
