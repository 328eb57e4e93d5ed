"""The stored interventions evaluation (issue 15): on the sample district the district part kept in
`summary_parts` reads back identical, and every principal's evaluation, the progress picker and a progress
chart cut from it equal the computation they replace (the district part computed from the raw tables, each
scope's figures from its `restrict_district` slice); an import changes the token, so it is computed again."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from edtech.core.access import Principal, Role
from edtech.core.scope import restrict_district
from edtech.interventions import coverage as cov
from edtech.interventions import progress, viz
from edtech.services import intervention_progress as progress_service
from edtech.services import interventions as service
from edtech.services import workspace
from edtech.store import data, summaries

FRAMES = ("per_intervention", "progress_students", "progress_summary", "served", "students", "funnel")


def _assert_parts_equal(left: service.DistrictPart, right: service.DistrictPart) -> None:
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(left, name), getattr(right, name), check_exact=True, obj=name)
    for f in dataclasses.fields(service.DistrictPart):
        if f.name not in FRAMES:
            assert getattr(left, f.name) == getattr(right, f.name), f.name


def _previous_evaluation(whole, scope, see_students: bool) -> dict:
    """What evaluate_interventions computed before the part was stored: the district part from the raw
    tables, the scope's students from its slice of the district."""
    part = service.compute_district_part(whole)
    students = restrict_district(whole, scope).students
    ids = set(students["student_id"])
    served = part.served[part.served["student_id"].isin(ids)]
    rows = part.progress_students[part.progress_students["student_id"].isin(ids)]
    return {"coverage": cov.coverage_counts(served), "funnel": cov.funnel_table(served, students, rows),
            "per_intervention": part.per_intervention, "progress_summary": part.progress_summary,
            "served": served.reset_index(drop=True) if see_students else served.iloc[0:0],
            "progress": rows.reset_index(drop=True) if see_students else rows.iloc[0:0],
            "rdd": part.rdd, "targeting": part.targeting, "cutoff": part.cutoff, "flag_date": part.flag_date}


