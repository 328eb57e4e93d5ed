"""The published at-risk model is refreshed after new indicators arrive (issue 14): in the background in
the app, after the import has committed; the outcome never changes; a worse model is held back."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from edtech.core.access import Principal, Role
from edtech.services import audit, retrain, uploads
from edtech.services import risk as risk_service
from edtech.services.workspace import Workspace
from edtech.store import data


@pytest.fixture(scope="module")
def _trained(tmp_path_factory):
    """One district with a published model, trained once for the module (training is the slow part)."""
    from edtech.sample.generate import generate_district, to_contract_frames

    path = tmp_path_factory.mktemp("refresh") / "refresh.db"
    engine = data.make_engine(f"sqlite:///{path}")
    data.init_db(engine)
    frames = to_contract_frames(generate_district(n_students=700, seed=11).district)
    for kind in ("schools", "students", "tools", "indicators"):
        data.import_frame(engine, kind, frames[kind], file_name=f"{kind}.csv")
    trained = risk_service.train_district(Workspace(engine).whole, risk_service.default_outcome(Workspace(engine).whole))
    info = risk_service.publish_version(engine, risk_service.save_version(engine, trained))
    engine.dispose()
    return path, info, frames, trained


@pytest.fixture()
def published_engine(_trained, tmp_path):
    path, info, frames, trained = _trained
    copy = tmp_path / "copy.db"
    shutil.copy(path, copy)  # each test gets its own database, the training is shared
    return data.make_engine(f"sqlite:///{copy}"), info, frames, trained


def _indicator_upload(frames: dict[str, pd.DataFrame]) -> data.UploadFile:
    rows = frames["indicators"].copy()
    rows["as_of"] = pd.Timestamp("2026-11-30")
    return data.UploadFile("indicators_new.csv", rows.to_csv(index=False).encode())


def test_an_indicators_upload_refreshes_the_published_model_in_the_background(published_engine) -> None:
    engine, first, frames, _ = published_engine
    director = Principal(email="dir@example.org", role=Role.DIRECTOR)
    reports = uploads.import_upload(engine, [_indicator_upload(frames)], director)
    assert reports[0].written
    assert any("refreshed" in note for note in reports[0].notes)
    st = retrain.wait(engine, timeout=300)
    assert st.error is None, st.error
    now = risk_service.published_version(engine)
    assert now["id"] != first["id"] and now["target"] == first["target"]  # same outcome, new version
    assert now["published_by"] == audit.actor_name(retrain.REFRESHER)


def test_nothing_is_refreshed_without_a_published_model_or_for_other_tables(tmp_path, published_engine) -> None:
    engine, first, _, _ = published_engine
    assert not retrain.after_import(engine, {"tools", "licenses"})
    empty = data.make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    data.init_db(empty)
    assert not retrain.after_import(empty, {"indicators"})
    assert risk_service.published_version(engine)["id"] == first["id"]


def test_a_worse_refresh_is_stored_but_not_published(published_engine, monkeypatch) -> None:
    engine, first, _, trained = published_engine
    real = risk_service.version_details
    monkeypatch.setattr(risk_service, "train_workspace", lambda *a, **k: trained)  # the metrics decide here

    def worse(engine_, version_id):  # the new version scores far below the published one
        out = real(engine_, version_id)
        if version_id != first["id"]:
            out["metrics"] = {**out["metrics"], "roc_auc": 0.5}
        return out

    monkeypatch.setattr(risk_service, "version_details", worse)
    outcome = retrain.refresh_published(engine)
    assert "not published" in outcome
    assert risk_service.published_version(engine)["id"] == first["id"]
    assert len(risk_service.model_versions(engine)) == 2
