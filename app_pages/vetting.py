"""Vetting: is every tool students use safe, accessible and worth a renewal? High use but unvetted first."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import cache, components, state

MIN_N = components.suppression_threshold()
MAIN_COLUMNS = ["Tool", "Status", "Active students", "Share of students", "Privacy (DPA)", "Accessibility",
                "Instructional rating", "Satisfaction"]
DETAIL_COLUMNS = ["Vendor", "Category", "COPPA basis", "Interoperability"]


def numbers_or_text(values: pd.Series, text) -> pd.Series:
    """Numbers when every cell is one (the grid formats them); else text by the same rule, an em dash for a
    missing value and '<10' kept as it is."""
    if all(isinstance(v, (int, float)) and not pd.isna(v) for v in values):
        return values.astype(float)
    return values.map(lambda v: v if isinstance(v, str) else (components.EM_DASH if v is None or pd.isna(v)
                                                             else text(v)))


def number_config(values: pd.Series, label: str, fmt: str, help: str | None = None):
    if pd.api.types.is_float_dtype(values):
        return st.column_config.NumberColumn(label, format=fmt, help=help)
    return st.column_config.TextColumn(label, help=help)


st.title("Vetting")
st.caption("Privacy (data-privacy agreement), accessibility (VPAT / WCAG), COPPA basis, interoperability and "
           "instructional quality of every tool, with the tools students use most but nobody has vetted at the top.")

scope = components.scope_or_stop("the Vetting page", "their tools")
v = cache.vetting(scope)
if v.tools == 0:
    st.info("No tools in the data yet. Add a tools file on the **Data** page.")
    st.stop()
if v.scoped:
    st.caption(components.SCOPE_HELP)

c1, c2, c3 = st.columns(3)
c1.metric("Tools", f"{v.tools}")
c2.metric("Unvetted", f"{v.unvetted}", help=f"Vetted = {components.DEFINITIONS['vetted']}.")
c3.metric("High use but unvetted", f"{len(v.high_use_unvetted)}",
          help="Unvetted and used by at least 10% of the students in view.")
if v.high_use_unvetted:
    st.warning("Students are using unvetted tools: **" + components.escape(", ".join(v.high_use_unvetted))
               + "**. Get a signed DPA and an accessibility conformance report (VPAT/ACR) before the next renewal.",
               icon=":material/gpp_maybe:")

st.subheader("Tool inventory")
show_all = st.toggle("Show all columns", key="vetting_all_columns", help="Vendor, category, COPPA basis and "
                     "interoperability.")
inventory = v.inventory[MAIN_COLUMNS + (DETAIL_COLUMNS if show_all else [])].copy()
inventory["Instructional rating"] = numbers_or_text(inventory["Instructional rating"], lambda x: f"{x:.1f} / 5")
inventory["Satisfaction"] = numbers_or_text(inventory["Satisfaction"], lambda x: f"{x:.1f} / 5")
components.table(inventory, hide_index=True, width="stretch", key="vetting_inventory", column_config={
    "Tool": st.column_config.TextColumn("Tool", pinned=True),
    "Active students": st.column_config.NumberColumn("Active students", format="localized", step=1),
    "Share of students": st.column_config.NumberColumn("Share of students", format="%.0f%%"),
    "Instructional rating": number_config(inventory["Instructional rating"], "Instructional rating", "%.1f / 5",
                                          "The district's own review of instructional quality, 1–5."),
    "Satisfaction": number_config(inventory["Satisfaction"], "Satisfaction", "%.1f / 5",
                                  "Stakeholders' rating 1–5 (mean of the role means of the last 12 months, each "
                                  f"role with at least {MIN_N} ratings), as on the Tool ROI page."),
})
st.caption("Satisfaction per role, its trend and the use beside it: Tool ROI page, **What stakeholders say**.")

st.subheader(f"Renewals due in the next {components.RENEWAL_WINDOW_DAYS} days")
st.caption(f"Contracts in force that end within {components.RENEWAL_WINDOW_DAYS} days of {v.as_of:%b %d, %Y} "
           "(the data's as-of date). " + ("Seats and cost are your schools' share; the recommendation is the "
                                         "district's." if v.scoped else ""))
if v.renewals.empty:
    st.success(f"No contract ends in the next {components.RENEWAL_WINDOW_DAYS} days.")
else:
    components.table(v.renewals, hide_index=True, width="stretch", key="vetting_renewals", column_config={
        "Ends": st.column_config.DateColumn("Ends", format="YYYY-MM-DD"),
        "Seats": st.column_config.NumberColumn("Seats", format="localized", step=1),
        "Annual cost": st.column_config.NumberColumn("Annual cost", format="dollar", step=1),
        "Utilization": st.column_config.NumberColumn("Utilization", format="%.0f%%"),
    })
    auto = int((v.renewals["Auto-renews"] == "yes").sum())
    if auto:
        st.info(f"{auto} of these contracts renew automatically: decide before the notice deadline.")

# ---------------------------------------------------------------- comments (roles that see details only)
if state.can(state.Action.READ_COMMENTS):
    st.subheader("What stakeholders wrote")
    notes = cache.feedback_comments(scope)
    if notes.empty:
        st.caption("No comments" + (" from your schools' respondents." if v.scoped else " yet."))
    else:
        names = sorted(notes["tool_name"].astype(str).unique())
        picked = st.multiselect("Tool", names, key="vetting_comment_tools", placeholder="Every tool")
        if picked:
            notes = notes[notes["tool_name"].isin(picked)]
        components.table(cache.comment_table(notes), hide_index=True, width="stretch", key="vetting_comments",
                         column_config={"Rating": st.column_config.NumberColumn("Rating", format="%d / 5"),
                                        "Comment": st.column_config.TextColumn("Comment", width="large")})
        st.caption("Comments are shown only to roles that see details, never on board material"
                   + (", and only your schools' respondents'." if v.scoped else "."))
