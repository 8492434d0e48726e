"""Figures as SVG/PDF and tables as LaTeX, for papers and slides.

Vector export goes through plotly's kaleido, which drives a Chromium-based browser already on the machine: kaleido
asks choreographer, which honours `BROWSER_PATH`, then looks for chromium/chrome on PATH and in their usual install
places, then in the folder `kaleido.get_chrome()` downloads into. Routing Lens never downloads a browser: where none
is found, export says so (`ExportUnavailable`) and everything else works.
"""
from __future__ import annotations

import functools
import os
from typing import Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.errors import RoutingLensError

VectorFormat = Literal["svg", "pdf"]
VECTOR_FORMATS: tuple[VectorFormat, ...] = ("svg", "pdf")
ImageFormat = Literal["svg", "pdf", "png"]
IMAGE_FORMATS: tuple[ImageFormat, ...] = ("svg", "pdf", "png")
MIME = {"svg": "image/svg+xml", "pdf": "application/pdf", "png": "image/png"}


class ExportUnavailable(RoutingLensError):  # noqa: N818 - a user-facing condition, named as the message reads
    """No browser for kaleido on this machine (or kaleido not installed)."""


@functools.cache
def browser() -> str | None:
    """The browser kaleido would use, found the way it finds one; None when there is none (nothing is downloaded)."""
    try:
        from choreographer.browsers.chromium import Chromium
    except ImportError:
        return None
    found = Chromium.find_browser(skip_local=False)  # BROWSER_PATH is taken as given: check it runs
    return found if found and os.path.isfile(found) and os.access(found, os.X_OK) else None


def figure_bytes(fig: go.Figure, fmt: ImageFormat) -> bytes:
    """The figure as SVG, PDF or PNG (twice the pixels, for slides), at its own size (width 1000 px where it sets
    none)."""
    if fmt not in IMAGE_FORMATS:
        raise RoutingLensError(f"Figures export as {', '.join(IMAGE_FORMATS)}, not {fmt!r}.")
    if browser() is None:
        raise ExportUnavailable("SVG/PDF export needs Chromium or Chrome on this machine (plotly's kaleido draws the "
                                "figure in it): install one (Debian: `apt-get install chromium`) or set BROWSER_PATH. "
                                "The HTML download and the modebar's PNG work without it.")
    width = fig.layout.width or 1000
    try:
        return fig.to_image(format=fmt, width=width, height=fig.layout.height or 560, scale=2 if fmt == "png" else 1)
    except (RuntimeError, ValueError, OSError) as err:
        raise ExportUnavailable(f"The browser could not draw the figure as {fmt.upper()} ({type(err).__name__}); "
                                "the HTML download still works.") from None


def figure_data(fig: go.Figure) -> pd.DataFrame:
    """The numbers a figure draws, one row per point (or heatmap cell): trace name, x, y, and z for heatmaps,
    with the low and high error bar where the trace has one. What "Data behind it (CSV)" gives."""
    rows = []
    for i, trace in enumerate(fig.data):
        name = trace.name or f"trace {i}"
        if trace.type == "heatmap" and trace.z is not None:
            z = np.asarray(trace.z, dtype=float)
            xs = list(trace.x) if trace.x is not None else list(range(z.shape[1]))
            ys = list(trace.y) if trace.y is not None else list(range(z.shape[0]))
            rows += [{"trace": name, "x": xs[c], "y": ys[r], "z": z[r, c]} for r in range(z.shape[0])
                     for c in range(z.shape[1])]
            continue
        xs, ys = getattr(trace, "x", None), getattr(trace, "y", None)
        if xs is None and ys is None:
            continue
        xs = list(xs) if xs is not None else list(range(len(ys)))
        ys = list(ys) if ys is not None else [None] * len(xs)
        err = getattr(trace, "error_y", None)
        high = list(err.array) if err is not None and err.array is not None else None
        low = list(err.arrayminus) if err is not None and err.arrayminus is not None else high
        for j, (x, y) in enumerate(zip(xs, ys)):
            row = {"trace": name, "x": x, "y": y}
            if high is not None and y is not None:
                row.update(low=float(y) - float(low[j]), high=float(y) + float(high[j]))
            rows.append(row)
    return pd.DataFrame(rows)


def table_latex(frame: pd.DataFrame, caption: str = "") -> str:
    """A table as a LaTeX tabular (booktabs rules, 3 decimals, special characters escaped)."""
    return frame.to_latex(index=False, escape=True, float_format="%.3f", na_rep="--",
                          caption=caption or None, position="htbp")


def page_zip(figures: dict[str, go.Figure], tables: dict[str, str]) -> bytes:
    """Everything a page shows in one zip: each figure as self-contained HTML and the data behind it as CSV, and
    each table (name → CSV text). Plotly's JavaScript is written once (plotly.min.js) and each figure's HTML loads
    it from beside itself, so fifty figures do not carry fifty copies."""
    import io
    import zipfile

    from plotly.offline import get_plotlyjs

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("plotly.min.js", get_plotlyjs())
        for name, fig in figures.items():
            archive.writestr(f"{name}.html", fig.to_html(include_plotlyjs="plotly.min.js"))
            archive.writestr(f"{name}.csv", figure_data(fig).to_csv(index=False))
        for name, text in tables.items():
            archive.writestr(f"{name}.csv", text)
    return buffer.getvalue()
