"""Stored at-risk model versions: signed, exact type allowlist, published (issue 12, "no way in through data").

A crafted artifact (a FunctionTransformer whose `func` is built by calling `builtins.exec` on load)
stored straight into `model_versions` must be refused by every path that loads a model (`risk score`,
`risk publish`, the board report, the Board report page) without running its code: the code writes a
marker file, and each test checks that the file does not exist.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.preprocessing import FunctionTransformer
from sqlmodel import Session

from edtech.core.access import AccessDenied, Principal, Role
from edtech.risk import artifact
from edtech.risk import model as risk
from edtech.services import audit
from edtech.services import report as report_service
from edtech.services import risk as risk_service
from edtech.services.workspace import Workspace
from edtech.store import data
from edtech.store.models import ModelVersion

KEY = "test-server-secret-for-artifacts"
REFUSED = "was stored by an older version of EdTech Compass or altered"


@pytest.fixture(autouse=True)
def _server_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDTECH_SECRET_KEY", KEY)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, risk_service.TrainedRisk]:
    """A 300-student generated district (through the importer) and one model trained on it (logistic only)."""
    from edtech.services.dataset import load_sample_district

    path = tmp_path_factory.mktemp("artifacts") / "district.db"
    engine = data.make_engine(f"sqlite:///{path}")
    assert all(r.ok for r in load_sample_district(engine, n_students=300, seed=3))
    table = risk_service.district_table(data.load_district(engine))
    result = risk.evaluate_risk(table, risk_service.DEFAULT_DISTRICT_TARGET, kinds=("logistic",), importance=False)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path, risk_service.TrainedRisk(result=result, table=table, card="card")


@pytest.fixture
def db(template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A private copy of the district database (EDTECH_DATABASE_URL points at it, for the CLI and AppTest)."""
    copy = tmp_path / "district.db"
    shutil.copy(template[0], copy)
    url = f"sqlite:///{copy}"
    monkeypatch.setenv("EDTECH_DATABASE_URL", url)
    engine = data.make_engine(url)
    yield url, engine
    engine.dispose()


@pytest.fixture
def trained(template) -> risk_service.TrainedRisk:
    return template[1]


# ------------------------------------------------------------------------------------ crafted artifacts
def _rewrite_schema(blob: bytes, edit) -> bytes:
    """The same skops zip with its schema.json passed through `edit(schema) -> schema`."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            content = src.read(item.filename)
            if item.filename == "schema.json":
                content = json.dumps(edit(json.loads(content))).encode()
            dst.writestr(item, content)
    return out.getvalue()


def _fresh_ids(node, counter=iter(range(10**15, 10**16))):
    """Give a grafted subtree ids no other node uses (skops memoizes nodes by id)."""
    if isinstance(node, dict):
        if "__id__" in node:
            node["__id__"] = next(counter)
        for value in node.values():
            _fresh_ids(value, counter)
    elif isinstance(node, list):
        for value in node:
            _fresh_ids(value, counter)
    return node


def exec_artifact(marker: Path) -> bytes:
    """A bundle whose "model" is FunctionTransformer(func=builtins.exec(<code>)): loading it with skops calls
    exec, and the code writes `marker`. What the prefix allowlist ("builtins." trusted) let through."""
    code = f"open({str(marker)!r}, 'w').write('the artifact ran code')"
    blob = sio.dumps({"model": FunctionTransformer(func=len), "kind": "logistic", "features": ["x"],
                      "target": "y", "spec": {"numeric": ["x"], "categorical": [], "id_column": None,
                                              "audit": [], "cohort": None, "school": None,
                                              "target_columns": ["y"]}})
    args = _fresh_ids(json.loads(zipfile.ZipFile(io.BytesIO(sio.dumps((code,)))).read("schema.json")))

    def graft(schema):
        content = schema["content"]["model"]["content"]["content"]
        content["func"] = {"__class__": "exec", "__module__": "builtins", "__loader__": "ConstructorFromReduceNode",
                           "content": args, "__id__": 10**16 + 1}
        return schema

    return _rewrite_schema(blob, graft)


def transformer_artifact() -> bytes:
    """FunctionTransformer(builtins.eval) as the model: types our pipelines never produce."""
    return sio.dumps({"model": FunctionTransformer(func=eval, kw_args={"source": "1"}), "kind": "logistic",
                      "features": [], "target": "y", "spec": {}})


def _store_raw(engine, blob: bytes, signature: str | None, *, published: bool = False) -> int:
    """What an attacker with write access to the database does: a row written directly."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    row = ModelVersion(created_at=now, target="off_track_next_term", model_name="logistic", metrics={},
                       fingerprint="x", card="", artifact=blob, signature=signature,
                       published_at=now + dt.timedelta(hours=1) if published else None,
                       published_by="intruder" if published else None)
    with Session(engine) as session:
        session.add(row)
        session.commit()
        session.refresh(row)
        return int(row.id)


