"""What the Admin page calls: accounts and the audit trail, as the signed-in director (checked in services)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from edtech.core.access import ROLE_LABELS, ROLE_SUMMARY, Action, Role, permission_table  # noqa: F401 - for the page
from edtech.services import accounts, audit
from edtech.services.accounts import AccountError  # noqa: F401 - the page shows these messages
from ui import cache, state


def users() -> pd.DataFrame:
    return accounts.users_frame(cache.get_engine(), actor=state.current_principal())


def add_user(email: str, role: str, schools: list[str], name: str, password: str | None) -> None:
    accounts.add_user(cache.get_engine(), email, role, schools=schools, name=name, password=password,
                      actor=state.current_principal())


def set_role(email: str, role: str, schools: list[str]) -> None:
    accounts.set_role(cache.get_engine(), email, role, schools=schools, actor=state.current_principal())


def set_password(email: str, password: str | None) -> None:
    accounts.set_password(cache.get_engine(), email, password, actor=state.current_principal())


def unlock(email: str) -> None:
    accounts.unlock_user(cache.get_engine(), email, actor=state.current_principal())


def remove(email: str) -> None:
    accounts.remove_user(cache.get_engine(), email, actor=state.current_principal())


def audit_trail(since: dt.date | None, action: str | None, who: str | None) -> pd.DataFrame:
    start = dt.datetime.combine(since, dt.time(), dt.UTC) if since else None
    return audit.read(cache.get_engine(), actor=state.current_principal(), since=start, action=action or None,
                      who=who or None)


def audit_actions() -> list[str]:
    return audit.actions(cache.get_engine(), actor=state.current_principal())


def audit_csv_builder(frame: pd.DataFrame):
    """The download's content, built on click (Streamlit may run it outside the script run: the principal
    and the engine are taken now, at render time)."""
    from edtech.core.privacy import neutralize_frame

    principal, engine = state.current_principal(), cache.get_engine()
    principal.require(Action.READ_AUDIT)

    def build() -> bytes:
        audit.record(engine, principal, "exported audit trail", detail=f"{len(frame)} rows")
        return audit.to_csv(neutralize_frame(frame))

    return build


def demo_mode() -> bool:
    return accounts.demo_mode()
