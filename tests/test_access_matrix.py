"""Every role x page x action through the app (AppTest, signed in), driven by the one permission matrix.

`edtech.core.access.PAGES` and `PERMISSIONS` decide what each test expects: change the matrix and these
tests demand that the app follows it. What AppTest does with a page the navigation does not hold:
`switch_page` raises ValueError (the menu has no such entry); a crafted URL (the page's script hash, as a
browser sends for /<page>) makes `st.navigation` fall back to the default page. Both are checked.

Speed: each role's tour of the app (every page, with the query parameters a coordinator might forge) is
taken once and shared by the tests that read it; tests that write use a second private copy of the
sample (`own_district`), so the app's caches (keyed on data versions) stay warm; the at-risk model is
trained once (a coordinator, one school) and the board report PDF is drawn once.
"""

from __future__ import annotations

import functools
import io
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from edtech.core.access import PAGE_TITLES, PAGES, PERMISSIONS, AccessDenied, Action, Principal, Role
from edtech.core.scope import ScopeError
from edtech.services import accounts, audit, uploads, workspace
from edtech.store import data
from tests.apptest_utils import new_app
from tests.conftest import APP, ROOT

MINE, OTHER = "0201", "0101"            # the coordinator's school, and another school of the sample district
ROLE_SCHOOLS = {Role.COORDINATOR: [MINE]}
TIMEOUT = 300
# every query parameter the app reads (QUERY_READERS, checked against the code) and a few it might one day
QUERY = {"school": OTHER, "schools": OTHER, "school_id": OTHER, "scope": "district", "role": "director"}
QUERY_READERS = {"app_pages/adoption.py": {"school"}}
DATA_KINDS = ("metric", "dataframe", "table", "plotly_chart", "download_button")
HOSTILE = "ZQX<b>0101</b>[renew](https://evil.example/x)"
SIX_DIGITS = re.compile(r"(?<![\w#.])\d{6}(?![\w.])")   # the sample's student ids (001000…) as cells


# ------------------------------------------------------------------ what a run showed

_FILES: dict[str, tuple[str | None, Any]] = {}   # download button id -> (file name, data or its callable)


@pytest.fixture(scope="module", autouse=True)
def _record_downloads():
    """Keep what each download button would serve (AppTest drops its media files after every run)."""
    from streamlit.elements.widgets import button

    original = button.marshall_file

    def recording(coordinates, payload, proto, mimetype, file_name=None, **kw):
        _FILES[kw.get("element_id") or proto.id] = (file_name, payload)
        return original(coordinates, payload, proto, mimetype, file_name, **kw)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(button, "marshall_file", recording)
        yield


@dataclass
class Shot:
    """One rendered run: titles, problems, grids, download files, widget keys, options and all proto text."""

    titles: list[str]
    problems: list[str]
    frames: list[pd.DataFrame]   # every grid's data (a grid's key is not visible to AppTest)
    downloads: dict[str, tuple[str | None, Any]]
    keys: set[str]
    enabled: set[str]   # keys of widgets a person can use (not disabled)
    options: dict[str, list[str]]
    counts: dict[str, int]
    errors: list[str]
    text: str


def _key(node: Any) -> str | None:
    """A widget's key, or the key a grid or chart was given (kept in its element id)."""
    from streamlit.runtime.state.common import user_key_from_element_id

    element_id = getattr(getattr(node, "proto", None), "id", "")
    return getattr(node, "key", None) or (user_key_from_element_id(element_id) if element_id else None)


def _shot(at: AppTest) -> Shot:
    from streamlit.testing.v1.element_tree import Widget

    nodes = [n for root in (at.main, at.sidebar) for n in root]
    frames = [d.value for d in at.dataframe]
    buttons = at.get("download_button")
    problems = [str(e.value) for e in at.exception] + [e.value for e in at.error if "Traceback" in e.value]
    return Shot(
        titles=[t.value for t in at.title], problems=problems, frames=frames,
        downloads={b.key or b.proto.label: _FILES[b.proto.id] for b in buttons},
        keys={k for n in nodes if (k := _key(n))},
        enabled={k for n in nodes if isinstance(n, Widget) and (k := _key(n)) and not getattr(n, "disabled", False)},
        options={w.key: list(w.options) for w in [*at.selectbox, *at.multiselect] if w.key},
        counts={"metric": len(at.metric), "dataframe": len(at.dataframe), "table": len(at.table),
                "plotly_chart": len(at.get("plotly_chart")), "download_button": len(buttons)},
        errors=[e.value.replace("\\", "") for e in at.error],  # markdown escapes removed
        text="\n".join(str(n.proto) for n in nodes if getattr(n, "proto", None) is not None))


