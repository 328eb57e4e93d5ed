"""Board report: choose sections and a budget scenario, preview, download PDF / PowerPoint / renewal memos."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from edtech.core import config
from edtech.report import assemble as report
from edtech.report import render
from edtech.services import report as report_service
from ui import cache, state
from ui.components import empty_state

DEFAULT_SCENARIO = "Right-size seats (default proposal)"

st.title("Board report")
if empty_state("the board report"):
    st.stop()

engine = cache.get_engine()
scope = state.current_scope()
present = st.sidebar.toggle("Presentation mode", key="report_present",
                            help="Large charts only, no controls: for the projector.")


# cached by data version + options: a rerun (or another user) with the same choices reuses the work
@st.cache_resource(show_spinner="Scoring tools…", max_entries=4)
def _scoreboard(scope_key: tuple[str, ...] | None, version: int):
    from edtech.roi import engine as roi
    from edtech.services.roi import load_weights

    return roi.score_tools(cache.get_district(None if scope_key is None else frozenset(scope_key)),
                           weights=load_weights(engine))


@st.cache_resource(show_spinner="Assembling the report…", max_entries=8)
def _report(scope_key: tuple[str, ...] | None, version: int, sections: tuple[str, ...], scenario: str | None,
            min_n: int) -> report.BoardReport:
    district = cache.get_district(None if scope_key is None else frozenset(scope_key))
    return report_service.build_report(engine, scenario=scenario, sections=list(sections), min_n=min_n,
                                       district=district, scoreboard=_scoreboard(scope_key, version))


@st.cache_resource(show_spinner=False, max_entries=8)
def _file(scope_key, version, sections, scenario, min_n, fmt: str) -> bytes:
    rep = _report(scope_key, version, sections, scenario, min_n)
    return report_service.export(rep, fmt)


@st.cache_resource(show_spinner=False, max_entries=4)
def _memos(scope_key, version, min_n: int) -> bytes:
    district = cache.get_district(None if scope_key is None else frozenset(scope_key))
    files = report_service.renewal_memos(district, _scoreboard(scope_key, version), min_n=min_n)
    return report_service.memos_zip(files) if files else b""


scope_key = None if scope is None else tuple(sorted(scope))
version = cache.data_version()
try:
    saved = report_service.data.list_scenarios(engine)
except Exception:  # noqa: BLE001 - an older database without saved scenarios
    saved = []

if not present:
    st.caption("Everything a board needs in one file: what we spend, what is used, what works with what evidence, "
               "who needs help (counts only) and what we propose. Charts are the same ones the app shows.")
    left, right = st.columns([3, 2])
    with left:
        chosen = st.multiselect("Sections", list(report.SECTION_KEYS), default=list(report.SECTION_KEYS),
                                format_func=lambda k: report.SECTION_TITLES[k], key="report_sections")
    with right:
        scenario_label = st.selectbox("Budget proposal", [DEFAULT_SCENARIO, *saved], key="report_scenario",
                                      help="Save scenarios on the Budget page to present them here.")
    st.caption(f"Privacy: any count of fewer than {config.SUPPRESS_MIN} students is shown as "
               f"<{config.SUPPRESS_MIN} in every table and chart label; no student names or IDs are included.")
else:
    chosen = st.session_state.get("report_sections", list(report.SECTION_KEYS))
    scenario_label = st.session_state.get("report_scenario", DEFAULT_SCENARIO)

sections = tuple(k for k in report.SECTION_KEYS if k in set(chosen))
scenario = None if scenario_label == DEFAULT_SCENARIO else scenario_label
if not sections:
    st.info("Pick at least one section to build a report.", icon=":material/info:")
    st.stop()
rep = _report(scope_key, version, sections, scenario, config.SUPPRESS_MIN)
options = (scope_key, version, sections, scenario, config.SUPPRESS_MIN)

if present:
    st.subheader(f"{rep.district_name} · data through {rep.as_of:%B %d, %Y}")
    kpis = rep.section("kpis")
    if kpis is not None:
        cols = st.columns(len(kpis.kpis))
        for col, k in zip(cols, kpis.kpis, strict=True):
            col.metric(k.label, k.value, help=k.note)
    for i, c in enumerate(rep.charts()):
        fig = go.Figure(c.figure)  # a copy: the cached report's figure keeps its size
        fig.update_layout(height=max(560, c.height))
        st.plotly_chart(fig, key=f"report_present_chart_{i}", config={"displayModeBar": False})
    st.stop()

# ---------------------------------------------------------------- downloads
st.subheader("Download")
d1, d2, d3 = st.columns(3)
stem = f"board-report-{rep.as_of:%Y-%m-%d}"
for col, fmt, label, mime in ((d1, "pdf", "PDF", "application/pdf"),
                              (d2, "pptx", "PowerPoint",
                               "application/vnd.openxmlformats-officedocument.presentationml.presentation")):
    with col:
        if st.button(f"Prepare {label}", key=f"report_make_{fmt}", icon=":material/description:"):
            try:
                with st.spinner(f"Drawing charts and writing the {label}…"):
                    _file(*options, fmt)
                st.session_state[f"report_ready_{fmt}"] = options
            except render.RenderError as exc:
                st.error(str(exc))
        if st.session_state.get(f"report_ready_{fmt}") == options:
            st.download_button(f"Download {label}", _file(*options, fmt), file_name=f"{stem}.{fmt}", mime=mime,
                               key=f"report_download_{fmt}", type="primary", icon=":material/download:")
with d3:
    if st.button("Prepare renewal memos", key="report_make_memos", icon=":material/mail:",
                 help="One page per tool whose contract ends within 90 days of the data date."):
        try:
            with st.spinner("Writing one memo per tool due for renewal…"):
                _memos(scope_key, version, config.SUPPRESS_MIN)
            st.session_state["report_ready_memos"] = (scope_key, version)
        except render.RenderError as exc:
            st.error(str(exc))
    if st.session_state.get("report_ready_memos") == (scope_key, version):
        content = _memos(scope_key, version, config.SUPPRESS_MIN)
        if content:
            st.download_button("Download memos (zip)", content, file_name=f"renewal-memos-{rep.as_of:%Y-%m-%d}.zip",
                               mime="application/zip", key="report_download_memos", type="primary",
                               icon=":material/download:")
        else:
            st.info("No tool's contract ends within 90 days of the data date.")

# ---------------------------------------------------------------- preview
st.divider()
st.subheader("Preview")
st.caption(rep.subtitle + f" · budget proposal: {rep.scenario_name}")
for sec in rep.sections:
    st.markdown(f"### {sec.title}")
    for p in sec.paragraphs:
        if sec.key == "summary" and ": " in p:
            lead, rest = p.split(": ", 1)
            st.markdown(f"**{lead}:** {rest}")
        else:
            st.write(p)
    if sec.kpis:
        cols = st.columns(len(sec.kpis))
        for col, k in zip(cols, sec.kpis, strict=True):
            col.metric(k.label, k.value, help=k.note)
    for t in sec.tables:
        st.markdown(f"**{t.title}**")
        st.dataframe(t.frame, hide_index=True, width="stretch")
        if t.note:
            st.caption(t.note)
    for c in sec.charts:
        st.plotly_chart(c.figure, key=f"report_chart_{c.key}")
        if c.caption:
            st.caption(c.caption)
    if sec.notes:
        with st.expander("How these numbers were computed"):
            for line in sec.notes:
                st.markdown(f"- {line}")
