"""The visual system, defined once: one plotly template, one colour per expert index, one layer name.

Every figure builder styles through here, so a figure added next looks like the others:
- `TEMPLATE` ("routing_lens", registered with plotly on import): type legible at 1280 px, axes and titles that make
  room for their labels (automargin), a transparent background (Streamlit's light and dark themes), legends in
  trace order (stacked bars would otherwise list e7 … e0).
- `expert_color(i)`: expert *i* has one colour in every figure, page and report, whatever the model's expert count.
  The first seven are Okabe–Ito (colour-blind safe; black left out, it vanishes on a dark theme), ordered so that
  neighbours differ in hue *and* lightness; then Paul Tol's muted nine (wine first); beyond 17 a golden-angle hue sequence (no palette keeps 64 categories apart: hover and
  labels name the expert).
- `layer_name(block)`: "block 3", the model's own block index, in the app, the CLI, reports and docs.
"""
from __future__ import annotations

import colorsys
import textwrap

import plotly.graph_objects as go
import plotly.io as pio

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#F0E442", "#D55E00", "#56B4E9"]  # black left out: dark theme
TOL_MUTED = ["#882255", "#332288", "#DDCC77", "#117733", "#88CCEE", "#44AA99", "#999933", "#AA4499", "#CC6677"]
PALETTE = OKABE_ITO + TOL_MUTED  # grey is never an expert: it means "not chosen", "the corpus", "random"
PROB_SCALE = "Cividis"  # probabilities and shares: sequential, perceptually uniform
SHARE_SCALE = "Blues"  # non-negative shares where cividis would read as probability
LIFT_SCALE = "RdBu_r"  # diverging, only for a ratio around 1 (lift) or a signed difference
STACK_COLORS = {"encoder": "#0072B2", "decoder": "#E69F00"}
LABEL_COLORS = {"T": "#0072B2", "F": "#D55E00"}  # WiC same meaning / different meaning
NEUTRAL = "#999999"  # a reference: the whole corpus, random routers
MUTED = "#D9D9D9"  # an expert that was not chosen
MIN_FONT = 12  # px: the smallest text a figure draws at 1280 px (ticks, legends, cell text)
FONT = dict(size=15)
TEMPLATE_NAME = "routing_lens"

TEMPLATE = go.layout.Template(layout=dict(
    font=dict(size=FONT["size"]),
    # hung from the top of the figure; the top margin is sized to its lines by style() (title.automargin is not used:
    # in a static export — kaleido's PNG/SVG/PDF — it moves the axes after the traces are drawn, shifting the data)
    title=dict(font=dict(size=17), automargin=False, x=0.0, xanchor="left", xref="paper", y=1.0, yref="container",
               yanchor="top", pad=dict(t=10)),
    colorway=PALETTE, paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
    xaxis=dict(automargin=True, tickfont=dict(size=MIN_FONT + 1), title=dict(standoff=8)),
    yaxis=dict(automargin=True, tickfont=dict(size=MIN_FONT + 1), title=dict(standoff=8)),
    legend=dict(traceorder="normal", font=dict(size=MIN_FONT + 1)), hoverlabel=dict(font=dict(size=MIN_FONT + 1)),
    margin=dict(l=60, r=20, t=70, b=50)))
pio.templates[TEMPLATE_NAME] = TEMPLATE


def expert_color(i: int) -> str:
    """Expert i's colour, the same in every figure (independent of how many experts the model has)."""
    if i < len(PALETTE):
        return PALETTE[i]
    hue = (i * 0.618033988749895) % 1.0
    r, g, b = colorsys.hls_to_rgb(hue, 0.45 if i % 2 else 0.62, 0.65)
    return f"#{int(r * 255):02X}{int(g * 255):02X}{int(b * 255):02X}"


def expert_colors(n: int) -> list[str]:
    """The colours of experts 0 … n − 1."""
    return [expert_color(i) for i in range(n)]


def layer_name(block: int) -> str:
    """A sparse layer by the model's own block index: the one name the app, CLI and reports use."""
    return f"block {int(block)}"


TITLE_WRAP = 56  # characters per title line: a figure in a half-width column at 1280 px holds about 60


def wrap(text: str, width: int = TITLE_WRAP) -> str:
    """Plain text broken into lines of at most `width` characters (plotly never wraps a title: it runs off)."""
    return "<br>".join(textwrap.wrap(text, width, break_long_words=False)) if len(text) > width else text


def with_subtitle(title: str, subtitle: str = "", width: int = TITLE_WRAP) -> str:
    """A title that states the finding, with the definition beneath it in smaller type; both wrapped."""
    if "<br>" not in title:
        title = wrap(title, width)
    return title + (f"<br><sup>{wrap(subtitle, int(width * 1.3)).replace('<br>', '</sup><br><sup>')}</sup>"
                    if subtitle else "")


def title_pad(text: str) -> int:
    """Space above a title. A browser's plotly lifts a title of n lines by about half a line per line beyond the
    first (anchored at its top, measured in Chromium), so each further line gets more room above it."""
    return 10 + 14 * text.count("<br>")


def top_margin(fig: go.Figure, text: str, size: int) -> int:
    """Room above the plot area for a title of these lines at this font size, and for subplot titles (which sit just
    above their panels) and a legend placed above the plot."""
    main = text.count("<br>") + 1 - text.count("<sup>")
    top = title_pad(text) + int(1.35 * size) * max(main, 1) + int(0.95 * size) * text.count("<sup>") + 12
    if any(a.yref == "paper" and a.yanchor == "bottom" and (a.y or 0) >= 0.99 for a in fig.layout.annotations):
        top += 10 + 20 * (1 + max((str(a.text).count("<br>") for a in fig.layout.annotations), default=0))
    return top


def style(fig: go.Figure, title: str, height: int | None = None, subtitle: str = "",
          width: int = TITLE_WRAP) -> go.Figure:
    """The template, the title (and subtitle, wrapped at `width` characters) and the height, in one layout update
    (each costs ~1 ms of validation)."""
    text = with_subtitle(title, subtitle, width)
    # the title's placement is set on the figure itself, not only in the template: Streamlit's theme replaces a
    # figure's template with its own when it draws it
    fig.update_layout(template=TEMPLATE, title=dict(TEMPLATE.layout.title.to_plotly_json(), text=text,
                                                    pad=dict(t=title_pad(text))),
                      margin=dict(t=top_margin(fig, text, 17)), legend=dict(traceorder="normal"),
                      **({"height": height} if height else {}))
    return fig
