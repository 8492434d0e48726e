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

import pandas as pd
import plotly.graph_objects as go

from core.errors import RoutingLensError

VectorFormat = Literal["svg", "pdf"]
VECTOR_FORMATS: tuple[VectorFormat, ...] = ("svg", "pdf")
MIME = {"svg": "image/svg+xml", "pdf": "application/pdf"}


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


def figure_bytes(fig: go.Figure, fmt: VectorFormat) -> bytes:
    """The figure as SVG or PDF, at its own size (width 1000 px where it sets none)."""
    if fmt not in VECTOR_FORMATS:
        raise RoutingLensError(f"Figures export as {' or '.join(VECTOR_FORMATS)}, not {fmt!r}.")
    if browser() is None:
        raise ExportUnavailable("SVG/PDF export needs Chromium or Chrome on this machine (plotly's kaleido draws the "
                                "figure in it): install one (Debian: `apt-get install chromium`) or set BROWSER_PATH. "
                                "The HTML download and the modebar's PNG work without it.")
    width = fig.layout.width or 1000
    try:
        return fig.to_image(format=fmt, width=width, height=fig.layout.height or 560)
    except (RuntimeError, ValueError, OSError) as err:
        raise ExportUnavailable(f"The browser could not draw the figure as {fmt.upper()} ({type(err).__name__}); "
                                "the HTML download still works.") from None


def table_latex(frame: pd.DataFrame, caption: str = "") -> str:
    """A table as a LaTeX tabular (booktabs rules, 3 decimals, special characters escaped)."""
    return frame.to_latex(index=False, escape=True, float_format="%.3f", na_rep="--",
                          caption=caption or None, position="htbp")
