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