# ------------------------------------------------------------------------------------ the allowlist
def test_allowlist_is_exactly_the_types_our_candidates_produce() -> None:
    found = artifact.fitted_types()
    assert found == artifact.ALLOWED_TYPES, (
        f"added {sorted(found - artifact.ALLOWED_TYPES)}, gone {sorted(artifact.ALLOWED_TYPES - found)}; review, "
        f"then paste into edtech/risk/artifact.py:\n{artifact.allowlist_source(found)}")
    # exact names, never a family: nothing that runs code or transforms with a user function
    for name in ("builtins.exec", "builtins.eval", "builtins.getattr", "builtins.open",
                 "sklearn.preprocessing._function_transformer.FunctionTransformer"):
        assert name not in artifact.ALLOWED_TYPES
    assert "edtech.risk.model.RiskModel" in artifact.ALLOWED_TYPES


def test_crafted_exec_artifact_is_refused_without_running_signed_or_not(db, tmp_path: Path) -> None:
    _, engine = db
    marker = tmp_path / "ran.txt"
    blob = exec_artifact(marker)
    assert "builtins.exec" in sio.get_untrusted_types(data=blob)     # the crafted node is really there
    signed = _store_raw(engine, blob, artifact.sign(blob))             # signed with this server's key
    unsigned = _store_raw(engine, blob, None)
    with pytest.raises(risk_service.ModelArtifactRefused, match="builtins.exec") as refused:
        risk_service.load_version(engine, signed)
    assert f"model version {signed} {REFUSED}" in str(refused.value) and "retrain it" in str(refused.value)
    with pytest.raises(risk_service.ModelArtifactRefused, match="not signed"):
        risk_service.load_version(engine, unsigned)
    with pytest.raises(risk_service.ModelArtifactRefused):
        risk_service.loads_model(blob, artifact.sign(blob))
    assert not marker.exists()


def test_function_transformer_model_is_refused_even_when_signed(db) -> None:
    _, engine = db
    blob = transformer_artifact()
    version = _store_raw(engine, blob, artifact.sign(blob))
    with pytest.raises(risk_service.ModelArtifactRefused, match="FunctionTransformer"):
        risk_service.load_version(engine, version)


