"""No traceback for any role in any state (issue 10): every page each role sees, for a school coordinator
with no school, one school and every school, and for the director and a board member, on the sample
district and on an empty database."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest_utils import new_app, pages_for

COORDINATOR = "School coordinator"
ONE_SCHOOL = "0201"
# pages whose figures are about the coordinator's schools: with none picked they prompt for a choice
UNSCOPED_PAGES = {"app_pages/data.py"}


_pages_for = pages_for
NO_SCHOOLS = "Ask your director"


def _sample_school_ids(url: str) -> list[str]:
    from edtech.store import data

    engine = data.make_engine(url)
    try:
        return sorted(data.read_table(engine, "schools")["school_id"].astype(str))
    finally:
        engine.dispose()


def _session(role: str, schools: list[str] | None = None) -> AppTest:
    """One browser session of `role` (a coordinator's account assigned `schools`)."""
    at = new_app(120, role, schools).run()
    assert not at.exception, ("app start", role, schools, [e.value for e in at.exception])
    return at


def _visit_every_page(role: str, schools: list[str] | None = None):
    """Each page the role sees, opened in turn in one session (as a user clicks through the menu)."""
    at = _session(role, schools)
    for page in _pages_for(role):
        at.switch_page(page).run()
        _assert_no_traceback(at, (role, schools, page))
        assert at.title, f"{page} shows no title"
        yield page, at


def _assert_no_traceback(at: AppTest, context: tuple) -> None:
    assert not at.exception, (*context, [e.value for e in at.exception])
    shown = [e.value for e in at.error if "Traceback" in str(e.value)]
    assert not shown, (*context, shown)


def _prompts(at: AppTest) -> list[str]:
    return [str(i.value) for i in at.info]


# ------------------------------------------------------------------ school coordinator

@pytest.mark.parametrize("schools_case", ["none", "one", "all"])
def test_coordinator_every_page_every_school_choice(schools_case, sample_db_url):
    schools = {"none": [], "one": [ONE_SCHOOL], "all": _sample_school_ids(sample_db_url)}[schools_case]
    for page, at in _visit_every_page(COORDINATOR, schools):
        if page in UNSCOPED_PAGES:
            continue
        prompted = any(NO_SCHOOLS in text for text in _prompts(at))
        # no school assigned: a prompt to ask the director; schools assigned: their figures, never the prompt
        assert prompted == (schools_case == "none"), (page, schools_case, _prompts(at))


def test_coordinator_school_not_in_the_district_gets_the_prompt(sample_db_url):
    """A stale assignment (a school id the district no longer has) is dropped: a prompt, not a traceback."""
    for page, at in _visit_every_page(COORDINATOR, ["9999"]):
        if page not in UNSCOPED_PAGES:
            assert any(NO_SCHOOLS in text for text in _prompts(at)), (page, _prompts(at))


def test_coordinator_trains_the_at_risk_model_for_one_school(sample_db_url):
    """The at-risk page's Model quality tab, for a one-school coordinator (a state the page reaches only on a
    click); with no published version the worklist tab says so and names who publishes one."""
    at = _session(COORDINATOR, [ONE_SCHOOL])
    at.switch_page("app_pages/at_risk.py").run()
    _assert_no_traceback(at, ("at_risk", "before training"))
    assert any("No published model yet" in text for text in _prompts(at))
    at.selectbox(key="risk_validation").set_value("kfold").run()
    at.button(key="risk_train").click().run(timeout=180)
    _assert_no_traceback(at, ("at_risk", "trained for one school"))
    # the diagnostics of a model of their school; never stored as a version, never the worklist
    metrics = [d.value for d in at.dataframe if "ROC AUC" in d.value.columns]
    assert len(metrics) == 1 and list(metrics[0][""])[0] == "model"
    assert not any("Stored as model version" in c.value for c in at.caption)
    assert not [d for d in at.dataframe if "band" in d.value.columns]


# ------------------------------------------------------------------ director and board member

@pytest.mark.parametrize("role", ["Director", "Board member", "Viewer"])
def test_director_and_board_member_every_page_on_the_sample(role, sample_db_url):
    visited = [page for page, _ in _visit_every_page(role)]
    assert visited == _pages_for(role)


# ------------------------------------------------------------------ empty database (last: each test clears the
# app's caches, so the sample-district tests above share theirs)

@pytest.mark.parametrize("role", ["Director", "Board member", "Viewer"])
def test_director_and_board_member_every_page_on_an_empty_database(role, empty_db_url):
    visited = [page for page, _ in _visit_every_page(role)]
    assert visited == _pages_for(role)


@pytest.mark.parametrize("schools", [[], [ONE_SCHOOL]], ids=["none", "one"])
def test_coordinator_every_page_on_an_empty_database(schools, empty_db_url):
    visited = [page for page, _ in _visit_every_page(COORDINATOR, schools)]
    assert visited == _pages_for(COORDINATOR)
