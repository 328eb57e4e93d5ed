"""Sign-in sessions: at most 8 hours from sign-in, and ended after 30 minutes without activity.

A session is keyed by a hash of the identity token's subject, issue time and session id (the claims
Streamlit keeps in its signed auth cookie), so a reload continues the same session and a new sign-in
starts a new one. Activity is written at most once a minute.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from edtech.store.models import AuthSession

MAX_AGE = dt.timedelta(hours=8)
IDLE = dt.timedelta(minutes=30)
TOUCH_EVERY = dt.timedelta(minutes=1)
NEW = "new"                       # a sign-in seen for the first time (not an end reason)
ENDED = ("expired", "idle", "signed out")


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def session_key(claims: Mapping[str, Any]) -> str:
    parts = [str(claims.get(k, "")) for k in ("iss", "sub", "email", "iat", "sid", "nonce")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def issued_at(claims: Mapping[str, Any], now: dt.datetime) -> dt.datetime:
    """When the identity provider signed the person in (auth_time, else iat; now when absent)."""
    for key in ("auth_time", "iat"):
        value = claims.get(key)
        if isinstance(value, int | float) and value > 0:
            return dt.datetime.fromtimestamp(float(value), dt.UTC)
    return now


def check_session(engine: Engine, claims: Mapping[str, Any], email: str, *,
                  now: dt.datetime | None = None) -> str | None:
    """Record activity; returns why the session has ended (one of ENDED), NEW for a new sign-in, else None."""
    now = now or dt.datetime.now(dt.UTC)
    started = issued_at(claims, now)
    if now - started > MAX_AGE:
        return "expired"
    key = session_key(claims)
    with Session(engine) as db:
        row = db.get(AuthSession, key)
        if row is None:
            db.add(AuthSession(key=key, email=email, started_at=started, last_seen=now))
            db.commit()
            return NEW
        if row.ended_at is not None:
            return "signed out"
        if now - _aware(row.last_seen) > IDLE:
            row.ended_at = now
            db.add(row)
            db.commit()
            return "idle"
        if now - _aware(row.last_seen) >= TOUCH_EVERY:
            row.last_seen = now
            db.add(row)
            db.commit()
    return None


def end_session(engine: Engine, claims: Mapping[str, Any], *, now: dt.datetime | None = None) -> None:
    """Mark a session ended (sign-out): its cookie, if replayed, no longer works."""
    now = now or dt.datetime.now(dt.UTC)
    with Session(engine) as db:
        row = db.get(AuthSession, session_key(claims))
        if row is not None and row.ended_at is None:
            row.ended_at = now
            db.add(row)
            db.commit()