def test_signature_is_checked_before_skops_reads_anything(db, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _, engine = db
    blob = exec_artifact(tmp_path / "ran.txt")

    def never(*_args, **_kwargs):
        raise AssertionError("the artifact was parsed before its signature was verified")

    monkeypatch.setattr(sio, "get_untrusted_types", never)
    monkeypatch.setattr(sio, "loads", never)
    monkeypatch.setattr(artifact, "artifact_types", never)
    for signature in (None, "", "0" * 64, artifact.sign(blob + b"x")):
        with pytest.raises(artifact.ModelArtifactRefused):
            artifact.loads(blob, signature)


def test_tampered_or_foreign_signed_versions_are_refused(db, trained, monkeypatch: pytest.MonkeyPatch) -> None:
    _, engine = db
    version = risk_service.save_version(engine, trained)
    blob, signature = risk_service.dumps_model(trained.result)
    assert isinstance(risk_service.load_version(engine, version)["model"], risk.RiskModel)
    # one byte changed anywhere
    tampered = bytearray(blob)
    tampered[len(tampered) // 2] ^= 0x01
    bad = _store_raw(engine, bytes(tampered), signature)
    with pytest.raises(risk_service.ModelArtifactRefused, match="signature does not match"):
        risk_service.load_version(engine, bad)
    # signed under another server's key
    monkeypatch.setenv("EDTECH_SECRET_KEY", "another-server")
    foreign_signature = artifact.sign(blob)
    monkeypatch.setenv("EDTECH_SECRET_KEY", KEY)
    foreign = _store_raw(engine, blob, foreign_signature)
    with pytest.raises(risk_service.ModelArtifactRefused, match="signature does not match"):
        risk_service.load_version(engine, foreign)
    # a version stored before signing existed (the data layer's plain writer: no signature)
    old = data.save_model_version(engine, target="off_track_next_term", model_name="logistic", metrics={},
                                  fingerprint="x", card="", artifact=blob)
    with pytest.raises(risk_service.ModelArtifactRefused, match=f"model version {old} .*not signed"):
        risk_service.load_version(engine, old)


def test_genuine_version_round_trips_publishes_and_scores(db, trained) -> None:
    _, engine = db
    version = risk_service.save_version(engine, trained)
    with pytest.raises(risk.RiskInputError, match="no published model version; publish one with python -m edtech "
                                                  "risk publish N"):
        risk_service.score_district(engine)
    bundle = risk_service.load_version(engine, version)
    X = risk.feature_frame(trained.table, risk_service.spec_from_bundle(bundle))[bundle["features"]]
    assert np.allclose(risk.predict_risk(bundle, X), risk.predict_risk(trained.result.model, X))
    info = risk_service.publish_version(engine, version)
    assert info["id"] == version and info["published_by"].startswith("cli") and info["signed"]
    scored = risk_service.score_district(engine)
    assert len(scored) > 0 and set(scored["model_version"]) == {version} and scored["risk"].between(0, 1).all()
    # the most recently published version is the one in use
    second = risk_service.save_version(engine, trained)
    assert risk_service.published_version(engine)["id"] == version
    risk_service.publish_version(engine, second)
    assert risk_service.published_version(engine)["id"] == second
    risk_service.publish_version(engine, version)
    assert risk_service.published_version(engine)["id"] == version
    versions = risk_service.model_versions(engine)
    assert versions["id"].tolist() == [second, version] and versions["signed"].all()
    events = audit.read(engine)
    assert events["action"].tolist().count("model stored") == 2
    assert events["action"].tolist().count("model published") == 3
    assert f"model version {version}" in events.loc[events["action"] == "model published", "detail"].iloc[0]


def test_publish_and_store_require_a_director(db, trained) -> None:
    _, engine = db
    version = risk_service.save_version(engine, trained)
    for role in (Role.BOARD, Role.COORDINATOR, Role.VIEWER):
        who = Principal(email=f"{role.value}@example.org", role=role, schools=frozenset({"0101"}))
        with pytest.raises(AccessDenied):
            risk_service.publish_version(engine, version, principal=who)
        with pytest.raises(AccessDenied):
            risk_service.save_version(engine, trained, principal=who)
    assert risk_service.published_version(engine) is None and len(risk_service.model_versions(engine)) == 1
    director = Principal(email="dir@example.org", role=Role.DIRECTOR)
    assert risk_service.publish_version(engine, version, principal=director)["published_by"] == "dir@example.org"


def test_cli_score_and_publish_refuse_a_crafted_version_with_exit_3(db, trained, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from edtech.cli.parser import main

    url, engine = db
    marker = tmp_path / "ran.txt"
    assert main(["--db", url, "risk", "score"]) == 3
    assert "no stored model version" in capsys.readouterr().err
    genuine = risk_service.save_version(engine, trained)
    assert main(["--db", url, "risk", "score"]) == 3
    assert "no published model version; publish one with python -m edtech risk publish N" in capsys.readouterr().err
    assert main(["--db", url, "risk", "publish", str(genuine)]) == 0
    assert f"published model version {genuine}" in capsys.readouterr().out
    assert main(["--db", url, "risk", "score", "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) > 0

    blob = exec_artifact(marker)
    crafted = _store_raw(engine, blob, artifact.sign(blob), published=True)   # published behind our back
    for argv in (["risk", "score"], ["risk", "score", "--version", str(crafted)], ["risk", "publish", str(crafted)]):
        assert main(["--db", url, *argv]) == 3, argv
        err = capsys.readouterr().err
        assert f"model version {crafted} {REFUSED}" in err and "retrain it: python -m edtech risk train" in err
        assert "Traceback" not in err
    unsigned = _store_raw(engine, blob, None, published=True)
    assert main(["--db", url, "risk", "score", "--version", str(unsigned)]) == 3
    assert "not signed" in capsys.readouterr().err
    assert not marker.exists()


def test_board_report_shows_no_usable_model_instead_of_running_it(db, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from edtech.cli.parser import main

    url, engine = db
    marker = tmp_path / "ran.txt"
    blob = exec_artifact(marker)
    _store_raw(engine, blob, artifact.sign(blob), published=True)
    numbers = report_service.report_figures(Workspace(engine))
    assert numbers["at_risk"]["model"] is None and numbers["at_risk"]["flagged"] is None
    assert numbers["at_risk"]["note"].startswith("No usable model: model version 1 " + REFUSED)
    assert main(["--db", url, "report", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["at_risk"]["note"].startswith("No usable model")
    assert "warning: No usable model" in captured.err
    assert not marker.exists()


def test_board_report_uses_the_published_version_only(db, trained) -> None:
    _, engine = db
    rep = report_service.build_report(Workspace(engine), sections=["at_risk"])
    assert rep.section("at_risk").paragraphs[0].startswith("No model trained yet")
    version = risk_service.save_version(engine, trained)
    rep = report_service.build_report(Workspace(engine), sections=["at_risk"])
    assert rep.risk_counts is None
    assert rep.section("at_risk").paragraphs[0] == ("No published model version; publish one with python -m edtech "
                                                    "risk publish N.")
    risk_service.publish_version(engine, version)
    rep = report_service.build_report(Workspace(engine), sections=["at_risk"])
    assert rep.risk_counts is not None and f"version {version}" in rep.risk_label


def test_board_member_opens_the_report_page_with_a_crafted_version_stored(db, tmp_path: Path) -> None:
    from tests.apptest_utils import open_page

    _, engine = db
    marker = tmp_path / "ran.txt"
    blob = exec_artifact(marker)
    _store_raw(engine, blob, artifact.sign(blob), published=True)
    at = open_page("app_pages/report.py", role="Board member", timeout=120)
    assert not at.exception, at.exception
    shown = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "No usable model" in shown
    assert not marker.exists()


def test_init_creates_the_secret_key_file_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edtech.cli.parser import main

    key_file = tmp_path / "keys" / ".secret_key"
    monkeypatch.delenv("EDTECH_SECRET_KEY")
    monkeypatch.setenv("EDTECH_SECRET_KEY_FILE", str(key_file))
    assert main(["--db", f"sqlite:///{tmp_path / 'x.db'}", "init"]) == 0
    assert key_file.exists() and stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    first = key_file.read_text()
    assert main(["--db", f"sqlite:///{tmp_path / 'x.db'}", "init"]) == 0
    assert key_file.read_text() == first and len(first) >= 64        # idempotent: the key is never replaced
