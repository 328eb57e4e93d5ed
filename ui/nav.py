"""The page registry: which pages exist and which roles open them (roles from edtech.core.access)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from edtech.core.access import PAGE_TITLES
from ui import state

ROOT = Path(__file__).resolve().parent.parent
ICONS = {
    "overview": ":material/dashboard:", "tool_roi": ":material/paid:", "vetting": ":material/verified_user:",
    "adoption": ":material/school:", "at_risk": ":material/health_and_safety:",
    "interventions": ":material/support:", "roadmap": ":material/flag:",
    "budget": ":material/account_balance:", "report": ":material/slideshow:", "data": ":material/upload_file:",
    "admin": ":material/admin_panel_settings:",
}
# (file, title, icon, page key) in menu order
PAGES = [(f"app_pages/{key}.py", PAGE_TITLES[key], ICONS[key], key) for key in ICONS]


def visible_pages() -> list[tuple[str, str, str, str]]:
    principal = state.current_principal()
    return [(p, t, i, k) for p, t, i, k in PAGES if principal.can_open(k) and (ROOT / p).exists()]


def link(path: str, label: str, icon: str | None = None) -> None:
    """A page link shown only when the signed-in role can open that page."""
    if any(p == path for p, _, _, _ in visible_pages()):
        st.page_link(path, label=label, icon=icon)
