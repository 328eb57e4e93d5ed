"""EdTech Compass: router and shared sidebar (role and school scope)."""

from __future__ import annotations

import streamlit as st

from ui import cache, nav, state

st.set_page_config(page_title="EdTech Compass", page_icon=":material/explore:", layout="wide")
state.init_state()

with st.sidebar:
    st.selectbox("Signed in as", list(state.ROLES), key=state.ROLE_KEY,
                 help="Each role sees only what it should: coordinators their schools, board members aggregates.")
    if state.current_role() == "School coordinator":
        schools = cache.get_district().schools
        options = schools["school_id"].tolist()
        names = dict(zip(schools["school_id"], schools["school_name"], strict=False))
        st.multiselect("My schools", options, key=state.SCHOOLS_KEY, format_func=lambda s: names.get(s, s))

pages = [st.Page(path, title=title, icon=icon, default=(i == 0))
         for i, (path, title, icon) in enumerate(nav.visible_pages())]
st.navigation(pages).run()
