"""Every page for every demo role in Debian Chromium (issue 14): signed in with each demo button, every page
of the role's menu opened and photographed at 1440×900 into a temporary folder, and on each page no visible
table header with `_`, no cell showing None/nan/NaT, no character drawn as a missing glyph, no exception box.

The same tour refreshes docs/screenshots (`make screenshots`, tests/page_tour.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import page_tour
from tests.browser_utils import browser_type_launch_args  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory):
    """`python -m edtech demo` into a temp database and `python -m edtech serve` with EDTECH_DEMO=1 (make run)."""
    work = tmp_path_factory.mktemp("tour")
    url = page_tour.build_demo(work / "demo.db")
    with page_tour.served_demo(url, work, work / "serve.log") as app:
        yield app


@pytest.fixture(scope="module")
def tour(demo_app: str, browser, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[page_tour.PageResult]]:
    shots = tmp_path_factory.mktemp("screenshots")
    return {role: page_tour.tour_role(browser, demo_app, role, shots) for role in page_tour.DEMO_ROLES}


def test_the_checks_see_what_they_look_for():
    """The page check reports each kind of problem (a check that cannot fail proves nothing)."""
    found = {"headers": ["Tool", "peak_active_30d"], "cells": ["$1,200", "None", "nan", "—"],
             "glyphs": [{"char": "U+1F4C8", "text": "Trend \U0001F4C8", "tag": "p"}],
             "exceptions": ["KeyError: 'x'"], "grids": 1, "title": "T"}
    problems = page_tour.problems_on(found)
    assert len(problems) == 5 and any("peak_active_30d" in p for p in problems)
    assert page_tour.problems_on({"headers": ["Tool"], "cells": ["—"], "glyphs": [], "exceptions": []}) == []


PLANTED = """
<div data-testid="stMain"><h1>Planted</h1>
  <div data-testid="stDataFrame"><table role="grid"><thead><tr><th role="columnheader">Tool</th>
    <th role="columnheader">peak_active_30d</th></tr></thead><tbody><tr><td role="gridcell">ReadRocket</td>
    <td role="gridcell">nan</td></tr></tbody></table></div>
  <table><tr><th>Seats</th><th>tool_name</th></tr><tr><td>None</td><td>—</td></tr></table>
  <p>Trend \U0001F4C8 and a check \u2705</p>
  <div style="display:none"><p>hidden \U0001F600</p><table><tr><th>hidden_header</th></tr></table></div>
  <div data-testid="stException">ValueError: planted</div>
</div>"""


def test_the_browser_checks_find_planted_problems(page):
    """The same checks in Chromium on a page with one problem of each kind (and hidden ones that do not count)."""
    page.set_viewport_size(page_tour.VIEWPORT)
    page.set_content(PLANTED)
    found = page.evaluate(page_tour.PAGE_CHECK_JS)
    assert page_tour._read_grids(page, found) == []
    problems = page_tour.problems_on(found)
    assert "header with '_': 'peak_active_30d'" in problems and "header with '_': 'tool_name'" in problems
    assert "cell shows 'nan'" in problems and "cell shows 'None'" in problems
    assert {g["char"] for g in found["glyphs"]} == {"U+1F4C8", "U+2705"}
    assert any(p.startswith("exception: ValueError") for p in problems)
    assert not any("hidden" in p for p in problems)


@pytest.mark.parametrize("role", list(page_tour.DEMO_ROLES))
def test_every_page_of_every_role_is_presentable(tour, role: str):
    results = tour[role]
    assert results, f"{role}: no page in the menu"
    for r in results:
        assert r.png.exists() and r.png.stat().st_size > 5_000, r.name  # a real 1440x900 picture
    if role == "director":
        assert {"home", "data", "budget"} <= {r.page for r in results} or len(results) >= 8
    bad = {r.name: r.problems for r in results if r.problems}
    assert not bad, "\n".join(f"{name}: {'; '.join(p[:8])}" for name, p in bad.items())


def test_screenshots_are_1440_by_900(tour):
    import struct

    png: Path = tour["viewer"][0].png
    width, height = struct.unpack(">II", png.read_bytes()[16:24])
    assert (width, height) == (1440, 900)