def _content(payload: Any) -> str:
    """A download's text (a zip's members unpacked: xlsx, pptx, memos)."""
    if callable(payload):
        payload = payload()
    if hasattr(payload, "read"):
        payload = payload.read()
    raw = payload.encode() if isinstance(payload, str) else bytes(payload)
    if raw[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            if "xl/workbook.xml" in z.namelist():  # a workbook: its cells (its XML styles hold colour codes)
                sheets = pd.read_excel(io.BytesIO(raw), sheet_name=None, dtype=str)
                return "\n".join(f.to_csv(index=False) for f in sheets.values())
            return "\n".join(z.read(name).decode("utf-8", "ignore") for name in z.namelist())
    return raw.decode("utf-8", "ignore")


def _grid(shot: Shot, *columns: str) -> pd.DataFrame | None:
    """The first grid with these columns (grids are told apart by their columns)."""
    return next((f for f in shot.frames if set(columns) <= set(f.columns)), None)


def _cells(frame: pd.DataFrame) -> set[str]:
    return {str(v) for v in frame.astype(str).to_numpy().ravel()}


def _check(at: AppTest, context: object) -> None:
    assert not at.exception, (context, [e.value for e in at.exception])
    shown = [e.value for e in at.error if "Traceback" in e.value]
    assert not shown, (context, shown)


def _ask(at: AppTest, query: dict[str, str]) -> AppTest:
    for key, value in query.items():
        at.query_params[key] = value
    return at


def _request_url(at: AppTest, page: str) -> AppTest:
    """Ask for /<page> as a browser would (its script hash), bypassing AppTest's check of the menu."""
    from streamlit.util import calc_hash

    at._page_hash = calc_hash(page)  # noqa: SLF001 - a forged request: there is no public way to send one
    return at


@functools.cache
def _page_keys(page: str) -> frozenset[str]:
    """The literal widget/grid keys a page's source creates (present in a run only if the page ran)."""
    return frozenset(re.findall(r'\bkey="(\w+)"', (ROOT / "app_pages" / f"{page}.py").read_text()))


def _title_of(shot: Shot, page: str) -> bool:
    return any(PAGE_TITLES[page].lower() in t.lower() for t in shot.titles)


def _allowed_roles(action: Action) -> set[Role]:
    return set(PERMISSIONS[action])


def _page_roles(page: str) -> set[Role]:
    return set(PAGES[page])


# ------------------------------------------------------------------ the sample district's facts

@functools.cache
def _students() -> pd.DataFrame:
    import os

    engine = data.make_engine(os.environ["EDTECH_DATABASE_URL"])
    try:
        return data.read_table(engine, "students")[["student_id", "school_id"]].astype(str)
    finally:
        engine.dispose()


def students_of(school: str) -> set[str]:
    frame = _students()
    return set(frame.loc[frame["school_id"] == school, "student_id"])


@functools.cache
def _school_names() -> dict[str, str]:
    import os

    engine = data.make_engine(os.environ["EDTECH_DATABASE_URL"])
    try:
        schools = data.read_table(engine, "schools")
    finally:
        engine.dispose()
    return dict(zip(schools["school_id"].astype(str), schools["school_name"].astype(str), strict=True))


def _principal(role: Role, email: str | None = None) -> Principal:
    return Principal(email=email or f"{role.value}-probe@test.example", role=role,
                     schools=frozenset(ROLE_SCHOOLS.get(role, [])))


@pytest.fixture
def own_district(sample_db_url, tmp_path, monkeypatch):
    """A second private copy of the sample for a test that writes (imports, weights, scenarios, accounts).

    The first copy (sample_db_url) stays unchanged, so its teardown keeps the app's caches warm for the next
    tests; the caches are keyed on data versions, so what is computed on this copy after a write is its own.
    """
    path = tmp_path / "own.db"
    shutil.copy(sample_db_url.removeprefix("sqlite:///"), path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("EDTECH_DATABASE_URL", url)
    engine = data.make_engine(url)
    yield engine
    engine.dispose()


# ------------------------------------------------------------------ each role's tour of the app (taken once)

@dataclass
class Tour:
    email: str
    pages: dict[str, Shot] = field(default_factory=dict)     # allowed page -> what it showed (+ "adoption@mine")
    refused: dict[str, Shot] = field(default_factory=dict)   # refused page -> what its crafted URL showed
    in_menu: set[str] = field(default_factory=set)           # pages the navigation holds


_TOURS: dict[Role, Tour] = {}


def tour(role: Role) -> Tour:
    """Every page of the app, in menu order, in one signed-in session with the forged query parameters;
    pages the role may not open are asked for by URL; then the adoption page of MINE (student lists)."""
    if role not in _TOURS:
        from ui import nav

        at = new_app(TIMEOUT, role.value, ROLE_SCHOOLS.get(role))
        _ask(at, QUERY).run()
        _check(at, (role, "start"))
        visit = Tour(email=at.user["email"])
        for path, _, _, page in nav.PAGES:
            try:
                at.switch_page(path)
            except ValueError:  # not in this session's navigation: forge the URL instead
                _request_url(at, page)
                visit.refused[page] = _shot(_ask(at, QUERY).run())
            else:
                visit.in_menu.add(page)
                visit.pages[page] = _shot(_ask(at, QUERY).run())
        if "adoption" in visit.pages:
            at.switch_page("app_pages/adoption.py")
            visit.pages["adoption@mine"] = _shot(_ask(at, {**QUERY, "school": MINE}).run())
        _TOURS[role] = visit
    return _TOURS[role]


# ------------------------------------------------------------------ 1. role x page

@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_each_role_opens_exactly_its_pages(role, sample_db_url):
    visit = tour(role)
    allowed = {page for page in PAGES if role in PAGES[page]}
    assert visit.in_menu == allowed, "the navigation differs from the matrix"
    default = next(page for page in PAGE_TITLES if page in allowed)
    for page in PAGES:
        if page in allowed:
            shot = visit.pages[page]
            assert not shot.problems, (role, page, shot.problems)
            assert _title_of(shot, page), (role, page, shot.titles)
        else:
            shot = visit.refused[page]
            assert not shot.problems, (role, page, shot.problems)
            # the default page instead, nothing of the refused page: not its title, not one of its widgets
            assert PAGE_TITLES[page] not in shot.titles and shot.titles == visit.pages[default].titles, shot.titles
            assert not (_page_keys(page) & shot.keys), (role, page, _page_keys(page) & shot.keys)


def test_a_visitor_not_signed_in_sees_only_the_sign_in_screen(sample_db_url):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.user = {"is_logged_in": False}
    for page in [None, *PAGES]:
        if page is not None:
            _request_url(at, page)
        shot = _shot(_ask(at, dict.fromkeys(QUERY, HOSTILE)).run())
        assert not shot.problems, (page, shot.problems)
        assert shot.titles == ["EdTech Compass"], (page, shot.titles)
        assert not any(shot.counts[k] for k in DATA_KINDS), (page, shot.counts)
        assert "Sign in" in shot.text and "ZQX" not in shot.text and "evil.example" not in shot.text, page
        for other in PAGES:
            assert not (_page_keys(other) & shot.keys), (page, other)
    for page in PAGES:  # the navigation holds the sign-in screen only
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"app_pages/{page}.py")


def test_a_signed_in_email_without_an_account_is_refused_and_audited(sample_db_url):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.user = {"is_logged_in": True, "email": "Stranger@Elsewhere.example", "name": "Stranger", "iss": "test",
               "sub": "stranger"}
    for page in [None, *PAGES]:
        if page is not None:
            _request_url(at, page)
        shot = _shot(_ask(at, QUERY).run())
        assert not shot.problems, (page, shot.problems)
        assert any("Ask your director" in e for e in shot.errors), (page, shot.errors)
        assert shot.titles == ["EdTech Compass"] and not any(shot.counts[k] for k in DATA_KINDS), page
        assert not any(_page_keys(p) & shot.keys for p in PAGES), page
    engine = data.make_engine(sample_db_url)
    try:
        refused = audit.read(engine, action="sign-in refused")
    finally:
        engine.dispose()
    assert len(refused) == 1, refused  # once per sign-in session, not per rerun
    assert "Stranger@Elsewhere.example".lower() in refused["detail"].iloc[0].lower()


# ------------------------------------------------------------------ 3. a coordinator and another school's students

def test_a_coordinator_sees_no_other_schools_students_on_any_page_or_download(sample_db_url):
    visit = tour(Role.COORDINATOR)
    other, mine = students_of(OTHER), students_of(MINE)
    names = _school_names()
    assert other and mine and not (other & mine)
    seen_mine = False
    for page, shot in visit.pages.items():
        for key, frame in enumerate(shot.frames):
            cells = _cells(frame)
            assert not (cells & other), (page, key, sorted(cells & other)[:5])
            seen_mine |= bool(cells & mine)
            for column, allowed in (("school_id", {MINE}), ("school", {MINE, names[MINE]}),
                                    ("school_name", {names[MINE]})):
                if column in frame.columns:
                    assert set(frame[column].dropna().astype(str)) <= allowed, (page, key, column)
        for key, (_, payload) in shot.downloads.items():
            found = set(SIX_DIGITS.findall(_content(payload)))
            assert not (found & other), (page, key, sorted(found & other)[:5])
        shown = set(SIX_DIGITS.findall(shot.text))  # text, alerts, chart data and hover labels
        assert not (shown & other), (page, sorted(shown & other)[:5])
        # the scope shown is theirs: the sidebar offers their school only; no other school in any picker
        assert shot.options.get("app_schools") == [names[MINE]], (page, shot.options.get("app_schools"))
        for key, options in shot.options.items():
            assert not any(OTHER in o or names[OTHER] in o for o in options), (page, key, options)
    assert seen_mine, "the coordinator saw none of their own students: the check above proves nothing"
    assert visit.pages["overview"].titles == ["My schools: overview"]
    adoption = visit.pages["adoption"]
    assert adoption.options["adoption_school"] == ["All schools", f"{names[MINE]} ({MINE})"]
    assert any("not among the schools you can see" in w for w in adoption.text.split("\n")), "no refusal shown"


def test_a_coordinator_asking_the_services_for_another_school_gets_nothing(sample_db_url):
    from edtech.services import adoption as adoption_service

    engine = data.make_engine(sample_db_url)
    try:
        with pytest.raises(ScopeError):  # another school's id is cut to no school: nothing to compute
            workspace.Workspace(engine, frozenset({OTHER}), principal=_principal(Role.COORDINATOR))
        ws = workspace.Workspace(engine, None, principal=_principal(Role.COORDINATOR))
        assert ws.scope == {MINE}
        assert adoption_service.not_using_students(ws, OTHER).empty
    finally:
        engine.dispose()


def test_a_coordinator_trains_the_at_risk_model_on_their_school_only(own_district):
    """The worklist (the published version, here one trained on MINE's rows by the services) and the Model
    quality tab after the coordinator's own training: every grid, text and the CSV hold their students only."""
    from edtech.core.access import SYSTEM
    from edtech.core.scope import restrict_district
    from edtech.risk import model as risk
    from edtech.services import risk as risk_service

    whole = workspace.Workspace(own_district).whole
    table = risk_service.district_table(restrict_district(whole, frozenset({MINE})))
    result = risk.evaluate_risk(table, risk_service.DEFAULT_DISTRICT_TARGET, kinds=("logistic",), importance=False)
    trained = risk_service.TrainedRisk(result=result, table=table, card="")
    risk_service.publish_version(own_district, risk_service.save_version(own_district, trained, principal=SYSTEM),
                                 principal=SYSTEM)
    at = new_app(TIMEOUT, "coordinator", [MINE])
    _ask(at, QUERY).run()
    at.switch_page("app_pages/at_risk.py")
    _ask(at, QUERY).run()
    _check(at, "at_risk on open")
    names = _school_names()
    other, mine = students_of(OTHER), students_of(MINE)
    worklist = _grid(_shot(at), "student_id", "school_name", "band", "risk")
    assert worklist is not None, "no worklist on open"
    assert len(worklist) and set(worklist["school_name"].astype(str)) == {names[MINE]}
    assert set(worklist["student_id"].astype(str)) <= mine
    at.selectbox(key="risk_validation").set_value("kfold")
    at.button(key="risk_train").click().run()
    _check(at, "at_risk trained")
    shot = _shot(at)
    assert _grid(shot, "", "ROC AUC") is not None, "no diagnostics after training"
    for key, frame in enumerate(shot.frames):
        assert not (_cells(frame) & other), key
    assert not (set(SIX_DIGITS.findall(shot.text)) & other), "another school's student in a chart or text"
    exported = set(SIX_DIGITS.findall(_content(shot.downloads["risk_download"][1])))
    assert exported and exported <= mine
    assert "Stored as model version" not in shot.text  # a coordinator's model is not stored for the board


# ------------------------------------------------------------------ 2. every action x role

class _Once(workspace.Provider):
    """Heavy parts computed once per data version for the service probes (as the app's caches do)."""

    def __init__(self) -> None:
        self.parts: dict[tuple[str, str], Any] = {}

    def part(self, engine, name, reads, compute):
        key = (data.data_version(engine), name)
        if key not in self.parts:
            self.parts[key] = compute()
        return self.parts[key]


_ONCE = _Once()


def _refused(call: Callable[[], Any]) -> bool:
    try:
        call()
    except AccessDenied:
        return True
    return False


def _probe_view_students(role: Role, engine) -> bool:
    from edtech.services import adoption as adoption_service

    ws = workspace.Workspace(engine, principal=_principal(role), provider=_ONCE)
    try:
        rows = adoption_service.not_using_students(ws, MINE)
    except AccessDenied:
        return False
    assert len(rows) and set(rows["student_id"].astype(str)) <= students_of(MINE)
    return True


def _student_rows_reached(role: Role) -> bool:
    """A grid (exportable from its toolbar) or a download of the role's tour holds student ids."""
    every = set(_students()["student_id"])
    visit = tour(role)
    grids = any(_cells(f) & every for s in visit.pages.values() for f in s.frames)
    files = any(set(SIX_DIGITS.findall(_content(p))) & every for s in visit.pages.values()
                for _, p in s.downloads.values())
    return grids or files


NOT_AGGREGATE_DOWNLOADS = {"data_template": "a blank file template", "admin_audit_csv": "the audit trail"}


def _probe_export_aggregates(role: Role, engine) -> bool:
    return any(key not in NOT_AGGREGATE_DOWNLOADS for s in tour(role).pages.values() for key in s.downloads)


def _report_script(role_value: str, schools: list[str], calls: list[str]) -> None:
    """ui.cache's board report use cases as a principal of `role_value` (AppTest.from_function)."""
    import streamlit as st

    from edtech.core.access import AccessDenied, Principal, Role
    from ui import cache, state

    state.set_principal(Principal(email=f"{role_value}-probe@test.example", role=Role(role_value),
                                  schools=frozenset(schools)))
    produce = {
        "file": lambda: cache.board_report_file(None, ("kpis",), None, 10, "pdf"),
        "memos": lambda: cache.renewal_memos(None, 10),
        "record": lambda: cache.record_report("board report (probe)", None),
    }
    for name in calls:
        try:
            produce[name]()
        except AccessDenied:
            st.text(f"{name}: refused")
        else:
            st.text(f"{name}: produced")


def _report_calls(role: Role, calls: list[str]) -> dict[str, str]:
    at = AppTest.from_function(_report_script, default_timeout=TIMEOUT,
                               kwargs={"role_value": role.value, "schools": ROLE_SCHOOLS.get(role, []),
                                       "calls": calls}).run()
    _check(at, (role, calls))
    return dict(t.value.split(": ") for t in at.text)


def _probe_board_report(role: Role, engine) -> bool:
    return _report_calls(role, ["record"])["record"] == "produced"


def _usage_file(student: str) -> data.UploadFile:
    return data.UploadFile("usage.csv", f"student_id,tool_id,date,minutes\n{student},T01,2025-10-07,17\n".encode())


def _probe_import(role: Role, engine) -> bool:
    mine = min(students_of(MINE))
    try:
        (report,) = uploads.import_upload(engine, [_usage_file(mine)], _principal(role))
    except AccessDenied:
        return False
    return report.ok


def _probe_import_district(role: Role, engine) -> bool:
    tools = data.UploadFile("tools.csv", b"tool_id,tool_name\nT99,Probe tool\n")
    try:
        (report,) = uploads.import_upload(engine, [tools], _principal(role))
    except AccessDenied:
        return False
    assert report.ok or any("only the director" in line for line in report.error_lines())
    return report.ok


def _probe_save_settings(role: Role, engine) -> bool:
    from edtech.services import roi as roi_service

    return not _refused(lambda: roi_service.save_weights(engine, {"utilization": 30.0}, _principal(role)))


def _probe_save_scenario(role: Role, engine) -> bool:
    from edtech.services import budget as budget_service

    spec = budget_service.default_spec(f"Plan of the {role.value}")
    return not _refused(lambda: budget_service.save_scenario(engine, spec, _principal(role)))


def _probe_delete_any_scenario(role: Role, engine) -> bool:
    from edtech.services import budget as budget_service

    name = "Someone else's plan"
    if name not in budget_service.saved_scenarios(engine):
        owner = Principal(email="owner@test.example", role=Role.BOARD)
        budget_service.save_scenario(engine, budget_service.default_spec(name), owner)
    if _refused(lambda: budget_service.delete_saved_scenario(engine, name, _principal(role))):
        assert name in budget_service.saved_scenarios(engine)
        return False
    return name not in budget_service.saved_scenarios(engine)


def _probe_publish_model(role: Role, engine) -> bool:
    from edtech.services import risk as risk_service

    try:
        risk_service.publish_version(engine, 10**9, principal=_principal(role))
    except AccessDenied:
        return False
    except KeyError:  # past the permission check: there is no such version
        return True
    raise AssertionError("a model version that does not exist was published")


def _probe_manage_users(role: Role, engine) -> bool:
    return not _refused(lambda: accounts.add_user(engine, f"added-by-{role.value}@test.example", Role.VIEWER,
                                                  actor=_principal(role)))


def _probe_record_decision(role: Role, engine) -> bool:
    """The server's check, and the page offers the form to exactly the same roles."""
    from edtech.services import decisions

    tool = str(data.read_table(engine, "tools")["tool_id"].iloc[0])
    went = not _refused(lambda: decisions.record_decision(engine, tool, "study", note="probe",
                                                          principal=_principal(role)))
    offered = "roi_decision_tool" in tour(role).pages.get("tool_roi", _NO_SHOT).keys
    assert went == offered, (role, went, offered)
    return went


def _probe_assign_intervention(role: Role, engine) -> bool:
    """The service's check (the at-risk page's form calls it): a support for a student of MINE."""
    from edtech.services import intervention_assign

    student = min(students_of(MINE))
    return not _refused(lambda: intervention_assign.assign_intervention(
        engine, _principal(role), student, "Access probe", 2, "2026-02-02", 30))


def _probe_edit_roadmap(role: Role, engine) -> bool:
    """The service's check, and the Roadmap page offers its edit form to exactly the same roles."""
    from edtech.services import roadmap

    went = not _refused(lambda: roadmap.save_initiative(engine, {"name": "Access probe", "start_date": "2026-07-01",
                                                                 "end_date": "2027-06-30"}, principal=_principal(role)))
    offered = "roadmap_new_save" in tour(role).pages.get("roadmap", _NO_SHOT).keys
    assert went == offered, (role, went, offered)
    return went


def _probe_read_comments(role: Role, engine) -> bool:
    """The feedback service's check (Tool ROI and Vetting show comments only when it lets them through)."""
    from edtech.services import feedback, workspace

    principal = _principal(role)
    return not _refused(lambda: feedback.comments(workspace.Workspace(engine, principal.scope, principal=principal)))


def _probe_read_audit(role: Role, engine) -> bool:
    return not _refused(lambda: audit.read(engine, actor=_principal(role)))


# action -> probe(role, engine) -> True when the action went through. The server's check is probed where
# one exists; where the app alone offers the action (a page's widgets), the role's tour is read.
PROBES: dict[Action, Callable[[Role, Any], bool]] = {
    Action.VIEW_STUDENTS: _probe_view_students,
    Action.EXPORT_STUDENTS: lambda role, engine: _student_rows_reached(role),
    Action.EXPORT_AGGREGATES: _probe_export_aggregates,
    Action.BOARD_REPORT: _probe_board_report,
    Action.IMPORT: _probe_import,
    Action.IMPORT_DISTRICT: _probe_import_district,
    Action.SAVE_SETTINGS: _probe_save_settings,
    Action.EDIT_BUDGET: lambda role, engine: "budget_horizon" in tour(role).pages.get("budget", _NO_SHOT).keys,
    Action.SAVE_SCENARIO: _probe_save_scenario,
    Action.DELETE_ANY_SCENARIO: _probe_delete_any_scenario,
    Action.TRAIN_MODEL: lambda role, engine: "risk_train" in tour(role).pages.get("at_risk", _NO_SHOT).keys,
    Action.PUBLISH_MODEL: _probe_publish_model,
    Action.MANAGE_USERS: _probe_manage_users,
    Action.RECORD_DECISION: _probe_record_decision,
    Action.ASSIGN_INTERVENTION: _probe_assign_intervention,
    Action.EDIT_ROADMAP: _probe_edit_roadmap,
    Action.READ_COMMENTS: _probe_read_comments,
    Action.READ_AUDIT: _probe_read_audit,
}
# actions the matrix names that no surface offers yet (nothing to allow or refuse)
NO_SURFACE: dict[Action, str] = {}
_NO_SHOT = Shot([], [], [], {}, set(), set(), {}, {}, [], "")


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.name)
def test_each_action_goes_through_for_exactly_the_roles_of_the_matrix(action, own_district):
    assert action in PROBES or action in NO_SURFACE, f"{action.name} has no probe: add one to PROBES"
    if action in NO_SURFACE:
        pytest.skip(NO_SURFACE[action])
    went_through = {role for role in Role if PROBES[action](role, own_district)}
    assert went_through == _allowed_roles(action), (action.name, sorted(went_through))


