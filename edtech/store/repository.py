"""Settings, saved scenarios and model versions: crud-style functions over one session (`*, session`).

The caller owns the unit of work (`with Session(engine) as session: ...`); `edtech.store.data` wraps
each in a session for callers that hold only an engine.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlmodel import Session

from edtech.store.models import ModelVersion, Scenario, Setting


def save_setting(*, session: Session, key: str, value: object) -> None:
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value))
    else:
        row.value = value
        session.add(row)
    session.commit()


def load_setting(*, session: Session, key: str, default: object = None) -> object:
    row = session.get(Setting, key)
    return default if row is None else row.value


def save_scenario(*, session: Session, name: str, spec: dict, owner: str | None = None) -> None:
    row = session.get(Scenario, name)
    now = dt.datetime.now(dt.UTC)
    if row is None:
        session.add(Scenario(name=name, spec=spec, updated_at=now, owner=owner))
    else:
        row.spec, row.updated_at = spec, now
        row.owner = row.owner or owner
        session.add(row)
    session.commit()


def list_scenarios(*, session: Session) -> list[str]:
    return list(session.execute(select(Scenario.name).order_by(Scenario.name)).scalars())


def load_scenario(*, session: Session, name: str) -> dict | None:
    row = session.get(Scenario, name)
    return None if row is None else dict(row.spec)


def scenario_owner(*, session: Session, name: str) -> str | None:
    """Who saved it (None: unknown, or no such scenario)."""
    row = session.get(Scenario, name)
    return None if row is None else row.owner


def delete_scenario(*, session: Session, name: str) -> None:
    row = session.get(Scenario, name)
    if row is not None:
        session.delete(row)
        session.commit()


def create_model_version(*, session: Session, target: str, model_name: str, metrics: dict, fingerprint: str,
                         card: str, artifact: bytes) -> int:
    row = ModelVersion(created_at=dt.datetime.now(dt.UTC), target=target, model_name=model_name, metrics=metrics,
                       fingerprint=fingerprint, card=card, artifact=artifact)
    session.add(row)
    session.commit()
    session.refresh(row)
    return int(row.id)


def get_model_version(*, session: Session, version_id: int) -> ModelVersion | None:
    return session.get(ModelVersion, version_id)
