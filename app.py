"""Routing Lens — see how mixture-of-experts models route tokens to experts.

`streamlit run app.py`. Pages live in pages/; all computation is in core/.
"""
from __future__ import annotations

import streamlit as st

from ui.presenter import active as presenter_active

st.set_page_config(page_title="Routing Lens", page_icon=":material/alt_route:", layout="wide")

pages = [
    st.Page("pages/trace.py", title="Trace", icon=":material/search:", default=True),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/benchmarks.py", title="Benchmarks", icon=":material/bar_chart:"),
    st.Page("pages/learn.py", title="Learn", icon=":material/school:"),
    st.Page("pages/experts.py", title="Experts", icon=":material/hub:"),
]
# Each page renders the shared sidebar (model picker) itself, through ui.sidebar.sidebar().
if presenter_active():  # presenter mode: one page, no navigation, no sidebar
    st.navigation([st.Page("pages/present.py", title="Presenter mode", icon=":material/slideshow:")],
                  position="hidden").run()
else:
    st.navigation(pages).run()