# ------------------------------------------------------------------ 2. the actions through the pages

def _run_clean(target: Any, context: object) -> AppTest:
    """Run the app (from the AppTest or one of its widgets) and check it showed no traceback."""
    at = target.run()
    _check(at, context)
    return at


def test_coordinator_imports_through_the_data_page_only_their_schools_rows(own_district):
    engine = own_district
    mine, other = min(students_of(MINE)), min(students_of(OTHER))
    at = _run_clean(new_app(TIMEOUT, "coordinator", [MINE]), "start")
    email = at.user["email"]
    at.switch_page("app_pages/data.py").run()
    before = data.table_counts(engine)
    refused = [  # (file, text, what the report names)
        ("usage.csv", f"student_id,tool_id,date,minutes\n{mine},T01,2025-10-07,20\n{other},T01,2025-10-07,20\n",
         ["line 3", other, "not enrolled at one of your schools"]),
        ("tools.csv", "tool_id,tool_name\nT99,Unlisted tool\n", ["only the director"]),
        ("licenses.csv", "tool_id,school_id,seats,annual_cost,start_date,end_date\n"
                         "T01,,100,1000,2025-07-01,2026-06-30\n", ["line 2", "district-wide"]),
        ("students.csv", f"student_id,school_id,grade_level\n{other},{MINE},7\n",  # moving a student in
         ["line 2", other, "not enrolled at one of your schools"]),
    ]
    for name, text, expected in refused:
        _run_clean(at.file_uploader(key="data_files").set_value([(name, text.encode(), "text/csv")]), name)
        # each file gets its own table guess (the widget key names the file); set it anyway, as a user may
        at.selectbox(key=f"data_kind_0_{name}").set_value(name.removesuffix(".csv"))
        _run_clean(at.button(key="data_import").click(), name)
        assert any("rejected" in e for e in _shot(at).errors), (name, _shot(at).errors)
        report = "\n".join(m.value for m in at.markdown).replace("\\", "")
        for part in expected:
            assert part in report, (name, part, report[:500])
        assert data.table_counts(engine) == before, f"{name}: a rejected file wrote rows"
    own = f"student_id,tool_id,date,minutes\n{mine},T01,2025-10-07,20\n".encode()
    _run_clean(at.file_uploader(key="data_files").set_value([("usage.csv", own, "text/csv")]), "own rows")
    at.selectbox(key="data_kind_0_usage.csv").set_value("usage")
    _run_clean(at.button(key="data_import").click(), "own rows")
    assert any("stored 1" in s.value for s in at.success), [s.value for s in at.success]
    stored = data.read_table(engine, "usage")
    assert ((stored["student_id"].astype(str) == mine) & (stored["minutes"] == 20)).any()
    trail = audit.read(engine, who=email)
    assert list(trail["action"]).count("import rejected") == len(refused)
    assert list(trail["action"]).count("imported") == 1 and set(trail["role"]) == {"coordinator"}


