"""Learn's closing exercise: mix a copy of a routing distribution into another and watch the JSS move."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core.measures.metrics import jss
from core.viz import compare_plots


@st.fragment
def jss_demo(a: np.ndarray, layer: int, stack: str) -> None:
    """The slider reruns only this part of the page."""
    st.subheader("Try it: what JSS measures")
    share = st.slider("Mix: how much of distribution B is a copy of A", 0.0, 1.0, 0.5, key="learn_mix")
    b = share * a + (1 - share) * np.roll(a, max(len(a) // 2, 1))
    st.metric("JSS(A, B)", f"{float(jss(a, b)):.3f}")
    st.plotly_chart(compare_plots.compare_distributions(a[None], b[None], [layer], stack, names=("A", "B")),
                    width="stretch", key="learn-jss")
