"""Board report: choose sections and a budget scenario, preview, download PDF / PowerPoint / renewal memos."""

from __future__ import annotations

import streamlit as st

from ui import cache, components, state

DEFAULT_SCENARIO = "Right-size seats (default proposal)"
MIN_N = components.suppression_threshold()
# report table columns that hold stored codes, and the vocabulary that names them
CODE_COLUMNS = {"Recommendation": "recommendation", "Level": "school_level", "Funding source": "funding_source",
                "Source": "funding_source", "Decision": "decision"}
NAME_COLUMNS = ("Tool", "School", "Scenario", "Data", "Initiative", "Intervention", "Product", "Vendor")



def preview_frame(t):
    """A report table as the preview shows it (codes in words, signed figures as text): made once per cached
    report, so a rerun does not format it again."""
    def build():
        frame = t.frame.copy()
        for column, kind in CODE_COLUMNS.items():
            if column in frame.columns:
                frame[column] = frame[column].map(
                    lambda v, k=kind: components.label_for(v, k if k in components.VOCABULARY else None)
                    if isinstance(v, str) and v and v != components.EM_DASH else v)
        return components.signs_as_text(frame, names=NAME_COLUMNS)

    return cache.derived(t, "preview", build)


st.title("Board report")
if components.empty_state("the board report"):
    st.stop()

scope = state.current_scope()
present = st.sidebar.toggle("Presentation mode", key="report_present",
                            help="Large charts only, no controls: for the projector.")
saved = cache.saved_scenarios()

if not present:
    st.caption("Everything a board needs in one file: what we spend, what is used, what works with what evidence, "
               "who needs help (counts only) and what we propose. Charts are the same ones the app shows.")
    left, right = st.columns([3, 2])
    with left:
        chosen = st.multiselect("Sections", list(components.SECTION_KEYS), default=list(components.SECTION_KEYS),
                                format_func=lambda k: components.SECTION_TITLES[k], key="report_sections")
    with right:
        scenario_label = st.selectbox("Budget proposal", [DEFAULT_SCENARIO, *saved], key="report_scenario",
                                      help="Save scenarios on the Budget page to present them here.")
    st.caption(f"Privacy: any count of fewer than {MIN_N} students is shown as "
               f"<{MIN_N} in every table and chart label; no student names or IDs are included.")
else:
    chosen = st.session_state.get("report_sections", list(components.SECTION_KEYS))
    scenario_label = st.session_state.get("report_scenario", DEFAULT_SCENARIO)

sections = tuple(k for k in components.SECTION_KEYS if k in set(chosen))
scenario = None if scenario_label == DEFAULT_SCENARIO else scenario_label
if not sections:
    st.info("Pick at least one section to build a report.", icon=":material/info:")
    st.stop()
rep = cache.board_report(scope, sections, scenario, MIN_N)
options = (sections, scenario, MIN_N)

if present:
    st.subheader(f"{components.escape(rep.district_name)} · data through {rep.as_of:%B %d, %Y}")
    kpis = rep.section("kpis")
    if kpis is not None:
        cols = st.columns(len(kpis.kpis))
        for col, k in zip(cols, kpis.kpis, strict=True):
            col.metric(components.escape(k.label), components.escape(k.value),
                       help=components.escape(k.note) if k.note else None)
    for i, c in enumerate(rep.charts()):
        # a copy at the projector's height, escaped once: the cached report's figure keeps its size
        components.chart(cache.escaped_figure(c.figure, height=max(560, c.height)), key=f"report_present_chart_{i}",
                         config={"displayModeBar": False})
    st.stop()

# ---------------------------------------------------------------- downloads
st.subheader("Download")
if not state.can(state.Action.BOARD_REPORT):
    st.caption("Your role reads the report on this page; the PDF, PowerPoint and memos are prepared by the "
               "director and board members.")
else:
    d1, d2, d3 = st.columns(3)
    stem = f"board-report-{rep.as_of:%Y-%m-%d}"
    for col, fmt, label, mime in ((d1, "pdf", "PDF", "application/pdf"),
                                  (d2, "pptx", "PowerPoint",
                                   "application/vnd.openxmlformats-officedocument.presentationml.presentation")):
        with col:
            if st.button(f"Prepare {label}", key=f"report_make_{fmt}", icon=":material/description:"):
                try:
                    with st.spinner(f"Drawing charts and writing the {label}…"):
                        cache.board_report_file(scope, *options, fmt)
                    cache.record_report(f"board report ({label})", scope, f"sections {', '.join(options[0])}")
                    st.session_state[f"report_ready_{fmt}"] = options
                except cache.RenderError as exc:
                    st.error(components.escape(exc))
            if st.session_state.get(f"report_ready_{fmt}") == options:
                st.download_button(f"Download {label}", cache.board_report_file(scope, *options, fmt), file_name=f"{stem}.{fmt}", mime=mime,
                                   key=f"report_download_{fmt}", type="primary", icon=":material/download:")
    with d3:
        if st.button("Prepare renewal memos", key="report_make_memos", icon=":material/mail:",
                     help=f"One page per tool whose contract ends within {components.RENEWAL_WINDOW_DAYS} days of the "
                          "data date."):
            try:
                with st.spinner("Writing one memo per tool due for renewal…"):
                    cache.renewal_memos(scope, MIN_N)
                cache.record_report("renewal memos", scope)
                st.session_state["report_ready_memos"] = True
            except cache.RenderError as exc:
                st.error(components.escape(exc))
        if st.session_state.get("report_ready_memos"):
            content = cache.renewal_memos(scope, MIN_N)
            if content:
                st.download_button("Download memos (zip)", content, file_name=f"renewal-memos-{rep.as_of:%Y-%m-%d}.zip",
                                   mime="application/zip", key="report_download_memos", type="primary",
                                   icon=":material/download:")
            else:
                st.info("No tool's contract ends within 90 days of the data date.")

# ---------------------------------------------------------------- preview
st.divider()
st.subheader("Preview")
st.caption(components.escape(rep.subtitle) + f" · budget proposal: {components.escape(rep.scenario_name)}")
for sec in rep.sections:
    st.markdown(f"### {sec.title}")  # a section title of the code (SECTION_TITLES), not data
    for p in sec.paragraphs:
        if sec.key == "summary" and ": " in p:
            lead, rest = p.split(": ", 1)
            st.markdown(f"**{components.escape(lead)}:** {components.escape(rest)}")
        else:
            st.markdown(components.escape(p))
    if sec.kpis:
        cols = st.columns(len(sec.kpis))
        for col, k in zip(cols, sec.kpis, strict=True):
            col.metric(components.escape(k.label), components.escape(k.value),
                       help=components.escape(k.note) if k.note else None)
    for t in sec.tables:
        st.markdown(f"**{components.escape(t.title)}**")
        components.table(preview_frame(t), hide_index=True, width="stretch", missing="not available")
        if t.note:
            st.caption(components.escape(t.note))
    for c in sec.charts:
        components.chart(cache.escaped_figure(c.figure), key=f"report_chart_{c.key}")
        if c.caption:
            st.caption(components.escape(c.caption))
    if sec.notes:
        with st.expander("How these numbers were computed"):
            for line in sec.notes:
                st.markdown(f"- {components.escape(line)}")