def test_director_changes_weights_and_people_through_the_pages(own_district):
    engine = own_district
    at = _run_clean(new_app(TIMEOUT, "director"), "start")
    email = at.user["email"]
    at.switch_page("app_pages/tool_roi.py").run()
    part, value = "utilization", workspace.load_weights(engine)["utilization"]
    new = 55 if value != 55 else 60
    at.slider(key=f"roi_w_{part}").set_value(new)
    at.button(key="roi_save_weights").click()
    _run_clean(at, "weights saved")
    assert workspace.load_weights(engine)[part] == new
    assert audit.read(engine, action="settings changed")["actor"].tolist() == [email]
    at.switch_page("app_pages/admin.py").run()
    at.text_input(key="admin_add_email").set_value("New.Person@District.example")
    at.selectbox(key="admin_add_role").set_value("viewer")
    next(b for b in at.button if b.label == "Add").click()
    _run_clean(at, "person added")
    added = accounts.principal_for(engine, "new.person@district.example")
    assert added is not None and added.role == Role.VIEWER
    # the weights form and the people forms are the director's: no other role's tour shows them
    for role in Role:
        roi = tour(role).pages["tool_roi"]
        assert ("roi_save_weights" in roi.keys) == (role in _allowed_roles(Action.SAVE_SETTINGS)), role
        assert any(k.startswith("roi_w_") for k in roi.keys) == (role in _allowed_roles(Action.SAVE_SETTINGS))
        admin = tour(role).pages.get("admin")
        assert (admin is not None and "admin_add_email" in admin.keys) == (
            role in _allowed_roles(Action.MANAGE_USERS)), role
        assert (admin is not None and _grid(admin, "actor", "action", "scope") is not None) == (
            role in _allowed_roles(Action.READ_AUDIT)), role


