"""The audit trail: who viewed or exported student-level data, imported, changed settings, published a
model or produced a board report, when and with what scope. Append-only through the app: this module
has no update or delete.

Views are recorded once per sign-in session x page x scope x hour (a unique key makes repeats no-ops),
so reruns do not flood the table.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import io

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from edtech.core.access import SYSTEM, Action, Principal
from edtech.core.scope import Scope
from edtech.store.models import AuditEvent

COLUMNS = ["at", "actor", "role", "action", "page", "scope", "detail", "session"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def actor_name(principal: Principal | None) -> str:
    if principal is None:
        return "anonymous"
    if principal is SYSTEM or principal.email == SYSTEM.email:
        try:
            return f"cli:{getpass.getuser()}"
        except Exception:  # noqa: BLE001 - no login name in some containers
            return "cli"
    return principal.email


def scope_text(scope: Scope) -> str:
    return "district" if scope is None else (",".join(sorted(scope)) or "no schools")


_NO_SCOPE = "—"


def record(engine: Engine, principal: Principal | None, action: str, *, page: str | None = None,
           scope: Scope | str = _NO_SCOPE, detail: str | None = None, session: str | None = None) -> None:
    """Append one event (`scope`: None = the district, a set of schools, or omitted when not about data)."""
    text = None if scope is _NO_SCOPE else scope if isinstance(scope, str) else scope_text(scope)
    with Session(engine) as db:
        db.add(AuditEvent(at=_now(), actor=actor_name(principal), role=principal.role.value if principal else "",
                          action=action, page=page, scope=text, detail=detail, session=session))
        db.commit()


def record_view(engine: Engine, principal: Principal, page: str, scope: Scope, session: str,
                *, now: dt.datetime | None = None) -> bool:
    """One 'viewed' row per session x page x scope x hour; returns True when a row was written."""
    now = now or _now()
    text = scope_text(scope)
    hour = now.strftime("%Y-%m-%dT%H")
    key = hashlib.sha256(f"{session}|{page}|{text}|{hour}".encode()).hexdigest()[:40]
    with Session(engine) as db:
        if db.scalars(select(AuditEvent.id).where(AuditEvent.dedupe_key == key)).first() is not None:
            return False
        db.add(AuditEvent(at=now, actor=actor_name(principal), role=principal.role.value, action="viewed",
                          page=page, scope=text, session=session, dedupe_key=key))
        try:
            db.commit()
        except IntegrityError:  # another rerun of the same session wrote it first
            db.rollback()
            return False
    return True


def read(engine: Engine, *, actor: Principal = SYSTEM, since: dt.datetime | None = None,
         action: str | None = None, who: str | None = None, limit: int = 5000) -> pd.DataFrame:
    """The newest events first (director only)."""
    actor.require(Action.READ_AUDIT)
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if action:
        query = query.where(AuditEvent.action == action)
    if who:
        query = query.where(AuditEvent.actor == who.strip().lower())
    with Session(engine) as db:
        rows = [{c: getattr(r, c) for c in COLUMNS} for r in db.scalars(query)]
    return pd.DataFrame(rows, columns=COLUMNS)


def actions(engine: Engine, *, actor: Principal = SYSTEM) -> list[str]:
    actor.require(Action.READ_AUDIT)
    with Session(engine) as db:
        return sorted(set(db.scalars(select(AuditEvent.action).distinct())))


def to_csv(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()
