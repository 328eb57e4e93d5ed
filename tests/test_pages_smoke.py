"""Every page renders without an exception, on an empty and on a loaded database, for every role."""

from __future__ import annotations

import pytest

from tests.apptest_utils import new_app, pages_for  # noqa: F401
from tests.conftest import APP  # noqa: F401

_pages_for = pages_for


@pytest.mark.parametrize("db", ["empty_db_url", "sample_db_url"])
def test_every_page_renders_for_director(db, request):
    request.getfixturevalue(db)
    at = new_app(120).run()
    assert not at.exception, at.exception
    for page in _pages_for("Director"):
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert at.title, f"{page} shows no title"


@pytest.mark.parametrize("role", ["School coordinator", "Board member"])
def test_pages_render_for_other_roles(role, sample_db_url):
    at = new_app(120, role, ["0101"] if role == "School coordinator" else None).run()
    assert not at.exception
    for page in _pages_for(role):
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
