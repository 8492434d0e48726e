"""Presenter mode (`?present=1`): the paper's story one figure per screen, for a projector.

A deck is the fixed sequence below; `compare=` links (Compare page addresses, repeatable) replace the built-in
Compare example, one step each. Every step has its own address (`step=`), so a talk can be resumed or shared.
"""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

import plotly.graph_objects as go
import streamlit as st

from core.settings import COMPARE_SENTENCE_MAX_CHARS, COMPARE_WORD_MAX_CHARS
from core.viz.style import title_pad, top_margin, wrap

STORY = ("question", "compare", "fig1", "fig2", "table2", "fig3", "claims", "controls", "across", "open")
TITLES = {"question": "The question", "compare": "One word, two contexts", "fig1": "Figure 1 · WiC",
          "fig2": "Figure 2 · layer by layer", "table2": "Table 2 · does context help?", "fig3": "Figure 3 · polysemy",
          "claims": "The claims, judged", "controls": "Router or representation?", "across": "Across models",
          "open": "What the paper left open"}
MIN_FONT = 16  # px: the smallest text a projected figure shows (ticks, legends)
TITLE_WRAP = 70  # characters of a figure title per line at MIN_FONT + 6 px across 1280 px
CLAIMS_HEIGHT = 530  # the claims matrix: its rows and rotated column labels need the screen below the takeaway
FIGURE_HEIGHT = 470  # px: a step's figure, its title and its takeaway fit one 1280×720 screen

CSS = """<style>
section[data-testid="stSidebar"], div[data-testid="stSidebarCollapsedControl"], header[data-testid="stHeader"]
  {display: none !important;}
.block-container {padding-top: 0.8rem; padding-bottom: 0.5rem; max-width: 96vw;}
.stMarkdown p, .stMarkdown li, .stCaption, td, th {font-size: 1.35rem !important; line-height: 1.35;}
h1 {font-size: 2.2rem !important; padding: 0.2rem 0 0.3rem 0 !important;} h2 {font-size: 1.8rem !important;}
[data-testid="stMetricValue"] {font-size: 3rem !important;}
</style>"""


@dataclass(frozen=True)
class CompareLink:
    sentence1: str
    sentence2: str
    word: str
    model: str | None
    control: str = ""  # s3: a same-meaning control, when the link has one


def parse_compare_link(link: str) -> CompareLink | None:
    """A Compare page address (or just its query string) → its sentences, word, model and control; None if it has
    no pair. Capped like typed text."""
    query = urllib.parse.urlsplit(link).query if "?" in link or "://" in link else link
    params = urllib.parse.parse_qs(query)
    s1, s2, w = (params.get(k, [""])[0] for k in ("s1", "s2", "w"))
    if not (s1.strip() and s2.strip() and w.strip()):
        return None
    model = params.get("model", [None])[0] or None
    return CompareLink(s1[:COMPARE_SENTENCE_MAX_CHARS], s2[:COMPARE_SENTENCE_MAX_CHARS], w[:COMPARE_WORD_MAX_CHARS],
                       model, params.get("s3", [""])[0][:COMPARE_SENTENCE_MAX_CHARS])


def deck(links: list[str]) -> list[tuple[str, CompareLink | None]]:
    """The steps: the story, with each valid Compare link in place of the built-in example (in their order)."""
    compares = [c for c in map(parse_compare_link, links) if c is not None]
    steps: list[tuple[str, CompareLink | None]] = []
    for name in STORY:
        if name == "compare" and compares:
            steps += [("compare", c) for c in compares]
        else:
            steps.append((name, None))
    return steps


def projector(fig: go.Figure, height: int = FIGURE_HEIGHT, fixed: bool = False) -> go.Figure:
    """Large type on a canvas that leaves room for the step's title and takeaway at 1280×720, readable from the back
    of a room in light and dark themes; a long title wraps instead of running off the right edge. `fixed`: a figure
    that sizes its own type and margins (the claims matrix): only its height and title change."""
    text = fig.layout.title.text or ""
    head, _, rest = text.partition("<br>")
    if len(head) > TITLE_WRAP:
        fig.update_layout(title_text=wrap(head, TITLE_WRAP) + (f"<br>{rest}" if rest else ""))
    if fixed:
        fig.update_layout(height=height)
        return fig
    fig.update_layout(font=dict(size=MIN_FONT + 2), title_font=dict(size=MIN_FONT + 6), height=height,
                      legend=dict(font=dict(size=MIN_FONT)),
                      margin=dict(l=20, r=20, t=top_margin(fig, fig.layout.title.text or "", MIN_FONT + 6), b=20),
                      title_pad_t=title_pad(fig.layout.title.text or ""))
    fig.update_xaxes(tickfont=dict(size=MIN_FONT), title_font=dict(size=MIN_FONT + 2))
    fig.update_yaxes(tickfont=dict(size=MIN_FONT), title_font=dict(size=MIN_FONT + 2))
    fig.update_annotations(font_size=MIN_FONT)
    return fig


def zoom_to_mass(fig: go.Figure, share: float = 0.01) -> go.Figure:
    """Each panel's x axis cut to where its curves hold density (above `share` of their peak), so Figure 1's
    same- and different-meaning curves, a hundredth apart near 1, are told apart on a projector."""
    import numpy as np

    spans: dict[str, list[float]] = {}
    for trace in fig.data:
        if trace.type != "scatter" or trace.y is None or trace.x is None:
            continue
        x, y = np.asarray(trace.x, dtype=float), np.asarray(trace.y, dtype=float)
        if not len(y) or not np.isfinite(y).any():
            continue
        keep = x[y > share * np.nanmax(y)]
        spans.setdefault(trace.xaxis or "x", []).extend(keep.tolist())
    for axis, xs in spans.items():
        if xs:
            low, high = min(xs), max(xs)
            pad = max((high - low) * 0.05, 1e-3)
            fig.layout["xaxis" + axis[1:]].range = [low - pad, high + pad]
    return fig


def legend_below(fig: go.Figure) -> go.Figure:
    """A long legend (every model of the across-models step) laid out in rows under the plot, its entries without
    their bracketed family, and the metric labels level: a legend at the side scrolled inside the slide and cut its
    last entry."""
    for trace in fig.data:
        if trace.name:
            trace.name = trace.name.split(" (")[0]
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.12, x=0, xanchor="left", entrywidth=250),
                      margin=dict(b=20))
    fig.update_xaxes(tickangle=0, automargin=True)
    return fig


def active() -> bool:
    """Whether this session is in presenter mode: opened with ?present=1 or at /present, or entered from the sidebar
    (the session flag carries the click into the run that follows; the address then says present=1 too, so it can
    be shared). /present counts only until the session leaves presenter mode (Exit keeps the path a moment)."""
    path = urllib.parse.urlsplit(st.context.url or "").path.rstrip("/")
    if path.endswith("/present") and "presenting" not in st.session_state:
        st.session_state["presenting"] = True
    if st.session_state.get("presenting"):
        st.query_params["present"] = "1"
    return st.query_params.get("present") == "1"


def enter() -> None:
    """Switch the app to presenter mode (the sidebar's button)."""
    st.session_state["presenting"] = True
    st.query_params["present"] = "1"
    st.query_params.pop("step", None)


def leave() -> None:
    st.session_state["presenting"] = False
    for key in ("present", "step"):
        st.query_params.pop(key, None)
