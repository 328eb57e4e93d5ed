"""AppTest: the school adoption page (empty database, sample district, bookmarkable school, roles, LearnPlatform)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest_utils import open_page

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "app_pages/adoption.py"
LEARNPLATFORM = Path(__file__).resolve().parents[2] / "shared" / "data" / "learnplatform-2020"


def _open(role: str | None = None, schools: list[str] | None = None, school: str | None = None) -> AppTest:
    return open_page(PAGE, role, schools, {"school": school} if school else None)


def test_empty_database_shows_friendly_message(empty_db_url):
    at = _open()
    assert any("No data yet" in i.value for i in at.info)


def test_sample_district_bookmarks_and_warm_rerun(sample_db_url, monkeypatch):
    # one test, several app sessions: the district loads once (caches are cleared between tests)
    from edtech.services import adoption as adoption_service

    calls: list[int] = []
    real = adoption_service.adoption_report

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(adoption_service, "adoption_report", counted)
    at = _open()
    assert at.selectbox(key="adoption_school").value == "All schools"
    assert len(at.get("plotly_chart")) >= 5          # heatmap, trend, dosage, equity, devices, PD, …
    assert any("concentrated" in w.value for w in at.warning)  # the planted concentrated tool
    assert "school" not in at.query_params
    # a warm rerun reads the cached analysis (its speed is measured by `python -m edtech bench`, not here)
    computed = len(calls)
    at.run()
    assert computed >= 1 and not at.exception
    assert len(calls) == computed, "a warm rerun recomputed the adoption report"

    # a bookmarked school is selected, and the address follows the picker
    at = _open(school="0202")
    picker = at.selectbox(key="adoption_school")
    assert picker.value == "0202"
    assert {m.label for m in at.metric} >= {"Tools licensed", "Active users (contract year)"}
    assert at.query_params["school"] == "0202"
    picker.set_value("0101").run()
    assert not at.exception
    assert at.query_params["school"] == "0101"
    at.selectbox(key="adoption_school").set_value("All schools").run()
    assert "school" not in at.query_params

    # an unknown bookmark falls back to all schools with a warning
    at = _open(school="nope")
    assert at.selectbox(key="adoption_school").value == "All schools"
    assert any("nope" in w.value for w in at.warning)


def test_roles_scope_and_student_names(sample_db_url):
    at = _open(role="School coordinator", schools=["0202"], school="0101")
    picker = at.selectbox(key="adoption_school")
    assert picker.options == ["All schools", "Harbor View Middle (0202)"]
    assert picker.value == "All schools"           # 0101 is outside the coordinator's scope
    assert any("0101" in w.value for w in at.warning)
    picker.set_value("0202").run()
    assert not at.exception
    # coordinators may see students: the follow-up list is offered
    assert any(e.label.startswith("Students who have not used") for e in at.expander)

    at = _open(role="Board member", school="0202")
    assert not any(e.label.startswith("Students who have not used") for e in at.expander)
    assert any("Counts only" in c.value for c in at.caption)


def test_learnplatform_sample_shows_top_products_and_closure_jump(empty_db_url):
    if not LEARNPLATFORM.exists():
        pytest.skip(f"LearnPlatform 2020 sample not found at {LEARNPLATFORM}")
    from edtech.store import data

    engine = data.make_engine(empty_db_url)
    reports = data.import_learnplatform(engine, LEARNPLATFORM)
    assert all(r.ok for r in reports)
    engine.dispose()
    at = _open()
    assert len(at.get("plotly_chart")) >= 3
    assert any("Largest change after the closures" in m.value and "Meet" in m.value for m in at.markdown)
