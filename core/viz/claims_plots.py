"""The claims matrix as a figure: the paper's claims down, model · stack across, each cell a verdict in a word and
a colour (never colour alone), its evidence — estimate, 95 % CI, p — on hover."""
from __future__ import annotations

import re
import textwrap

import pandas as pd
import plotly.graph_objects as go

from core.studies.claims import NOT_APPLICABLE, matrix_cells

# colour-blind-safe (blue / orange / grey), and a symbol is always written in the cell, explained in the legend
COLOURS = {"supported": "#4393c3", "contradicted": "#e08214", "inconclusive": "#d9d9d9", NOT_APPLICABLE: "#ffffff"}
SYMBOLS = {"supported": "✔", "contradicted": "✘", "inconclusive": "?", NOT_APPLICABLE: "–"}
CODES = {v: i for i, v in enumerate(COLOURS)}
CELL_FONT = 16  # px: legible from the back of a room at 1280 px wide, whatever the number of columns
LABEL_FONT = 12


def _mark(survival: str) -> str:
    """✓ a verdict that survives every open choice, ⚠ one that changes under one, "" when not tested."""
    return " ✓" if survival == "survives every choice" else " ⚠" if survival else ""


def claims_matrix_figure(claims: pd.DataFrame, height: int | None = None,
                         whose: str = "The paper's claims on this run") -> go.Figure:
    """`height`: a fixed canvas (the presenter deck's 1280×720 screen): each claim then reads on one line, without
    its section reference and its test in brackets, so its rows keep room for the cell symbols. `whose`: the title's
    subject (the claims beyond the paper are named as such)."""
    cells = matrix_cells(claims)
    rows = list(dict.fromkeys(cells.claim))
    columns = list(dict.fromkeys(cells.column))
    grid = cells.set_index(["claim", "column"])
    z = [[CODES[grid.loc[(r, c), "verdict"]] for c in columns] for r in rows]
    text = [[SYMBOLS[grid.loc[(r, c), "verdict"]] + _mark(grid.loc[(r, c), "survival"]) for c in columns] for r in rows]
    hover = [[f"<b>{c}</b><br>{grid.loc[(r, c), 'verdict']}<br>"
              + "<br>".join(textwrap.wrap(grid.loc[(r, c), "evidence"] or "cannot be judged on this model and stack",
                                          70))
              + (f"<br>{grid.loc[(r, c), 'survival']}" if grid.loc[(r, c), "survival"] else "")
              for c in columns] for r in rows]
    n = len(COLOURS)
    scale = [x for i, colour in enumerate(COLOURS.values()) for x in ([i / n, colour], [(i + 1) / n, colour])]
    papers = dict(zip(cells.claim, cells.paper))
    # a fixed canvas (a projector) gives each row one line of text: the claim without its test in brackets (the
    # hover holds the evidence); two lines there ran into the next row's label
    labels = ([textwrap.shorten(re.sub(r"\s*\([^()]*\)\s*$", "", r), 64, placeholder="…") for r in rows] if height else
              ["<br>".join(textwrap.wrap(r, 48)) + f"<br><i>{papers[r]}</i>" for r in rows])
    if len(set(labels)) < len(labels):  # two claims that differ only in their brackets: keep them apart
        labels = ["<br>".join(textwrap.wrap(r, 60)[:2]) for r in rows]
    ticks = ["<br>".join(str(c).rsplit(" · ", 1)) for c in columns]  # model over stack: two short lines
    fig = go.Figure(go.Heatmap(z=z, x=columns, y=labels, text=text, texttemplate="%{text}", hovertext=hover,
                               hovertemplate="%{hovertext}<extra></extra>", colorscale=scale, zmin=-0.5,
                               zmax=n - 0.5, showscale=False, xgap=2, ygap=2,
                               textfont={"size": CELL_FONT, "color": "#1a1a1a"}))
    for verdict, colour in COLOURS.items():  # the colour legend: one entry per verdict, its symbol and its colour
        fig.add_scatter(x=[None], y=[None], mode="markers", name=f"{SYMBOLS[verdict]} {verdict}",
                        marker={"symbol": "square", "size": 14, "color": colour, "line": {"color": "#888", "width": 1}})
    marked = any(_mark(s) for s in cells.survival)
    bottom = 30 + 8 * max(len(line) for t in ticks for line in t.split("<br>"))  # room for the rotated labels
    title = f"{whose}: each cell judged on its 95 % CI (hover a cell for its evidence)"
    fig.update_layout(title={"text": title + ("<br><sup>✓ survives every open choice · ⚠ changes under one</sup>"
                                              if marked else ""), "font": {"size": 15}},
                      yaxis={"autorange": "reversed", "tickfont": {"size": LABEL_FONT}},
                      xaxis={"side": "bottom", "tickangle": -90, "tickfont": {"size": LABEL_FONT}, "automargin": True,
                             "tickmode": "array", "tickvals": columns, "ticktext": ticks},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0, "font": {"size": 13}},
                      height=height or 110 + 52 * len(rows) + bottom,
                      margin={"l": 400 if height else 340, "t": 100 if height else 110, "b": bottom},
                      plot_bgcolor="#ffffff")
    return fig
