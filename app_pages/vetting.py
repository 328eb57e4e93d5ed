"""Vetting: is every tool students use safe, accessible and worth a renewal? High use but unvetted first."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from edtech.roi import engine as roi
from ui import components, roi_cache, state

HIGH_USE_SHARE = 0.10  # a tool used by >= 10% of the students in view counts as high use
PRIVACY_TEXT = {"signed_dpa": "✅ signed DPA", "pending": "⏳ pending", "none": "❌ none", "unknown": "❔ unknown"}
ACCESS_TEXT = {"wcag_aa": "✅ WCAG AA", "partial": "⚠️ partial", "none": "❌ none", "unknown": "❔ unknown"}

st.title("Vetting")
st.caption("Privacy (data-privacy agreement), accessibility (VPAT / WCAG), COPPA basis, interoperability and "
           "instructional quality of every tool, with the tools students use most but nobody has vetted at the top.")

if components.empty_state("the Vetting page"):
    st.stop()
if components.require_scope("their tools"):
    st.stop()
scope = state.current_scope()

analysis = roi_cache.get_analysis(scope)
tools = analysis.metrics.tools
if tools.empty:
    st.info("No tools in the data yet. Add a tools file on the **Data** page.")
    st.stop()
n_students = max(1, len(components.cache.get_district(scope).students))

vetted = (tools["privacy_status"] == "signed_dpa") & (tools["accessibility"] == "wcag_aa")
share = tools["active_users"] / n_students
high_use_unvetted = ~vetted & (share >= HIGH_USE_SHARE)
inventory = pd.DataFrame({
    "Tool": tools["tool_name"], "Vendor": tools["vendor"], "Category": tools["category"],
    "Status": ["🚩 high use, unvetted" if h else ("✅ vetted" if v else "⚠️ unvetted")
               for h, v in zip(high_use_unvetted, vetted, strict=True)],
    "Active students": tools["active_users"], "Share of students": share * 100,
    "Privacy (DPA)": tools["privacy_status"].map(lambda s: PRIVACY_TEXT.get(s, s or "❔ unknown")),
    "Accessibility": tools["accessibility"].map(lambda s: ACCESS_TEXT.get(s, s or "❔ unknown")),
    "COPPA basis": tools["coppa_basis"], "Interoperability": tools["interoperability"],
    "Instructional rating": tools["instructional_rating"],
    "_order": [0 if h else (2 if v else 1) for h, v in zip(high_use_unvetted, vetted, strict=True)],
})
inventory = inventory.sort_values(["_order", "Active students"], ascending=[True, False]).drop(columns="_order")

c1, c2, c3 = st.columns(3)
c1.metric("Tools", f"{len(tools)}")
c2.metric("Unvetted", f"{int((~vetted).sum())}", help="No signed DPA, or accessibility below WCAG AA.")
c3.metric("High use but unvetted", f"{int(high_use_unvetted.sum())}",
          help=f"Unvetted and used by at least {HIGH_USE_SHARE:.0%} of the students in view.")
if high_use_unvetted.any():
    names = ", ".join(tools.loc[high_use_unvetted, "tool_name"])
    st.warning(f"Students are using unvetted tools: **{names}**. Get a signed DPA and an accessibility "
               "conformance report (VPAT/ACR) before the next renewal.", icon=":material/gpp_maybe:")

st.subheader("Tool inventory")
st.dataframe(inventory, hide_index=True, width="stretch", key="vetting_inventory", column_config={
    "Share of students": st.column_config.NumberColumn(format="%.0f%%"),
    "Instructional rating": st.column_config.NumberColumn(format="%.1f / 5"),
})

# ---------------------------------------------------------------- renewals
as_of = analysis.metrics.as_of
st.subheader(f"Renewals due in the next {roi.RENEWAL_WINDOW_DAYS} days")
st.caption(f"Contracts ending between {as_of:%b %d, %Y} (the data's as-of date) and "
           f"{as_of + pd.Timedelta(days=roi.RENEWAL_WINDOW_DAYS):%b %d, %Y}.")
lic = roi.current_licenses(components.cache.get_district(scope).licenses, as_of)
due = lic[(lic["end_date"] >= as_of) & (lic["end_date"] <= as_of + pd.Timedelta(days=roi.RENEWAL_WINDOW_DAYS))]
if due.empty:
    st.success("No contract ends in the next 90 days.")
else:
    board = roi_cache.get_board(scope, roi_cache.load_saved_weights()).set_index("tool_id")
    school_names = dict(zip(analysis.metrics.schools["school_id"], analysis.metrics.schools["school_name"],
                            strict=False))
    renewals = pd.DataFrame({
        "Tool": due["tool_id"].map(board["tool_name"]),
        "School": due["school_id"].map(lambda s: "district-wide" if s is None or pd.isna(s) else school_names.get(s, s)),
        "Ends": due["end_date"].dt.date, "Days left": (due["end_date"] - as_of).dt.days,
        "Auto-renews": due["auto_renew"].map(lambda v: "yes" if v is True else ("no" if v is False else "?")),
        "Seats": due["seats"], "Annual cost": due["annual_cost"],
        "Escalator": due["price_escalator_pct"] * 100,
        "Utilization": due["tool_id"].map(board["utilization"]) * 100,
        "Vetted": due["tool_id"].map(dict(zip(tools["tool_id"], vetted, strict=True))).map({True: "✅", False: "⚠️"}),
        "Recommendation": due["tool_id"].map(board["recommendation"]),
    }).sort_values("Days left")
    st.dataframe(renewals, hide_index=True, width="stretch", key="vetting_renewals", column_config={
        "Annual cost": st.column_config.NumberColumn(format="dollar"),
        "Escalator": st.column_config.NumberColumn(format="%.1f%%"),
        "Utilization": st.column_config.NumberColumn(format="%.0f%%"),
    })
    auto = due["auto_renew"].fillna(False).astype(bool)
    if auto.any():
        st.info(f"{int(auto.sum())} of these contracts renew automatically: decide before the notice deadline.")
