"""Session-state keys, roles and the school scope shared by every page."""

from __future__ import annotations

import streamlit as st

ROLE_KEY = "app_role"
SCHOOLS_KEY = "app_schools"

# What each role may see. Sign-in is a later step; the role picker stands in for it and every
# data call already takes the scope, so adding real sign-in will not change the pages.
ROLES: dict[str, dict[str, object]] = {
    "Director": {"all_schools": True, "students": True, "budget": True},
    "School coordinator": {"all_schools": False, "students": True, "budget": False},
    "Board member": {"all_schools": True, "students": False, "budget": True},
}


def init_state() -> None:
    if ROLE_KEY not in st.session_state:
        st.session_state[ROLE_KEY] = "Director"
    if SCHOOLS_KEY not in st.session_state:
        st.session_state[SCHOOLS_KEY] = []


def current_role() -> str:
    return st.session_state.get(ROLE_KEY, "Director")


def can_see_students() -> bool:
    return bool(ROLES.get(current_role(), {}).get("students", False))



def current_scope() -> frozenset[str] | None:
    """None = every school; else the coordinator's chosen schools."""
    if ROLES.get(current_role(), {}).get("all_schools", True):
        return None
    return frozenset(st.session_state.get(SCHOOLS_KEY, []))
