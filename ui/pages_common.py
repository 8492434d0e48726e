"""Small helpers the pages share (no statistics)."""
from __future__ import annotations

import streamlit as st

from core.tracer import Tracer


def current_tracer(context: bool = False) -> Tracer | None:
    """Render the shared sidebar (model picker) and return the model it holds. Every page calls this
    first, so the sidebar is the same on every page and in every test harness. `context=True` pages
    (Compare, Learn) default to a context-sensitive model when no google checkpoint is cached."""
    from ui.state import sidebar

    return sidebar(context)


def plot(fig, key: str) -> None:
    """Plotly figure with the modebar's PNG export, plus an HTML download of the same figure."""
    st.plotly_chart(fig, width="stretch", key=key,
                    config={"toImageButtonOptions": {"format": "png", "scale": 2, "filename": key},
                            "displaylogo": False})
    # Generated only when clicked (deferred), self-contained so it opens offline; PNG is in the modebar.
    st.download_button("Download figure (HTML)", lambda: fig.to_html(include_plotlyjs=True), file_name=f"{key}.html",
                       mime="text/html", key=f"dl-{key}", on_click="ignore")
