"""Data: upload, check, import (all or nothing per file), history."""

import pandas as pd
import streamlit as st

from ui import components
from ui import data_io as io
from ui.components import load_sample_button

st.title("Data")
counts = io.table_counts()

if not any(counts.values()):
    st.info("The database is empty. Load the sample district to explore, or upload your own files below.",
            icon=":material/info:")
    load_sample_button(key="data_load_sample")

st.subheader("Upload files")
st.caption(f"CSV (any of , ; tab |), Excel .xlsx, Parquet, or a zip of several files — OneRoster and "
           f"LearnPlatform exports are recognised. Up to {io.UPLOAD_LIMIT_MB} MB per upload; the command "
           "line has no limit. Each file is imported whole or not at all; re-importing changes nothing.")
with st.expander("What the files look like (columns, formats, templates)", icon=":material/table_view:"):
    kind = st.selectbox("Table", list(io.KINDS), key="data_help_kind")
    components.table(io.describe_table(kind), hide_index=True, width="stretch")
    st.download_button(f"Download a {kind} template (CSV)", io.template_csv(kind), file_name=f"{kind}.csv",
                       mime="text/csv", key="data_template", icon=":material/download:")
uploaded = st.file_uploader("Files", accept_multiple_files=True, key="data_files",
                            type=["csv", "tsv", "txt", "xlsx", "parquet", "zip"])
if uploaded:
    files = [io.UploadFile(u.name, u.getvalue()) for u in uploaded]
    o = st.columns(3)
    atomic = o[0].checkbox("All files or none", key="data_atomic", value=len(files) > 1,
                           help="Import every file or, if any is rejected, none of them (one transaction). "
                                "Off: each valid file is imported on its own.")
    decimal = o[1].selectbox("Decimal separator", [None, ".", ","], key="data_decimal",
                             format_func=lambda d: {None: "Decide from each file's values", ".": "Point (1,234.50)",
                                                    ",": "Comma (1.234,50)"}[d])
    date_order = o[2].selectbox("Dates like 03/04/2025", [None, "mdy", "dmy"], key="data_date_order",
                                format_func=lambda d: {None: "Decide from each file's values",
                                                       "mdy": "Month first (US)", "dmy": "Day first"}[d])
    previews = io.preview_upload(files, decimal=decimal, date_order=date_order)
    kinds: dict[str, str] = {}
    options = list(io.KINDS)
    for i, p in enumerate(previews):
        with st.expander(f"{components.escape(p.name)} → {p.kind or 'unknown table'}", expanded=len(previews) <= 3):
            if p.problem:
                st.error(components.escape(p.problem))
                continue
            choice = st.selectbox("Table", options, index=options.index(p.kind) if p.kind in options else 0,
                                  key=f"data_kind_{i}_{p.name}")  # a new file gets its own guess
            kinds[p.name] = choice
            if p.reading:
                st.caption(components.escape(p.reading))
            for note in p.reading_warnings:
                st.warning(components.escape(note), icon=":material/help:")
            c1, c2 = st.columns([3, 2])
            components.table(p.rows, hide_index=True, where=c1)
            if p.mapping is not None:
                components.table(p.mapping, hide_index=True, where=c2)
    skip = st.checkbox("Skip rows that name unknown students, tools or schools (they are counted, not silently "
                       "dropped)", key="data_skip_unknown")
    c1, c2 = st.columns(2)
    check = c1.button("Check only", key="data_check", icon=":material/fact_check:")
    go = c2.button("Import", key="data_import", type="primary", icon=":material/upload:")
    if check or go:
        bar = st.progress(0.0, text="Starting…")
        reports = io.import_upload(files, kinds=kinds, dry_run=check, skip_unknown_refs=skip, atomic=atomic,
                                   decimal=decimal, date_order=date_order,
                                   progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=m))
        bar.progress(1.0, text="Done")
        st.session_state["data_last_reports"] = reports

reports = st.session_state.get("data_last_reports")
if reports:
    st.subheader("Validation report")
    table = io.reports_frame(reports)
    components.table(table, hide_index=True)
    # file names, headers and values of an uploaded file are data: shown as text, never as markdown
    for r in reports:
        if r.kind == io.BUSY_KIND:
            st.error(components.escape(r.error_lines()[0] if r.error_lines() else r.summary()) +
                     " Try again in a minute.", icon=":material/hourglass_top:")
        elif r.status in ("imported", "checked"):
            st.success(components.escape(r.summary()), icon=":material/check_circle:")
        elif r.status == "not written":  # valid, held back because another file of the upload was rejected
            st.warning(components.escape(r.summary()), icon=":material/pause_circle:")
        else:
            st.error(components.escape(r.summary()), icon=":material/error:")
            st.markdown("\n".join(f"- {components.escape(line)}" for line in r.error_lines()[:12]))
        for w in r.warnings:
            st.warning(components.escape(w))
    errors = io.errors_frame(reports)
    if len(errors):
        st.download_button("Download the error report (CSV)", io.neutralize_frame(errors).to_csv(index=False),
                           file_name="import_errors.csv", mime="text/csv", key="data_errors_csv")

st.subheader("What is loaded")
components.table({"table": list(counts), "rows": list(counts.values())}, hide_index=True)

st.subheader("Import history")
history = io.import_history()
if history.empty:
    st.caption("No imports yet.")
else:
    history["imported_at"] = pd.to_datetime(history["imported_at"]).dt.strftime("%Y-%m-%d %H:%M")
    components.table(history.drop(columns=["message", "checksum"]), hide_index=True)
