"""No way in through data (issue 12, part 6): hostile names of tools, schools, vendors, assessments,
funding sources and scenarios, a hostile upload and a hostile `?school=` are shown on every page, for
the director, a school coordinator and a board member, as text:

- no markdown element (text, caption, alert, metric, label, tooltip, expander, tab) renders a link, an
  image, raw HTML, math or emphasis out of them (`tests.test_safe_text.markdown_links`);
- no plotly figure the browser receives holds an `<a`, `<img` or `javascript:` (plotly renders a subset
  of HTML in names, labels, hover text and titles);
- no grid holds a text cell a spreadsheet would run as a formula (the grid's own "Download as CSV"
  exports cells raw), and no grid is sent a column it hides (the browser could show and export it).

One database for the whole module (the sample district imported through the real importer with the
names replaced), one app session per role.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.apptest_utils import new_app, pages_for
from tests.test_safe_text import FORMULA_STARTS, markdown_links

EVIL = "evil.example"
TOOL_NAMES = {
    "T01": "[Click to renew](https://evil.example)",
    "T02": "![pix](https://evil.example/pixel.png)",
    "T03": '<a href="https://evil.example">x</a>',
    "T04": "<img src=x onerror=alert(1)>",
    "T05": '=HYPERLINK("https://evil.example")',
    "T06": "+cmd|' /C calc'!A0",
    "T07": "@SUM(1)",
    "T08": "**bold**",
    "T09": "$x$",
    "T10": '<a href="javascript:alert(1)">js</a>',
}
VENDORS = ["-2+3", "@vendor", "[Vendor](https://evil.example/v)", "=1+1", "<b>v</b>"]
SCHOOL_NAMES = [*TOOL_NAMES.values(), "www.evil.example", "renew@evil.example"]
ASSESSMENTS = {"MAP Math": "[Math](https://evil.example/m)", "MAP Reading": '<a href="https://evil.example">R</a>'}
FUNDING_SOURCE = '=HYPERLINK("https://evil.example","grant")'
SCENARIO = "![plan](https://evil.example/plan.png) [Board plan](https://evil.example)"
QUERY_SCHOOL = "[Click](https://evil.example)"
UPLOAD_NAME = "[Upload](https://evil.example).csv"
UPLOAD_HEADER = "[Header](https://evil.example)"
COORDINATOR_SCHOOLS = ["0101", "0102"]
ROLES = ["Director", "School coordinator", "Board member"]


def _hostile_files(folder: Path) -> list[Path]:
    """The committed sample CSVs with the names replaced, written to `folder`."""
    from edtech.core import config

    paths = []
    for source in config.SAMPLES_DIR.glob("*.csv"):
        target = folder / source.name
        if source.stem not in ("tools", "schools", "assessments", "funding"):
            target.write_bytes(source.read_bytes())
        else:
            frame = pd.read_csv(source, dtype=str, keep_default_na=False)
            if source.stem == "tools":
                frame["tool_name"] = frame["tool_id"].map(TOOL_NAMES).fillna(frame["tool_name"])
                frame["vendor"] = [VENDORS[i % len(VENDORS)] for i in range(len(frame))]
            elif source.stem == "schools":
                frame["school_name"] = SCHOOL_NAMES[:len(frame)]
            elif source.stem == "assessments":
                frame["assessment"] = frame["assessment"].replace(ASSESSMENTS)
            else:  # a grant of its own with a hostile name
                frame = pd.concat([frame, frame.iloc[[0]].assign(source=FUNDING_SOURCE, amount="1000")])
            frame.to_csv(target, index=False)
        paths.append(target)
    return paths


def _build(url: str, folder: Path) -> None:
    """Through the real importer, as the sample district is loaded (edtech.services.dataset)."""
    from edtech.ingest import contract as ct
    from edtech.services import budget as budget_service
    from edtech.store import data

    engine = data.make_engine(url)
    try:
        data.init_db(engine)
        for path in sorted(_hostile_files(folder), key=lambda p: ct.TABLES[p.stem].order if p.stem in ct.TABLES else 99):
            if path.stem in ct.TABLES:
                report = data.import_file(engine, path.stem, path, user="test")
                assert report.ok, report.error_lines()[:5]
        budget_service.save_scenario(engine, budget_service.default_spec(SCENARIO))
    finally:
        engine.dispose()


def _upload_reports(url: str) -> list:
    """What the Data page keeps after *Check only* on a file with a hostile name and header."""
    from edtech.store import data

    engine = data.make_engine(url)
    try:
        content = f"tool_id,tool_name,{UPLOAD_HEADER}\nT01,[x](https://evil.example),=1+1\n".encode()
        return data.import_upload(engine, [data.UploadFile(UPLOAD_NAME, content)], kinds={UPLOAD_NAME: "tools"},
                                  dry_run=True)
    finally:
        engine.dispose()


def _clear_caches() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("hostile")
    url = f"sqlite:///{folder / 'hostile.db'}"
    _build(url, folder)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDTECH_DATABASE_URL", url)
        _clear_caches()  # another module's district may share this one's data-version tokens
        yield url
    _clear_caches()


@pytest.fixture(autouse=True)
def _clear_streamlit_caches():
    """Overrides conftest's per-test clearing: the three roles share one database and its caches
    (hostile_db clears them before and after the module)."""
    yield


# ------------------------------------------------------------------ what a page shows

_MARKDOWN_FIELDS = ("body", "label", "help", "delta")
_PLAIN = {"Text", "Code", "Json", "PlotlyChart", "Arrow", "Exception", "Empty", "Progress", "Spinner"}


def _nodes(node) -> Iterator:
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _nodes(child)


def markdown_texts(at) -> list[tuple[str, str]]:
    """(element type, text) for every string the browser renders as markdown."""
    out: list[tuple[str, str]] = []
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None or not hasattr(proto, "ListFields"):
            continue
        kind = type(proto).__name__
        if kind in _PLAIN:
            continue
        if kind == "Block":
            for which in ("expandable", "tab", "popover"):
                if proto.HasField(which):
                    out.append((which, getattr(proto, which).label))
            continue
        for field, value in proto.ListFields():
            if field.name in _MARKDOWN_FIELDS and isinstance(value, str):
                out.append((kind, value))
            if kind == "Radio" and field.name == "options":
                out += [(kind, option) for option in value]
    return out


def _strings(node) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def figure_texts(at) -> list[str]:
    return [s for chart in at.get("plotly_chart") for s in _strings(json.loads(chart.proto.spec))]


def grids(at) -> list[tuple[pd.DataFrame, object]]:
    return [(d.value, d.proto) for d in at.dataframe]


def _runs_in_a_spreadsheet(value: object) -> bool:
    """Text a spreadsheet would evaluate, other than a signed number ("+0.12", "-$1,200")."""
    return (isinstance(value, str) and value.startswith(FORMULA_STARTS)
            and not re.fullmatch(r"[+-]\$?[\d,]+(\.\d+)?%?", value))


def _formula_cells(frame: pd.DataFrame) -> list[str]:
    bad = [str(c) for c in frame.columns if _runs_in_a_spreadsheet(c)]
    for col in range(frame.shape[1]):
        bad += [v for v in frame.iloc[:, col] if _runs_in_a_spreadsheet(v)]
    return bad


def _neutralized_cells(frame: pd.DataFrame) -> list[str]:
    return [v for col in range(frame.shape[1]) for v in frame.iloc[:, col]
            if isinstance(v, str) and v.startswith("'") and v[1:].startswith(FORMULA_STARTS)]


def _hidden_columns(frame: pd.DataFrame, proto) -> list[str]:
    """Columns sent to the browser but hidden there; a hidden index is fine when it holds nothing (0..n-1)."""
    config = json.loads(proto.columns) if proto.columns else {}
    hidden = [name for name, cfg in config.items() if isinstance(cfg, dict) and cfg.get("hidden")]
    if "_index" in hidden and frame.index.equals(pd.RangeIndex(len(frame))):
        hidden.remove("_index")
    return hidden + ([f"column_order={list(proto.column_order)}"] if len(proto.column_order) else [])


# ------------------------------------------------------------------ the test


def _session(role: str, url: str):
    from edtech.services import budget as budget_service

    at = new_app(120, role, COORDINATOR_SCHOOLS if role == "School coordinator" else None)
    at.query_params["school"] = QUERY_SCHOOL
    at.session_state["data_last_reports"] = _upload_reports(url)
    at.session_state["report_scenario"] = SCENARIO  # the board report's budget proposal
    at.session_state["budget_scenarios"] = {SCENARIO: budget_service.default_spec(SCENARIO)}  # being edited
    return at.run()


@pytest.mark.parametrize("role", ROLES)
def test_every_page_shows_hostile_names_as_text(role: str, hostile_db: str) -> None:
    at = _session(role, hostile_db)
    assert not at.exception, [e.value for e in at.exception]
    problems: list[tuple] = []
    seen = {"markdown": 0, "figure": 0, "grid": 0}
    for page in pages_for(role):
        if page.endswith("adoption.py"):
            at.query_params["school"] = QUERY_SCHOOL  # the page rewrites the address when it falls back
        at.switch_page(page).run()
        assert not at.exception, (role, page, [e.value for e in at.exception])
        for kind, text in markdown_texts(at):
            seen["markdown"] += EVIL in text.replace("\\", "").replace("\u2060", "")
            problems += [(page, kind, hit) for hit in markdown_links(text)]
        for text in figure_texts(at):
            seen["figure"] += "evil" in text
            if any(tag in text.lower() for tag in ("<a", "<img", "javascript:")):
                problems.append((page, "plotly", text[:120]))
        for frame, proto in grids(at):
            seen["grid"] += len(_neutralized_cells(frame))
            problems += [(page, "grid formula", cell) for cell in _formula_cells(frame)]
            problems += [(page, "grid hidden column", col) for col in _hidden_columns(frame, proto)]
    assert not problems, (role, problems[:20])
    # the hostile names did reach the screen (else this test could not fail)
    assert seen["markdown"] >= 3 and seen["figure"] >= 3 and seen["grid"] >= 1, (role, seen)


def test_the_checks_catch_raw_names(hostile_db: str) -> None:
    """The same checks flag the names when they are not escaped (so the page test can fail)."""
    raw = [TOOL_NAMES["T01"], TOOL_NAMES["T02"], SCENARIO, QUERY_SCHOOL, UPLOAD_HEADER, "renew@evil.example"]
    assert all(markdown_links(f"**{name}** is due") for name in raw)
    assert _formula_cells(pd.DataFrame({"Tool": [TOOL_NAMES["T05"]], "Vendor": ["-2+3"]})) == [
        TOOL_NAMES["T05"], "-2+3"]


def test_pages_draw_grids_and_charts_only_through_the_escaping_helpers() -> None:
    """Every grid and figure of a page goes through ui.components.table / chart (one rule)."""
    root = Path(__file__).resolve().parents[1]
    offenders = [f"{p.name}:{i}" for p in sorted((root / "app_pages").glob("*.py"))
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if ".dataframe(" in line or "plotly_chart(" in line or ".data_editor(" in line or "st.table(" in line]
    assert not offenders, offenders
