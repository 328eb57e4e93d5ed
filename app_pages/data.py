"""Data: upload, check, import (all or nothing per file), history."""

import pandas as pd
import streamlit as st

from ui import components, state
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
    kind = st.selectbox("Table", list(io.KINDS), key="data_help_kind", format_func=io.table_label)
    components.table(io.describe_table(kind), hide_index=True, width="stretch", column_config={
        "column": "Column", "required": "Required", "format": "Format", "also accepted as": "Also accepted as"})
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
    table["table"] = table["table"].map(io.table_label)
    components.table(table, hide_index=True, column_config={c: c[:1].upper() + c[1:] for c in table.columns})
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
components.table({"table": [io.table_label(k) for k in counts], "rows": list(counts.values())}, hide_index=True,
                 column_config={"table": "Table", "rows": st.column_config.NumberColumn("Rows", format="%,d")})

# ---------------------------------------------------------------- aggregate engagement: name the products
if counts.get("usage_aggregate"):
    st.subheader("Products in the engagement data")
    products = io.engagement_products()
    unnamed = products["tool_name"].isna()
    if unnamed.any():
        st.warning(f"{int(unnamed.sum()):,} of {len(products):,} products in the engagement data have no name yet, so "
                   "the pages can show only their LearnPlatform ID. Load the product catalogue of the same export "
                   "(products_info.csv) to name them.", icon=":material/label_off:")
    if state.can(state.Action.IMPORT_DISTRICT):  # the catalogue is the district's tools table
        with st.expander("Load the product catalogue (products_info.csv)", icon=":material/menu_book:",
                         expanded=bool(unnamed.any())):
            st.caption("LP ID becomes the tool ID, Product Name the name; provider, sector and primary function are "
                       "kept. Products the catalogue does not list stay shown by ID.")
            catalogue = st.file_uploader("Product catalogue", type=["csv"], key="data_catalogue")
            if st.button("Load the catalogue", key="data_catalogue_load", type="primary", icon=":material/upload:",
                         disabled=catalogue is None):
                loaded = io.import_catalogue(catalogue.getvalue())
                for r in loaded:
                    if r.ok:
                        st.success(components.escape(r.summary()), icon=":material/check_circle:")
                    else:
                        st.error(components.escape(r.summary()), icon=":material/error:")
                        st.markdown("\n".join(f"- {components.escape(line)}" for line in r.error_lines()[:12]))
                if all(r.ok for r in loaded):
                    products = io.engagement_products()
                    unnamed = products["tool_name"].isna()
    elif unnamed.any():
        st.caption("The director loads the product catalogue (it is the district's tool list).")
    shown = products.assign(
        tool_name=products["tool_name"].where(~unnamed, "Not in the catalogue"),
        pct_access=products["pct_access"] * 100)
    components.table(shown, hide_index=True, key="data_products", column_config={
        "tool_name": "Product", "tool_id": "LearnPlatform ID",
        "days": st.column_config.NumberColumn("Days reported", format="%,d"),
        "districts": st.column_config.NumberColumn("Districts", format="%,d"),
        "pct_access": st.column_config.NumberColumn("Students using it a day (mean)", format="%.1f%%")},
        column_order=["tool_name", "tool_id", "days", "districts", "pct_access"])

st.subheader("Import history")
history = io.import_history()
if history.empty:
    st.caption("No imports yet.")
else:
    history["imported_at"] = pd.to_datetime(history["imported_at"]).dt.strftime("%Y-%m-%d %H:%M")
    history["kind"] = history["kind"].map(io.table_label)
    history["user"] = history["user"].fillna(components.EM_DASH)
    components.table(history.drop(columns=["message", "checksum", "id"]), hide_index=True, column_config={
        "imported_at": "Imported", "user": "By", "kind": "Table", "file_name": "File", "status": "Status",
        "rows_read": st.column_config.NumberColumn("Rows read", format="%,d"),
        "rows_stored": st.column_config.NumberColumn("Stored", format="%,d"),
        "inserted": st.column_config.NumberColumn("New", format="%,d"),
        "updated": st.column_config.NumberColumn("Updated", format="%,d"),
        "rejected": st.column_config.NumberColumn("Rejected", format="%,d"),
        "seconds": st.column_config.NumberColumn("Seconds", format="%.1f")})
