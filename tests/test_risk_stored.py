"""The at-risk page's stored parts (issue 15): the student table's usage columns from the database's totals
(never the weekly rows) equal the table built from the rows; the published version's district worklist is
stored once per data and models version and read back equal to a fresh scoring; a stale part (after an
import, after a new published version) is not read; a coordinator's worklist is cut from the stored district
part. On a private copy of the sample district."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from edtech.core.access import SYSTEM, Principal, Role
from edtech.core.scope import restrict_district
from edtech.risk import model as risk
from edtech.services import precompute, retrain, workspace
from edtech.services import risk as risk_service
from edtech.store import data, summaries

MINE = "0201"


@pytest.fixture(scope="module")
def trained(_sample_db_file) -> risk_service.TrainedRisk:
    """The sample's model from the rows in memory (logistic only, no importance: seconds)."""
    engine = data.make_engine(f"sqlite:///{_sample_db_file}")
    try:
        table = risk_service.district_table(data.load_district(engine))
    finally:
        engine.dispose()
    result = risk.evaluate_risk(table, risk_service.DEFAULT_DISTRICT_TARGET, kinds=("logistic",), importance=False)
    return risk_service.TrainedRisk(result=result, table=table, card=risk.model_card(result, data_name="the sample"))


@pytest.fixture
def engine(_sample_db_file, tmp_path):
    copy = tmp_path / "sample.db"
    shutil.copy(_sample_db_file, copy)
    eng = data.make_engine(f"sqlite:///{copy}")
    yield eng
    eng.dispose()


