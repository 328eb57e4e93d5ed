"""EdTech Compass: sign-in gate, router and shared sidebar (who is signed in, a coordinator's schools)."""

from __future__ import annotations

import streamlit as st

from ui import auth, nav

st.set_page_config(page_title="EdTech Compass", page_icon=":material/explore:", layout="wide")
principal = auth.require_principal()  # the sign-in screen and a stop for a visitor not signed in

with st.sidebar:
    auth.sidebar_identity(principal)

visible = nav.visible_pages()
pages = {key: st.Page(path, title=title, icon=icon, default=(i == 0))
         for i, (path, title, icon, key) in enumerate(visible)}
page = st.navigation(list(pages.values()))
auth.record_view(principal, next(k for k, p in pages.items() if p is page or p.url_path == page.url_path))
page.run()
