"""Showing a plotly figure with one export menu: self-contained HTML, SVG, PDF and PNG (drawn server-side by kaleido,
only when clicked) and the data behind it as CSV; tables with one menu of CSV and LaTeX."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.viz.export import IMAGE_FORMATS, MIME, browser, figure_bytes, figure_data, table_latex

NO_BROWSER = ("SVG/PDF/PNG export needs Chromium or Chrome on the server (plotly's kaleido draws the figure in it); "
              "none was found. The HTML and CSV downloads and the modebar's PNG work.")


FIGURE_CACHE_ENTRIES = 256  # finished figures held per process: ~120 KiB each (a Trace heatmap), ~30 MiB in all
builds: Counter[str] = Counter()  # figures built per kind in this process: what a cache hit saves, read by tests


@st.cache_resource(show_spinner=False, max_entries=FIGURE_CACHE_ENTRIES)
def _built(what: tuple[Hashable, ...], _build: Callable[[], go.Figure]) -> go.Figure:
    builds[str(what[0])] += 1
    return _build()


def figure(what: tuple[Hashable, ...], build: Callable[[], go.Figure]) -> go.Figure:
    """The figure for `what` (its kind first, then everything it is drawn from: model, precision, inputs, options),
    built once per process and shared by every session and rerun. Figures are never changed after they are built
    (st.plotly_chart copies them to JSON), so one object serves everyone."""
    return _built(what, build)


def plot(fig, key: str) -> None:
    """The figure, then its one export menu (a popover): HTML, SVG, PDF, PNG and the data behind it as CSV. Every
    file is made only when its button is clicked (deferred); SVG/PDF/PNG are drawn server-side by kaleido."""
    st.plotly_chart(fig, width="stretch", key=key,
                    config={"toImageButtonOptions": {"format": "png", "scale": 2, "filename": key},
                            "displaylogo": False})
    with st.popover("Export", icon=":material/download:"):
        export_menu(fig, key)


def export_menu(fig: go.Figure, key: str) -> None:
    st.download_button("Figure (HTML, opens offline)", lambda: fig.to_html(include_plotlyjs=True),
                       file_name=f"{key}.html", mime="text/html", key=f"dl-{key}", on_click="ignore")
    ready = browser() is not None
    for fmt in IMAGE_FORMATS:
        st.download_button(fmt.upper() + ("" if ready else " (no browser on the server)"),
                           (lambda f=fmt: figure_bytes(fig, f)) if ready else b"", file_name=f"{key}.{fmt}",
                           mime=MIME[fmt], key=f"dl-{key}-{fmt}", on_click="ignore", disabled=not ready,
                           help=None if ready else NO_BROWSER)
    st.download_button("Data behind it (CSV)", lambda: figure_data(fig).to_csv(index=False), file_name=f"{key}.csv",
                       mime="text/csv", key=f"dl-{key}-csv", on_click="ignore")


def table_downloads(frame: pd.DataFrame, name: str, caption: str = "") -> None:
    """One export menu for a displayed table: CSV and LaTeX (booktabs tabular)."""
    with st.popover(f"Export {name}", icon=":material/download:"):
        st.download_button(f"{name}.csv", frame.to_csv(index=False), file_name=f"{name}.csv", mime="text/csv",
                           key=f"dl-{name}-csv", on_click="ignore")
        st.download_button(f"{name}.tex (LaTeX)", lambda: table_latex(frame, caption), file_name=f"{name}.tex",
                           mime="text/x-tex", key=f"dl-{name}-tex", on_click="ignore")
