"""Vetting: is every tool students use safe, accessible and worth a renewal? High use but unvetted first."""

from __future__ import annotations

import streamlit as st

from ui import cache, components

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
components.table(v.inventory, hide_index=True, width="stretch", key="vetting_inventory", column_config={
    "Share of students": st.column_config.NumberColumn(format="%.0f%%"),
    "Instructional rating": st.column_config.NumberColumn(format="%.1f / 5"),
})

st.subheader(f"Renewals due in the next {components.RENEWAL_WINDOW_DAYS} days")
st.caption(f"Contracts in force that end within {components.RENEWAL_WINDOW_DAYS} days of {v.as_of:%b %d, %Y} "
           "(the data's as-of date). " + ("Seats and cost are your schools' share; the recommendation is the "
                                         "district's." if v.scoped else ""))
if v.renewals.empty:
    st.success(f"No contract ends in the next {components.RENEWAL_WINDOW_DAYS} days.")
else:
    components.table(v.renewals, hide_index=True, width="stretch", key="vetting_renewals", column_config={
        "Annual cost": st.column_config.NumberColumn(format="dollar"),
        "Utilization": st.column_config.NumberColumn(format="%.0f%%"),
    })
    auto = int((v.renewals["Auto-renews"] == "yes").sum())
    if auto:
        st.info(f"{auto} of these contracts renew automatically: decide before the notice deadline.")
