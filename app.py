"""Routing Lens — see how mixture-of-experts models route tokens to experts.

`streamlit run app.py`. Pages live in pages/; all computation is in core/.
"""
from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Routing Lens", page_icon="🔀", layout="wide")

from ui.state import sidebar  # noqa: E402

pages = [
    st.Page("pages/trace.py", title="Trace", icon="🔎", default=True),
    st.Page("pages/compare.py", title="Compare", icon="⚖️"),
    st.Page("pages/benchmarks.py", title="Benchmarks", icon="📊"),
    st.Page("pages/learn.py", title="Learn", icon="🎓"),
]
nav = st.navigation(pages)
sidebar()
nav.run()
