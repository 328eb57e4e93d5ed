"""From a flag to a support (issue 16): risk flags written when the published version scores (idempotent), a
coordinator assigns an intervention from the worklist (AppTest), the service refuses another school's student
and values outside the contract's rules, the worklist shows current supports and who is flagged but not
served. One model is trained per module (logistic, no importance: seconds) and published into each test's
private copy of the sample."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from edtech.core.access import SYSTEM, AccessDenied, Principal, Role
from edtech.risk import model as risk
from edtech.risk import worklist as worklists
from edtech.services import audit, workspace
from edtech.services import intervention_assign as assign_service
from edtech.services import risk as risk_service
from edtech.store import data
from tests.apptest_utils import open_page
from tests.presentation_checks import assert_presentable

PAGE = "app_pages/at_risk.py"
MINE, OTHER = "0201", "0101"
COORDINATOR = Principal(email="coord-0201@test.example", role=Role.COORDINATOR, schools=frozenset({MINE}))


@pytest.fixture(scope="module")
def trained(_sample_db_file) -> risk_service.TrainedRisk:
    engine = data.make_engine(f"sqlite:///{_sample_db_file}")
    try:
        table = risk_service.district_table(workspace.Workspace(engine).whole)
    finally:
        engine.dispose()
    result = risk.evaluate_risk(table, risk_service.DEFAULT_DISTRICT_TARGET, kinds=("logistic",), importance=False)
    return risk_service.TrainedRisk(result=result, table=table, card="")


@pytest.fixture
def published(sample_db_url, trained):
    """The engine of this test's copy of the sample, with the module's model stored and published."""
    engine = data.make_engine(sample_db_url)
    version = risk_service.save_version(engine, trained, principal=SYSTEM)
    risk_service.publish_version(engine, version, principal=SYSTEM)
    yield engine, version
    engine.dispose()


def _students(engine) -> pd.DataFrame:
    return data.read_table(engine, "students").astype({"student_id": str, "school_id": str})


def _imports(engine, kind: str) -> int:
    history = data.import_history(engine)
    return int(((history["kind"] == kind) & (history["status"] == "imported")).sum())


# ------------------------------------------------------------------ risk flags (data contract v2)

def test_publishing_writes_the_versions_flags_once(published):
    engine, version = published
    flags = data.read_table(engine, "risk_flags")
    mine = flags[flags["source"] == f"model v{version}"]
    students = _students(engine)
    assert len(mine) == len(set(data.read_table(engine, "indicators")["student_id"]))  # every scored student
    assert set(mine["flag_date"].dt.date) == {dt.date(2026, 1, 31)}     # the indicators' as-of date
    assert mine["risk"].between(0, 1).all() and mine["cutoff"].between(0, 1).all()
    # flagged = the worklist's High band (top k of each school), at or above the school's cut-off
    whole = workspace.Workspace(engine).whole
    found = risk_service.district_worklist(engine, whole)
    high = set(found.students.loc[found.students["band"] == "High", "student_id"].astype(str))
    assert set(mine.loc[mine["flagged"].astype(bool), "student_id"].astype(str)) == high
    assert (mine.loc[mine["flagged"].astype(bool), "risk"] >= mine.loc[mine["flagged"].astype(bool), "cutoff"]).all()
    unflagged = mine[~mine["flagged"].astype(bool)]
    assert (unflagged["risk"] <= unflagged["cutoff"]).all()
    schools = mine.merge(students, on="student_id")
    assert (schools.groupby("school_id")["cutoff"].nunique() == 1).all()      # one cut-off per school
    # the same version scoring the same data again (worklist, risk score, publish again) changes nothing
    before, rows = _imports(engine, "risk_flags"), len(flags)
    assert risk_service.record_published_flags(engine, whole) == 0
    risk_service.score_district(engine, principal=SYSTEM)
    risk_service.publish_version(engine, version, principal=SYSTEM, whole=whole)
    assert _imports(engine, "risk_flags") == before
    assert len(data.read_table(engine, "risk_flags")) == rows


def test_flag_rows_cut_off_per_school_and_contract_columns():
    scored = pd.DataFrame({"student_id": [f"s{i}" for i in range(20)], "risk": [i / 20 for i in range(20)]})
    students = pd.DataFrame({"student_id": scored["student_id"], "school_id": ["A"] * 10 + ["B"] * 10})
    rows = worklists.risk_flag_rows(scored, students, 0.2, pd.Timestamp("2026-01-31"), "model v7")
    assert list(rows.columns) == list(worklists.FLAG_COLUMNS)
    assert set(rows.loc[rows["flagged"], "student_id"]) == {"s8", "s9", "s18", "s19"}   # top 20% of each school
    cut = rows.set_index("student_id")["cutoff"]
    assert cut["s0"] == pytest.approx(0.40) and cut["s10"] == pytest.approx(0.90)
    assert set(rows["source"]) == {"model v7"} and set(rows["flag_date"]) == {pd.Timestamp("2026-01-31")}


# ------------------------------------------------------------------ the service

def test_the_service_refuses_another_schools_student_and_bad_values(published):
    engine, _ = published
    students = _students(engine)
    mine = students.loc[students["school_id"] == MINE, "student_id"].iloc[0]
    other = students.loc[students["school_id"] == OTHER, "student_id"].iloc[0]
    before = len(data.read_table(engine, "interventions"))   # the sample's own supports, if any
    with pytest.raises(AccessDenied, match="not enrolled at one of your schools"):
        assign_service.assign_intervention(engine, COORDINATOR, other, "Reading tutoring", 2, "2026-02-02", 60)
    with pytest.raises(AccessDenied, match="not enrolled at one of your schools"):   # unknown = the same answer
        assign_service.assign_intervention(engine, COORDINATOR, "999999", "Reading tutoring", 2, "2026-02-02", 60)
    for role in (Role.BOARD, Role.VIEWER):
        with pytest.raises(AccessDenied):
            assign_service.assign_intervention(engine, Principal(email="x@test.example", role=role), mine,
                                               "Reading tutoring", 2, "2026-02-02", 60)
    bad = [({"tier": 4}, "tier must be 1, 2 or 3"), ({"tier": 0}, "tier must be 1, 2 or 3"),
           ({"minutes_per_week": -5}, "minutes a week"), ({"minutes_per_week": float("nan")}, None),
           ({"intervention": "  "}, "Give the intervention"), ({"start_date": "not a date"}, "not a date"),
           ({"end_date": "2026-01-01"}, "end date is before"), ({"goal": "x" * 600}, "longer than")]
    for change, message in bad:
        kw = {"intervention": "Reading tutoring", "tier": 2, "start_date": "2026-02-02", "minutes_per_week": 60,
              **change}
        if message is None:   # NaN minutes = not given: stored without minutes
            continue
        with pytest.raises(assign_service.AssignmentError, match=message):
            assign_service.assign_intervention(engine, COORDINATOR, mine, **kw)
    assert len(data.read_table(engine, "interventions")) == before   # nothing refused was written
    assert audit.read(engine, action="intervention assigned").empty
    # the director assigns anywhere; the same key again updates the assignment
    director = Principal(email="dir@test.example", role=Role.DIRECTOR)
    first = assign_service.assign_intervention(engine, director, other, "Math mentoring", 3, dt.date(2026, 2, 2), 30)
    again = assign_service.assign_intervention(engine, director, other, "Math mentoring", 3, dt.date(2026, 2, 2), 45,
                                               "T9", "pass algebra")
    assert not first["updated"] and again["updated"] and first["school_id"] == OTHER
    stored = data.read_table(engine, "interventions")
    assert len(stored) == before + 1
    stored = stored[stored["intervention"] == "Math mentoring"]
    assert len(stored) == 1 and stored["minutes_per_week"].iloc[0] == 45 and stored["staff_id"].iloc[0] == "T9"
    events = audit.read(engine, action="intervention assigned")
    assert len(events) == 2 and set(events["scope"]) == {OTHER}


def test_the_worklist_carries_current_supports_and_who_is_not_served():
    wl = pd.DataFrame({"student_id": ["a", "b", "c", "d"], "band": ["High", "High", "High", "Elevated"]},
                      dtype="string")
    given = pd.DataFrame({
        "student_id": ["a", "b", "b", "d"], "intervention": ["Tutoring", "Mentoring", "Old program", "Tutoring"],
        "start_date": pd.to_datetime(["2026-02-01", "2026-09-01", "2025-09-01", "2026-02-01"]),
        "end_date": pd.to_datetime([None, None, "2026-01-15", None]), "tier": [2, 3, 2, None]})
    out = worklists.with_interventions(wl, given, pd.Timestamp("2026-06-07")).set_index("student_id")
    # a: ongoing; b: starts later (planned counts), its ended program does not; c: none
    assert out.loc["a", "intervention"] == "Tutoring (tier 2)"
    assert out.loc["b", "intervention"] == "Mentoring (tier 3)"
    assert out.loc["c", "intervention"] == worklists.NO_INTERVENTION
    assert out.loc["d", "intervention"] == "Tutoring"
    assert out["flagged_not_served"].to_dict() == {"a": False, "b": False, "c": True, "d": False}


# ------------------------------------------------------------------ the page (AppTest)

def _grid(at) -> pd.DataFrame:
    grids = [d.value for d in at.dataframe if {"student_id", "band", "intervention"} <= set(d.value.columns)]
    assert len(grids) == 1, [list(d.value.columns) for d in at.dataframe]
    return grids[0]


def test_a_coordinator_assigns_an_intervention_from_the_worklist(published):
    engine, _ = published
    at = open_page(PAGE, role="coordinator", schools=[MINE])
    assert_presentable(at, "at-risk worklist with supports")
    grid = _grid(at)
    mine = set(_students(engine).query("school_id == @MINE")["student_id"])
    assert set(grid["student_id"].astype(str)) <= mine
    before = len(data.read_table(engine, "interventions"))   # the sample's own supports, if any
    high = int(((grid["band"] == "High") & (grid["intervention"] == "—")).sum())
    assert high > 0
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Flagged, not served"] == f"{high:,}"
    at.toggle(key="risk_filter_unserved").set_value(True).run()
    unserved = _grid(at)
    assert len(unserved) == high and set(unserved["band"]) == {"High"} and set(unserved["intervention"]) == {"—"}
    # the picker offers the list as filtered (their school's students only)
    options = at.selectbox(key="risk_assign_student").options
    assert len(options) == high and {o.split(" · ")[0] for o in options} <= mine
    student = str(unserved["student_id"].iloc[0])
    at.selectbox(key="risk_assign_student").set_value(student)
    at.text_input(key="risk_assign_new").input("Small-group reading")
    at.selectbox(key="risk_assign_tier").set_value(2)
    at.number_input(key="risk_assign_minutes").set_value(90)
    at.text_input(key="risk_assign_staff").input("T17")
    at.text_input(key="risk_assign_goal").input("90 words correct per minute")
    at.button(key="risk_assign_submit").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("Assigned: Small-group reading" in s.value for s in at.success)
    assert_presentable(at, "after assigning")
    stored = data.read_table(engine, "interventions")
    assert len(stored) == before + 1
    row = stored[stored["intervention"] == "Small-group reading"].iloc[0]
    assert (row["student_id"], row["intervention"], int(row["tier"]), row["minutes_per_week"], row["staff_id"]) == \
        (student, "Small-group reading", 2, 90, "T17")
    assert row["start_date"].date() == dt.date.today() and pd.isna(row["end_date"])
    events = audit.read(engine, action="intervention assigned")
    assert len(events) == 1 and events["scope"].iloc[0] == MINE and student in events["detail"].iloc[0]
    # the worklist shows the support at once; the student left the not-served list and its count
    grid = _grid(at)
    assert student not in set(grid["student_id"].astype(str))
    assert {m.label: m.value for m in at.metric}["Flagged, not served"] == f"{high - 1:,}"
    at.toggle(key="risk_filter_unserved").set_value(False).run()
    grid = _grid(at).set_index("student_id")
    assert grid.loc[student, "intervention"] == "Small-group reading (tier 2)"
    # the name is now a suggestion
    assert "Small-group reading" in at.selectbox(key="risk_assign_pick").options



def test_train_and_publish_flags_from_its_training_table_equal_a_fresh_scoring(sample_db_url):
    """Publishing after training scores the district with the training's own feature table (built once): the
    flags it stores are those a fresh scoring would store (so that scoring finds nothing new to record)."""
    engine = data.make_engine(sample_db_url)
    try:
        whole = workspace.Workspace(engine).whole
        info = risk_service.train_and_publish(engine, whole, principal=SYSTEM)
        flags = data.read_table(engine, "risk_flags")
        assert (flags["source"] == f"model v{info['id']}").sum() > 0
        assert risk_service.record_published_flags(engine, workspace.Workspace(engine).whole) == 0
    finally:
        engine.dispose()
