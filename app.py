"""Routing Lens — see how mixture-of-experts models route tokens to experts.

`streamlit run app.py`. Pages live in app_pages/ (not pages/: Streamlit would serve that folder by itself to a deep link before this script ran); all computation is in core/.
"""
from __future__ import annotations

import streamlit as st

from ui.presenter import active as presenter_active

st.set_page_config(page_title="Routing Lens", page_icon="🔀", layout="wide")

pages = [
    st.Page("app_pages/trace.py", title="Trace", icon=":material/search:", default=True),
    st.Page("app_pages/learn.py", title="Learn", icon=":material/school:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("app_pages/benchmarks.py", title="Benchmarks", icon=":material/bar_chart:"),
    st.Page("app_pages/experts.py", title="Experts", icon=":material/hub:"),
    st.Page("app_pages/class_room.py", title="Class", icon=":material/groups:", url_path="class"),
]
# Each page renders the shared sidebar (model picker) itself, through ui.sidebar.sidebar().
if presenter_active():  # presenter mode: one page, no navigation, no sidebar
    st.navigation([st.Page("app_pages/present.py", title="Presenter mode", icon=":material/slideshow:")],
                  position="hidden").run()
else:
    st.navigation(pages).run()