def _budget_session(email_or_role: str, engine, *, email: str | None = None) -> AppTest:
    if email is None:
        at = new_app(TIMEOUT, email_or_role)
    else:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.user = {"is_logged_in": True, "email": email, "name": "Second board member", "iss": "test", "sub": email}
    _run_clean(at, "start")
    at.switch_page("app_pages/budget.py")
    return _run_clean(at, ("budget", email_or_role))


def test_saved_scenarios_belong_to_their_owner_through_the_budget_page(own_district):
    from edtech.services import budget as budget_service

    engine = own_district
    plan = "Board plan"
    board = _budget_session("board", engine)
    board.text_input(key="budget_save_name").set_value(plan)
    board.button(key="budget_save").click()
    _run_clean(board, "board saves")
    assert any(plan in s.value for s in board.success), [s.value for s in board.success]
    owner = board.user["email"]
    assert budget_service.scenario_owners(engine)[plan] == owner

    accounts.add_user(engine, "second.board@test.example", Role.BOARD)
    second = _budget_session("board", engine, email="second.board@test.example")
    second.selectbox(key="budget_load_name").set_value(plan)
    second.button(key="budget_delete_saved").click()
    _run_clean(second, "another board member deletes")
    assert any("someone else" in e for e in _shot(second).errors), _shot(second).errors
    second.text_input(key="budget_save_name").set_value(plan)
    second.button(key="budget_save").click()
    _run_clean(second, "another board member overwrites")
    assert any("someone else" in e for e in _shot(second).errors), _shot(second).errors
    assert budget_service.scenario_owners(engine)[plan] == owner

    viewer = _shot(_budget_session("viewer", engine))  # read-only: the saved scenario, no lever, no button
    assert plan in viewer.options["budget_view_name"]
    usable = viewer.enabled - {"budget_view_name", "sign_out"}  # picking a saved scenario; signing out
    assert not usable, sorted(usable)  # no lever, no Save / Load / Delete, no Optimize, no download
    assert not viewer.downloads, sorted(viewer.downloads)

    director = _budget_session("director", engine)
    director.selectbox(key="budget_load_name").set_value(plan)
    director.button(key="budget_delete_saved").click()
    _run_clean(director, "director deletes")
    assert plan not in budget_service.saved_scenarios(engine)
    actions = audit.read(engine)
    assert actions.loc[actions["action"] == "scenario deleted", "actor"].tolist() == [director.user["email"]]


