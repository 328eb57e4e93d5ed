"""The page registry: which pages exist and which roles see them (used by app.py and page links)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import state

ROOT = Path(__file__).resolve().parent.parent
ALL = {"Director", "School coordinator", "Board member"}
# (file, title, icon, roles that see it)
PAGES = [
    ("app_pages/overview.py", "Overview", ":material/dashboard:", ALL),
    ("app_pages/tool_roi.py", "Tool ROI", ":material/paid:", ALL),
    ("app_pages/vetting.py", "Vetting", ":material/verified_user:", {"Director", "School coordinator"}),
    ("app_pages/adoption.py", "School adoption", ":material/school:", ALL),
    ("app_pages/at_risk.py", "At-risk students", ":material/health_and_safety:", {"Director", "School coordinator"}),
    ("app_pages/budget.py", "Budget scenarios", ":material/account_balance:", {"Director", "Board member"}),
    ("app_pages/report.py", "Board report", ":material/slideshow:", {"Director", "Board member"}),
    ("app_pages/data.py", "Data", ":material/upload_file:", {"Director", "School coordinator"}),
]


def visible_pages() -> list[tuple[str, str, str]]:
    role = state.current_role()
    return [(p, t, i) for p, t, i, roles in PAGES if role in roles and (ROOT / p).exists()]


def link(path: str, label: str, icon: str | None = None) -> None:
    """A page link shown only when the current role can open that page."""
    if any(p == path for p, _, _ in visible_pages()):
        st.page_link(path, label=label, icon=icon)
