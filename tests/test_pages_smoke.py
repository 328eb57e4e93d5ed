"""Every page renders without an exception, on an empty and on a loaded database, for every role."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APP
from ui import nav


def _pages_for(role: str) -> list[str]:
    return [p for p, _, _, roles in nav.PAGES if role in roles and (nav.ROOT / p).exists()]


@pytest.mark.parametrize("db", ["empty_db_url", "sample_db_url"])
def test_every_page_renders_for_director(db, request):
    request.getfixturevalue(db)
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    for page in _pages_for("Director"):
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert at.title, f"{page} shows no title"


@pytest.mark.parametrize("role", ["School coordinator", "Board member"])
def test_pages_render_for_other_roles(role, sample_db_url):
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["app_role"] = role
    if role == "School coordinator":
        at.session_state["app_schools"] = ["0101"]
    at.run()
    assert not at.exception
    for page in _pages_for(role):
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