def test_board_report_files_for_the_roles_that_produce_them(sample_db_url):
    can = _allowed_roles(Action.BOARD_REPORT)
    for role in Role:
        report = tour(role).pages.get("report")
        if report is None:
            continue
        prepare = {k for k in report.keys if k.startswith("report_make_")}
        assert bool(prepare) == (role in can), (role, prepare)
        if role not in can:
            assert "Your role reads the report on this page" in report.text
    for role in sorted(can & _page_roles("report")):  # the PDF is drawn once, then served from the cache
        at = _run_clean(new_app(TIMEOUT, role.value), "start")
        at.switch_page("app_pages/report.py").run()
        at.button(key="report_make_pdf").click()
        _run_clean(at, (role, "prepare PDF"))
        _, pdf = _shot(at).downloads["report_download_pdf"]
        assert bytes(pdf).startswith(b"%PDF"), role
    for role in set(Role) - can:  # the server refuses them, whatever the page shows
        assert _report_calls(role, ["file", "memos", "record"]) == dict.fromkeys(["file", "memos", "record"],
                                                                                 "refused"), role


def test_student_lists_only_for_roles_that_see_students(sample_db_url):
    every = set(_students()["student_id"])
    for role in Role:
        visit = tour(role)
        shot = visit.pages.get("adoption@mine")
        if shot is None:
            continue
        names = _grid(shot, "student_id", "grade_level", "tool_id")
        if role in _allowed_roles(Action.VIEW_STUDENTS):
            assert names is not None and len(names), role
            assert set(names["student_id"].astype(str)) <= students_of(MINE), role
        else:
            assert names is None and "Counts only" in shot.text, role
            for page, s in visit.pages.items():  # no student id in any grid or file of any page
                assert not any(_cells(f) & every for f in s.frames), (role, page)
                assert not any(set(SIX_DIGITS.findall(_content(p))) & every for _, p in s.downloads.values())