class CountingProvider(workspace.Provider):
    """Computes every part directly and records which parts were asked for."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def part(self, engine, name, reads, compute):
        self.names.append(name)
        return compute()


def _publish(engine, trained: risk_service.TrainedRisk) -> int:
    version = risk_service.save_version(engine, trained, principal=SYSTEM)
    risk_service.publish_version(engine, version, principal=SYSTEM)
    return version


def _stored_token(engine, name: str) -> str | None:
    with engine.connect() as conn:
        row = conn.execute(summaries.parts_table.select().where(summaries.parts_table.c.name == name)).first()
    return None if row is None else row.token


def test_feature_table_from_database_totals_equals_the_rows(engine):
    whole = data.load_district(engine)  # every table in memory, the weekly rows included
    from_rows = risk_service.district_table(whole)
    ws = workspace.Workspace(engine)
    from_totals = risk_service.feature_table(ws)
    assert not ws.whole.loaded("usage"), "the weekly usage rows were read"
    assert {"usage_minutes", "usage_weeks_active"} <= set(from_totals.columns)
    pd.testing.assert_frame_equal(from_totals, from_rows, check_exact=True)
    # a coordinator's table: their schools' slice, as restrict_district cuts it
    mine = workspace.Workspace(engine, frozenset({MINE}))
    pd.testing.assert_frame_equal(risk_service.feature_table(mine),
                                  risk_service.district_table(restrict_district(whole, frozenset({MINE}))),
                                  check_exact=True)


def test_database_totals_equal_the_reference_with_fractional_minutes_and_undated_cohorts(engine):
    with engine.begin() as conn:  # minutes with fractions: the database's plain sum could differ in the last bit
        conn.exec_driver_sql("UPDATE usage SET minutes = minutes + 0.1 WHERE week_start > '2025-10-01'")
    usage = data.read_table(engine, "usage")
    assert (usage["minutes"] % 1 != 0).any()
    indicators = data.read_table(engine, "indicators")
    dates = risk.cohort_dates(indicators)
    for as_of_values in (dates, np.array([])):
        reference = risk.usage_totals(usage, as_of_values)
        mine = risk_service.database_usage_totals(engine, as_of_values)
        assert mine.students == reference.students
        wanted = mine.rows[mine.rows["as_of"].notna() if len(as_of_values) else mine.rows["as_of"].isna()]
        got = wanted.drop(columns="as_of").sort_values("student_id").reset_index(drop=True)
        ref = reference.rows.drop(columns="as_of").sort_values("student_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, ref.astype({"student_id": str}), check_exact=True)


def test_stored_worklist_equals_a_fresh_scoring_and_is_read_back(engine, trained):
    _publish(engine, trained)
    fresh = risk_service.district_worklist(engine, data.load_district(engine))  # from the rows, nothing stored
    first = risk_service.worklist(workspace.Workspace(engine))
    token = _stored_token(engine, "risk_worklist")
    assert token is not None
    # a new process: read back, not computed (the compute would need the model and the student table)
    provider = CountingProvider()
    ws = workspace.Workspace(engine, provider=provider)
    read_back = risk_service.worklist(ws)
    assert not ws.whole.loaded("indicators") and not ws.whole.loaded("usage")
    for found in (first, read_back):
        assert found.version == fresh.version and found.card == fresh.card and found.k == fresh.k
        assert found.cohort == fresh.cohort and found.scored_by_school == fresh.scored_by_school
        pd.testing.assert_frame_equal(found.students, fresh.students, check_exact=True)
    assert len(fresh.students) > 0 and fresh.students["risk"].notna().all()
    # every student's score is the published version's own score of the table from the rows
    bundle = risk_service.load_version(engine, fresh.version["id"])
    direct = risk_service.score_table(bundle, trained.table, k=fresh.k).set_index("student_id")["risk"]
    got = read_back.students.set_index("student_id")["risk"]
    assert (direct.loc[got.index].to_numpy() == got.to_numpy()).all()
    # a coordinator's worklist is the district part's rows of their school
    coordinator = Principal(email="c@x", role=Role.COORDINATOR, name="C", schools=frozenset({MINE}))
    mine = risk_service.worklist(workspace.Workspace(engine, frozenset({MINE}), principal=coordinator))
    expected = fresh.students[fresh.students["school_id"] == MINE].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine.students, expected, check_exact=True)
    assert mine.scored_by_school == {MINE: fresh.scored_by_school[MINE]}


def test_a_stored_worklist_is_not_shown_once_its_version_is_altered(engine, trained):
    version = _publish(engine, trained)
    risk_service.worklist(workspace.Workspace(engine))  # stored
    with engine.begin() as conn:  # the signature altered in place: the versions token does not move
        conn.exec_driver_sql(f"UPDATE model_versions SET signature = '{'0' * 64}' WHERE id = ?", (version,))
    with pytest.raises(risk_service.ModelArtifactRefused):
        risk_service.worklist(workspace.Workspace(engine))


def test_stale_worklist_is_not_read_after_an_import_or_a_new_published_version(engine, trained):
    _publish(engine, trained)
    before = risk_service.worklist(workspace.Workspace(engine))
    token = _stored_token(engine, "risk_worklist")
    # a new published version: the stored part is stale, the worklist names the new version
    newer = _publish(engine, trained)
    after = risk_service.worklist(workspace.Workspace(engine))
    assert after.version["id"] == newer != before.version["id"]
    assert _stored_token(engine, "risk_worklist") != token
    # an import of indicators: one student's attendance changes, the stored part is not read
    token = _stored_token(engine, "risk_worklist")
    indicators = data.read_table(engine, "indicators")
    student = str(before.students["student_id"].iloc[-1])
    row = indicators[indicators["student_id"].astype(str) == student].iloc[[0]].copy()
    text = row.astype(object).where(row.notna(), "").astype(str)
    text["as_of"] = pd.to_datetime(row["as_of"]).dt.strftime("%Y-%m-%d").to_numpy()
    text["attendance_rate"] = "0.5"
    report = data.import_frame(engine, "indicators", text, file_name="one row")
    assert report.ok and report.rows_stored == 1, report.error_lines()
    changed = risk_service.worklist(workspace.Workspace(engine))
    assert _stored_token(engine, "risk_worklist") != token
    fresh = risk_service.district_worklist(engine, data.load_district(engine))
    pd.testing.assert_frame_equal(changed.students, fresh.students, check_exact=True)
    risk_after = changed.students.set_index("student_id")["risk"]
    risk_before = after.students.set_index("student_id")["risk"]
    assert student not in risk_before.index or risk_after.get(student) != risk_before.get(student)


def test_facts_and_precompute(engine, trained):
    _publish(engine, trained)
    parts = ("risk_usage_totals", "risk_facts", "risk_worklist")
    assert set(parts) <= {name for name, _ in precompute.PARTS}
    timings = precompute.precompute(engine, only=set(parts))
    for name in parts:
        assert timings[name] >= 0, timings
        assert _stored_token(engine, name) is not None
    whole = data.load_district(engine)
    ws = workspace.Workspace(engine)
    assert risk_service.has_indicators(ws)
    assert risk_service.table_columns(ws) == list(risk_service.district_table(whole).columns)
    assert risk_service.risk_facts(ws).outcomes == risk_service.known_outcomes(whole)
    assert not ws.whole.loaded("indicators"), "the facts were computed, not read back"
    mine = workspace.Workspace(engine, frozenset({MINE}))
    assert risk_service.has_indicators(mine)
    assert risk_service.table_columns(mine) == list(
        risk_service.district_table(restrict_district(whole, frozenset({MINE}))).columns)
    assert not risk_service.has_indicators(workspace.Workspace(engine, frozenset({"no-such-school"})))


def test_background_refresh_stores_the_new_versions_worklist(engine, trained, monkeypatch):
    _publish(engine, trained)
    risk_service.worklist(workspace.Workspace(engine))
    old = _stored_token(engine, "risk_worklist")
    # a quick refresh: the sample's logistic model, as the background thread would train it
    monkeypatch.setattr(risk_service, "train_workspace", lambda ws, target, **kw: trained)
    outcome = retrain.refresh_published(engine)
    assert "published" in outcome and "not published" not in outcome
    new = _stored_token(engine, "risk_worklist")
    assert new is not None and new != old
    assert new == workspace.part_token(engine, risk_service.WORKLIST_READS), "the new version's list is stored"
