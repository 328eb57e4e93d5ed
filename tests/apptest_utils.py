"""Opening one page of the real app in AppTest, as a given role (shared by the page tests)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.conftest import APP


def open_page(page: str, role: str | None = None, schools: list[str] | None = None,
              query: dict[str, str] | None = None, timeout: int = 60) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout)
    if role:
        at.session_state["app_role"] = role
    if schools is not None:
        at.session_state["app_schools"] = schools
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at