# ------------------------------------------------------------------ 4. audit

def test_views_are_audited_once_per_page_in_a_session(sample_db_url):
    at = _run_clean(new_app(TIMEOUT, "director"), "start")   # opens the default page: the overview
    email = at.user["email"]
    for path in ("tool_roi", "vetting", "overview", "tool_roi", "vetting"):
        at.switch_page(f"app_pages/{path}.py")
        _run_clean(at, path)
    engine = data.make_engine(sample_db_url)
    try:
        views = audit.read(engine, action="viewed", who=email)
    finally:
        engine.dispose()
    assert views["page"].value_counts().to_dict() == {"overview": 1, "tool_roi": 1, "vetting": 1}
    assert set(views["scope"]) == {"district"}


# ------------------------------------------------------------------ static: the query parameters the app reads

def test_the_tours_forge_every_query_parameter_the_app_reads():
    readers = {}
    for path in [ROOT / "app.py", *sorted((ROOT / "app_pages").glob("*.py")), *sorted((ROOT / "ui").glob("*.py"))]:
        text = path.read_text()
        if "query_params" in text:
            readers[str(path.relative_to(ROOT))] = text
    assert set(readers) == set(QUERY_READERS), "a file reads query parameters: add them to QUERY_READERS and QUERY"
    for path, names in QUERY_READERS.items():
        for name in names:
            assert f'"{name}"' in readers[path] and name in QUERY, (path, name)
