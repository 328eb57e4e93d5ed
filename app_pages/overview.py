"""Overview: what the district (or my schools) spends, what is used, where the dust is."""

import streamlit as st

from ui import cache, components, nav, state

st.title("District overview" if state.current_scope() is None else "My schools: overview")
scope = components.scope_or_stop("the overview", "their overview")
ov = cache.overview(scope)
k = ov.figures
st.caption(f"Data through {ov.as_of:%B %d, %Y} · {ov.schools} school{'s' if ov.schools != 1 else ''} · "
           f"{k['students']:,} students")
if scope is not None:
    st.caption(components.SCOPE_HELP)

c = st.columns(6)
c[0].metric("Tools licensed", f"{k['tools_licensed']}")
c[1].metric("Annual spend", components.money(k["annual_spend"]),
            help="Annual cost of the licenses in force at the data's as-of date.")
c[2].metric("Seats", components.count(k["seats"]))
c[3].metric("Active students", components.count(k["students_using_tools"]),
            help="Distinct students with at least one session or more than 0 minutes in a tool's contract year.")
c[4].metric("Seat utilization", components.pct(k["utilization"]),
            help="Contract-year active users ÷ seats, summed over licensed tools.")
c[5].metric("Underused spend", components.money(k["underused_spend"]),
            delta=f"{components.pct(k['underused_share'])} of spend", delta_color="inverse",
            help="Annual cost of licensed tools used by fewer than 50% of their seats.")
for note in ov.notes:
    st.warning(components.escape(note), icon=":material/warning:")

left, right = st.columns(2)
with left:
    components.chart(ov.charts["utilization"], key="overview_util")
with right:
    components.chart(ov.charts["spend"], key="overview_spend")
if ov.charts["weekly"] is not None:
    components.chart(ov.charts["weekly"], key="overview_weekly")

st.subheader("Where to look next")
cols = st.columns(3)
with cols[0]:
    nav.link("app_pages/tool_roi.py", "Which tools earn their money", ":material/paid:")
with cols[1]:
    nav.link("app_pages/adoption.py", "How each school is doing", ":material/school:")
with cols[2]:
    nav.link("app_pages/budget.py", "Next year's budget", ":material/account_balance:")
