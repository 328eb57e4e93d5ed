"""Caches that know what they depend on (issue 10).

Store level: `data.data_versions` has one token per data part; a dry run or a rejected file changes no
token, a real import changes only its table's, saving a setting only that setting's, a scenario only
`scenarios`, a model version only `models`.

App level (the `ui` caches, called outside a script run): a *Check only* import, a weights save, a
scenario and an import of an unrelated table leave the trained at-risk model and the district-wide ROI
analysis cached; an import of usage recomputes the ROI analysis. Any fallback to one global version
makes these tests fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edtech.core import config
from edtech.store import data

SAMPLES = config.SAMPLES_DIR
ONE_SCHOOL = frozenset({"0201"})
RISK_TARGET = "off_track_next_term"


@pytest.fixture(autouse=True)
def _signed_in_director(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ui caches run as the signed-in principal: outside a script run, a director's."""
    from edtech.core.access import Principal, Role
    from ui import state

    director = Principal(email="director@test.example", role=Role.DIRECTOR)
    monkeypatch.setattr(state, "current_principal", lambda: director)


def _head(name: str, lines: int) -> bytes:
    """The header and the first rows of a committed sample file (valid rows of the sample district)."""
    with (SAMPLES / name).open("rb") as fh:
        return b"".join(fh.readline() for _ in range(lines + 1))


def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


# ------------------------------------------------------------------ store level

def test_imports_change_only_their_own_table_token(engine, tmp_path: Path):
    base = data.data_versions(engine)
    assert not any(k.startswith("table:") for k in base), base

    for kind in ("schools", "students"):
        # a dry run checks everything and stores nothing: no version moves
        before = data.data_versions(engine)
        report = data.import_file(engine, kind, SAMPLES / f"{kind}.csv", dry_run=True)
        assert report.ok, report.error_lines()
        assert data.data_versions(engine) == before, f"a dry run of {kind} changed a version"

        report = data.import_file(engine, kind, SAMPLES / f"{kind}.csv")
        assert report.ok and report.rows_stored > 0, report.error_lines()
        assert _changed(before, data.data_versions(engine)) == {f"table:{kind}"}

    # a rejected file (a student of a school the district does not have) stores nothing, moves nothing
    before = data.data_versions(engine)
    bad = tmp_path / "students.csv"
    bad.write_text("student_id,school_id,grade_level\n999999,9999,5\n")
    report = data.import_file(engine, "students", bad)
    assert not report.ok
    assert data.data_versions(engine) == before, "a rejected import changed a version"
    # neither does an unreadable upload
    report = data.import_bytes(engine, "students", "students.csv", b"\x00\x01\x02 not a table")
    assert not report.ok
    assert data.data_versions(engine) == before, "an unreadable upload changed a version"

    # re-importing the same file is a new import of that table (the data may have been replaced)
    report = data.import_bytes(engine, "schools", "schools.csv", _head("schools.csv", 3))
    assert report.ok, report.error_lines()
    assert _changed(before, data.data_versions(engine)) == {"table:schools"}


def test_settings_scenarios_and_models_change_only_their_token(engine):
    from edtech.services import roi as roi_service
    from edtech.services import workspace as ws

    before = data.data_versions(engine)
    roi_service.save_weights(engine, {"utilization": 10, "fidelity": 10, "effect": 60, "cost_effectiveness": 20})
    after = data.data_versions(engine)
    assert _changed(before, after) == {f"setting:{ws.WEIGHTS_SETTING_KEY}"}

    # saving the same weights again is no change; other weights are
    roi_service.save_weights(engine, {"utilization": 10, "fidelity": 10, "effect": 60, "cost_effectiveness": 20})
    assert data.data_versions(engine) == after
    roi_service.save_weights(engine, {"utilization": 40, "fidelity": 10, "effect": 30, "cost_effectiveness": 20})
    assert _changed(after, data.data_versions(engine)) == {f"setting:{ws.WEIGHTS_SETTING_KEY}"}

    before = data.data_versions(engine)
    roi_service.save_outcome_choice(engine, "T01", "state_math")
    assert _changed(before, data.data_versions(engine)) == {f"setting:{ws.OUTCOME_SETTING_KEY}"}

    before = data.data_versions(engine)
    data.save_scenario(engine, "cut", {"levers": []})
    after = data.data_versions(engine)
    assert _changed(before, after) == {"scenarios"}
    data.save_scenario(engine, "cut", {"levers": [{"kind": "sunset", "tool_id": "T01"}]})
    assert _changed(after, data.data_versions(engine)) == {"scenarios"}

    before = data.data_versions(engine)
    data.save_model_version(engine, target=RISK_TARGET, model_name="logistic", metrics={}, fingerprint="f",
                            card="card", artifact=b"")
    assert _changed(before, data.data_versions(engine)) == {"models"}


# ------------------------------------------------------------------ app level (ui caches)

class _Counter:
    """Wraps a function and counts its calls (the real function still runs)."""

    def __init__(self, func):
        self.func, self.calls = func, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.func(*args, **kwargs)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch):
    """Counters on the heavy computations behind the app's caches."""
    from edtech.roi import engine as roi_engine
    from edtech.services import adoption as adoption_service

    counters = {
        "roi": _Counter(roi_engine.analyze_district),
        "adoption": _Counter(adoption_service.build_report),
        "whole": _Counter(data.load_district),
    }
    monkeypatch.setattr(roi_engine, "analyze_district", counters["roi"])
    monkeypatch.setattr(adoption_service, "build_report", counters["adoption"])
    monkeypatch.setattr(data, "load_district", counters["whole"])
    return counters