def _previous_supports(whole, scope) -> pd.DataFrame:
    """monitored_supports before it was cut from the stored part: the slopes fitted on the scope's slice."""
    district = restrict_district(whole, scope)
    rows = progress.student_progress(district.interventions, district.progress_monitoring)
    rows = rows[rows["n_during"] > 0].copy()
    rows = rows.merge(district.students[["student_id", "school_id", "grade_level"]], on="student_id", how="left")
    rows = rows.sort_values(["start_date", "student_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    rows["label"] = [f"{r.student_id} · {r.intervention} from {pd.Timestamp(r.start_date):%Y-%m-%d}"
                     for r in rows.itertuples()]
    return rows


@pytest.fixture(scope="module")
def sample(_sample_db_file, tmp_path_factory):
    import shutil

    path = tmp_path_factory.mktemp("interventions_stored") / "sample.db"
    shutil.copy(_sample_db_file, path)
    engine = data.make_engine(f"sqlite:///{path}")
    whole = data.load_district(engine)
    yield engine, whole
    engine.dispose()


def test_the_stored_part_reads_back_identical_and_equals_the_raw_computation(sample) -> None:
    engine, whole = sample
    computed = workspace.Workspace(engine)            # the first process: computes and stores
    first = service.district_part(computed)
    payload = summaries.load_part(engine, "interventions", workspace.part_token(engine, service.READS))
    assert payload is not None
    _assert_parts_equal(service.part_from_bytes(payload), first)
    _assert_parts_equal(first, service.compute_district_part(whole))
    assert first.rdd is not None and first.targeting is not None and first.served["served"].any()
    assert first.every_student_known
    assert first.outcomes == sorted(whole.assessments["assessment"].dropna().astype(str).unique())


@pytest.mark.parametrize("who", ["director", "coordinator", "board"])
def test_each_principal_sees_what_the_previous_computation_showed(sample, who) -> None:
    engine, whole = sample
    school = whole.students["school_id"].value_counts().index[0]
    principal = {"director": Principal("d@x.org", Role.DIRECTOR),
                 "coordinator": Principal("c@x.org", Role.COORDINATOR, schools=frozenset({school})),
                 "board": Principal("b@x.org", Role.BOARD)}[who]
    ws = workspace.Workspace(engine, principal=principal)   # a new process: reads the stored part
    ev = service.evaluate_interventions(ws)
    before = _previous_evaluation(whole, ws.scope, who != "board")
    assert ev.coverage == before["coverage"] and ev.coverage["flagged"] > 0
    for name in ("funnel", "per_intervention", "progress_summary", "served", "progress"):
        pd.testing.assert_frame_equal(getattr(ev, name), before[name], check_exact=True, obj=name)
    assert (ev.rdd, ev.targeting, ev.cutoff, ev.flag_date) == (before["rdd"], before["targeting"], before["cutoff"],
                                                                before["flag_date"])
    if who == "coordinator":
        assert set(whole.students.set_index("student_id")["school_id"].reindex(ev.served["student_id"])) == {school}


def test_a_flagged_student_missing_from_the_roster_is_cut_as_before(sample) -> None:
    """The district's cut skips the filter only when every covered student is on the roster."""
    _, whole = sample
    part = service.compute_district_part(whole)
    gone = part.served.loc[part.served["flagged"].fillna(False).astype(bool), "student_id"].iloc[0]
    fewer = dataclasses.replace(whole, students=whole.students[whole.students["student_id"] != gone])
    cut = service.compute_district_part(fewer)
    assert not cut.every_student_known
    people, served, rows = service.scope_cut(cut, None)
    assert gone not in set(served["student_id"]) | set(rows["student_id"]) | set(people["student_id"])
    before = _previous_evaluation(fewer, None, True)
    pd.testing.assert_frame_equal(cut.funnel, before["funnel"], check_exact=True)
    assert cov.coverage_counts(served) == before["coverage"]


def test_the_progress_picker_and_chart_equal_the_slice_computation(sample) -> None:
    engine, whole = sample
    school = whole.students["school_id"].value_counts().index[-1]
    ws = workspace.Workspace(engine, principal=Principal("c@x.org", Role.COORDINATOR, schools=frozenset({school})))
    supports = progress_service.monitored_supports(ws)
    pd.testing.assert_frame_equal(supports, _previous_supports(whole, ws.scope), check_exact=True)
    assert len(supports) and set(supports["school_id"]) == {school}
    row = supports.iloc[0]
    fig = progress_service.progress_chart(ws, row["student_id"], row["intervention"],
                                          pd.Timestamp(row["start_date"]).date().isoformat())
    # the chart as it was drawn from every probe of the scope's slice
    probes = restrict_district(whole, ws.scope).progress_monitoring
    start = pd.Timestamp(row["start_date"])
    mine = probes[(probes["student_id"] == row["student_id"]) & (probes["measure"] == row["measure"])]
    mine = mine[mine["date"] >= start - pd.Timedelta(weeks=progress.BEFORE_WEEKS)]
    before = viz.progress_figure(mine, {"intervention": row["intervention"], "start_date": start,
                                        "end_date": row["end_date"], "target_date": row["target_date"]},
                                 f"{row['measure']}: {row['intervention']} (student {row['student_id']})")
    assert fig.to_json() == before.to_json() and len(mine) > 0


def test_an_import_makes_the_part_computed_again(sample) -> None:
    engine, whole = sample
    service.evaluate_interventions(workspace.Workspace(engine))
    token = workspace.part_token(engine, service.READS)
    assert summaries.load_part(engine, "interventions", token) is not None
    given = whole.interventions.iloc[[0]][["student_id", "intervention", "start_date"]].assign(
        start_date=lambda f: (f["start_date"] + pd.Timedelta(days=1)).dt.date.astype(str), tier=3)
    report = data.import_frame(engine, "interventions", given, file_name="one more support.csv")
    assert report.ok, report.error_lines()
    assert workspace.part_token(engine, service.READS) != token
    assert summaries.load_part(engine, "interventions", workspace.part_token(engine, service.READS)) is None
    after = service.evaluate_interventions(workspace.Workspace(engine))
    assert after.per_intervention["served"].sum() >= 1
