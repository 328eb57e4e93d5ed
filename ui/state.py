"""The signed-in principal and the school scope shared by every page.

The role and (for a coordinator) the schools come from the account bound to the signed-in identity
(`ui.auth` sets them each rerun); nothing a visitor types or puts in a URL changes them. A coordinator
may narrow the view to some of their schools, never widen it.
"""

from __future__ import annotations

import streamlit as st

from edtech.core.access import ROLE_LABELS, AccessDenied, Action, Principal, scope_for  # Action: pages use state.Action

PRINCIPAL_KEY = "auth_principal"
SCHOOLS_KEY = "app_schools"   # a coordinator's narrowing of their own schools (empty: all of them)


def set_principal(principal: Principal) -> None:
    st.session_state[PRINCIPAL_KEY] = principal


def current_principal() -> Principal:
    """The signed-in principal (app.py stops before any page runs when there is none)."""
    principal = st.session_state.get(PRINCIPAL_KEY)
    if principal is None:  # never expected inside the app (the gate stops first): refuse, do not guess
        raise AccessDenied("You are not signed in.")
    return principal


def current_role() -> str:
    return ROLE_LABELS[current_principal().role]


def can(action: Action) -> bool:
    return current_principal().can(action)


def can_see_students() -> bool:
    return can(Action.VIEW_STUDENTS)


def current_scope() -> frozenset[str] | None:
    """None = every school; else the coordinator's schools (narrowed by their own choice)."""
    principal = current_principal()
    chosen = st.session_state.get(SCHOOLS_KEY) or []
    scope = scope_for(principal, frozenset(chosen) if chosen else None)
    if scope is None:
        return None
    from ui import cache  # a school the district no longer has is dropped

    return frozenset(scope) & frozenset(cache.school_names())


def session_id() -> str:
    """The sign-in session this rerun belongs to (for the audit trail)."""
    return str(st.session_state.get("auth_session_key", "anonymous"))
