"""Crud functions of edtech.store.repository on an in-memory database (one session per test)."""

from __future__ import annotations

import pytest
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

from edtech.store import repository


@pytest.fixture
def session():
    """An empty in-memory database with every table (SQLModel tutorial's test setup)."""
    engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as s:
        yield s


def test_settings_round_trip_and_overwrite(session):
    assert repository.load_setting(session=session, key="w", default={"a": 1}) == {"a": 1}
    repository.save_setting(session=session, key="w", value={"a": 2})
    repository.save_setting(session=session, key="w", value={"a": 3})
    assert repository.load_setting(session=session, key="w") == {"a": 3}


def test_scenarios_save_list_load_delete(session):
    repository.save_scenario(session=session, name="B", spec={"horizon_years": 3})
    repository.save_scenario(session=session, name="A", spec={"horizon_years": 2})
    repository.save_scenario(session=session, name="A", spec={"horizon_years": 4})
    assert repository.list_scenarios(session=session) == ["A", "B"]
    assert repository.load_scenario(session=session, name="A") == {"horizon_years": 4}
    repository.delete_scenario(session=session, name="A")
    repository.delete_scenario(session=session, name="missing")          # deleting nothing is fine
    assert repository.list_scenarios(session=session) == ["B"]
    assert repository.load_scenario(session=session, name="A") is None


def test_model_versions_get_increasing_ids(session):
    first = repository.create_model_version(session=session, target="y", model_name="logistic", metrics={"auc": 0.8},
                                            fingerprint="f", card="card", artifact=b"\x00\x01")
    second = repository.create_model_version(session=session, target="y", model_name="hgb", metrics={},
                                             fingerprint="g", card="", artifact=b"")
    assert second > first
    row = repository.get_model_version(session=session, version_id=first)
    assert row.model_name == "logistic" and bytes(row.artifact) == b"\x00\x01" and row.metrics == {"auc": 0.8}
    assert repository.get_model_version(session=session, version_id=999) is None
