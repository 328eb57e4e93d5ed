"""Overview: what the district spends, what is used, where the dust is."""

import streamlit as st

from edtech.core import charts as viz
from ui import cache, nav, state
from ui.components import empty_state, money, pct

st.title("District overview")
if empty_state("the overview"):
    st.stop()

scope = state.current_scope()
ov = cache.get_overview(scope)
district = cache.get_district(scope)
k = ov.kpis
st.caption(f"Data through {district.as_of:%B %d, %Y} · {int(k.get('schools', 0))} schools · "
           f"{int(k.get('students', 0)):,} students")

c = st.columns(6)
c[0].metric("Tools licensed", f"{int(k.get('tools', 0))}")
c[1].metric("Annual spend", money(k.get("annual_spend")))
c[2].metric("Seats", f"{k.get('seats', 0):,.0f}")
c[3].metric("Active students", f"{k.get('active_users', 0):,.0f}",
            help="Distinct students with at least one session or minute of use in the contract year.")
c[4].metric("Seat utilization", pct(k.get("utilization")),
            help="Active users in the contract year ÷ seats, summed over tools.")
c[5].metric("Spend on underused tools", money(k.get("underused_spend")),
            delta=f"{pct(k.get('underused_share'))} of spend", delta_color="inverse",
            help="Annual cost of tools used by fewer than 50% of their seats.")
for note in ov.notes:
    st.warning(note, icon=":material/warning:")

left, right = st.columns(2)
with left:
    st.plotly_chart(viz.utilization_bar(ov.tools), key="overview_util")
with right:
    st.plotly_chart(viz.spend_by_category(ov.spend_by_category), key="overview_spend")
if len(ov.weekly_active):
    st.plotly_chart(viz.weekly_active_line(ov.weekly_active), key="overview_weekly")

st.subheader("Where to look next")
cols = st.columns(3)
with cols[0]:
    nav.link("app_pages/tool_roi.py", "Which tools earn their money", ":material/paid:")
with cols[1]:
    nav.link("app_pages/adoption.py", "How each school is doing", ":material/school:")
with cols[2]:
    nav.link("app_pages/budget.py", "Next year's budget", ":material/account_balance:")
