"""Showing a plotly figure with its exports (PNG from the modebar, self-contained HTML as a download)."""
from __future__ import annotations

import streamlit as st


def plot(fig, key: str) -> None:
    st.plotly_chart(fig, width="stretch", key=key,
                    config={"toImageButtonOptions": {"format": "png", "scale": 2, "filename": key},
                            "displaylogo": False})
    # Generated only when clicked (deferred), self-contained so it opens offline; PNG is in the modebar.
    st.download_button("Download figure (HTML)", lambda: fig.to_html(include_plotlyjs=True), file_name=f"{key}.html",
                       mime="text/html", key=f"dl-{key}", on_click="ignore")