def _check_only(engine, name: str, body: bytes) -> None:
    """What the Data page's *Check only* button does."""
    reports = data.import_upload(engine, [data.UploadFile(name, body)], dry_run=True)
    assert reports and all(r.ok and r.dry_run for r in reports), [r.error_lines() for r in reports]


def _import(engine, name: str, body: bytes) -> None:
    """What the Data page's *Import* button does."""
    reports = data.import_upload(engine, [data.UploadFile(name, body)])
    assert reports and all(r.ok and r.rows_stored > 0 for r in reports), [r.error_lines() for r in reports]


def test_unrelated_changes_keep_the_roi_analysis_and_adoption_caches(sample_db_url, counted):
    from ui import cache

    engine = cache.get_engine()
    whole = cache.get_whole()
    analysis = cache.roi_analysis()
    board = cache.roi_board(None)
    adoption = cache.adoption_report(None)
    seen = {name: c.calls for name, c in counted.items()}

    def recomputed() -> set[str]:
        return {name for name, c in counted.items() if c.calls != seen[name]}

    def unchanged() -> None:
        assert cache.get_whole() is whole, "the whole district was reloaded"
        assert cache.roi_analysis() is analysis, "the ROI analysis was recomputed"
        assert cache.adoption_report(None) is adoption, "the adoption report was recomputed"

    # 0. a coordinator's scoreboard is a selection of the same district-wide analysis
    cache.roi_board(ONE_SCHOOL)
    cache.adoption_report(ONE_SCHOOL)
    assert recomputed() == set()

    # 1. a Check only import of usage: nothing recomputed, the very same cached objects are served
    _check_only(engine, "usage.csv", _head("usage.csv", 40))
    unchanged()
    assert cache.roi_board(None) is board
    assert recomputed() == set()

    # 2. saving weights re-scores the board, from the same ROI analysis; adoption does not read weights
    cache.save_weights({"utilization": 5, "fidelity": 5, "effect": 80, "cost_effectiveness": 10})
    unchanged()
    rescored = cache.roi_board(None)
    assert rescored is not board, "the scoreboard was not recomputed with the saved weights"
    assert recomputed() == set()

    # 3. saving a scenario: nothing the district, ROI or adoption caches read
    data.save_scenario(engine, "test", {"levers": []})
    unchanged()
    assert cache.roi_board(None) is rescored
    assert recomputed() == set()

    # 4. a real import of a table neither analysis reads (funding): the district is reloaded, they are not
    _import(engine, "funding.csv", _head("funding.csv", 3))
    assert cache.get_whole() is not whole, "an import did not reload the district"
    assert cache.roi_analysis() is analysis, "an import of funding recomputed the ROI analysis"
    assert cache.adoption_report(None) is adoption, "an import of funding recomputed the adoption report"
    assert recomputed() == {"whole"}
    seen = {name: c.calls for name, c in counted.items()}

    # 5. an import of usage changes what both read: each is recomputed, once
    _import(engine, "usage.csv", _head("usage.csv", 40))
    fresh = cache.roi_analysis()
    assert fresh is not analysis
    assert cache.roi_analysis() is fresh
    assert cache.adoption_report(None) is not adoption
    assert recomputed() == {"whole", "roi", "adoption"}
    assert counted["roi"].calls == seen["roi"] + 1
    assert counted["whole"].calls == seen["whole"] + 1


def test_a_trained_at_risk_model_survives_unrelated_changes(sample_db_url, monkeypatch: pytest.MonkeyPatch):
    from edtech.services import risk as risk_service
    from ui import cache, risk_cache

    trainings = _Counter(risk_service.train_workspace)
    monkeypatch.setattr(risk_service, "train_workspace", trainings)
    engine = cache.get_engine()
    trained = risk_cache.get_training(ONE_SCHOOL, RISK_TARGET, "kfold")
    assert risk_cache.is_trained(ONE_SCHOOL, RISK_TARGET, "kfold")
    after_first = trainings.calls

    steps = {
        "a Check only import": lambda: _check_only(engine, "indicators.csv", _head("indicators.csv", 40)),
        "a weights save": lambda: cache.save_weights({"utilization": 5, "fidelity": 5, "effect": 80,
                                                      "cost_effectiveness": 10}),
        "a scenario save": lambda: data.save_scenario(engine, "test", {"levers": []}),
        "a stored model version": lambda: data.save_model_version(
            engine, target=RISK_TARGET, model_name="logistic", metrics={}, fingerprint="f", card="c", artifact=b""),
        "an import of funding": lambda: _import(engine, "funding.csv", _head("funding.csv", 3)),
    }
    for what, step in steps.items():
        step()
        assert risk_cache.is_trained(ONE_SCHOOL, RISK_TARGET, "kfold"), f"{what} discarded the trained model"
        assert risk_cache.get_training(ONE_SCHOOL, RISK_TARGET, "kfold") is trained, what
    assert trainings.calls == after_first, "an unrelated change retrained the model"

    # new indicators are what the model learns from: it must be trained again
    _import(engine, "indicators.csv", _head("indicators.csv", 40))
    assert not risk_cache.is_trained(ONE_SCHOOL, RISK_TARGET, "kfold")
