"""EdTech Compass: router and shared sidebar (role and school scope)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import cache, state

st.set_page_config(page_title="EdTech Compass", page_icon=":material/explore:", layout="wide")
state.init_state()

HERE = Path(__file__).parent
# (file, title, icon, roles that see it)
PAGES = [
    ("app_pages/overview.py", "Overview", ":material/dashboard:", {"Director", "School coordinator", "Board member"}),
    ("app_pages/tool_roi.py", "Tool ROI", ":material/paid:", {"Director", "School coordinator", "Board member"}),
    ("app_pages/vetting.py", "Vetting", ":material/verified_user:", {"Director", "School coordinator"}),
    ("app_pages/adoption.py", "School adoption", ":material/school:", {"Director", "School coordinator", "Board member"}),
    ("app_pages/at_risk.py", "At-risk students", ":material/health_and_safety:", {"Director", "School coordinator"}),
    ("app_pages/budget.py", "Budget scenarios", ":material/account_balance:", {"Director", "Board member"}),
    ("app_pages/report.py", "Board report", ":material/slideshow:", {"Director", "Board member"}),
    ("app_pages/data.py", "Data", ":material/upload_file:", {"Director", "School coordinator"}),
]

with st.sidebar:
    st.selectbox("Signed in as", list(state.ROLES), key=state.ROLE_KEY,
                 help="Each role sees only what it should: coordinators their schools, board members aggregates.")
    if state.current_role() == "School coordinator":
        schools = cache.get_district().schools
        options = schools["school_id"].tolist()
        names = dict(zip(schools["school_id"], schools["school_name"], strict=False))
        st.multiselect("My schools", options, key=state.SCHOOLS_KEY, format_func=lambda s: names.get(s, s))

role = state.current_role()
pages = [
    st.Page(path, title=title, icon=icon, default=(i == 0))
    for i, (path, title, icon, roles) in enumerate(PAGES)
    if role in roles and (HERE / path).exists()
]
st.navigation(pages).run()
