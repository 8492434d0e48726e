"""The claims matrix as a figure: the paper's claims down, model · stack across, each cell a verdict in a word and
a colour (never colour alone), its evidence — estimate, 95 % CI, p — on hover."""
from __future__ import annotations

import textwrap

import pandas as pd
import plotly.graph_objects as go

from core.studies.claims import NOT_APPLICABLE, matrix_cells

# colour-blind-safe (blue / orange / grey), and the word is always written in the cell
COLOURS = {"supported": "#4393c3", "contradicted": "#e08214", "inconclusive": "#d9d9d9", NOT_APPLICABLE: "#ffffff"}
CODES = {v: i for i, v in enumerate(COLOURS)}


def claims_matrix_figure(claims: pd.DataFrame) -> go.Figure:
    cells = matrix_cells(claims)
    rows = list(dict.fromkeys(cells.claim))
    columns = list(dict.fromkeys(cells.column))
    grid = cells.set_index(["claim", "column"])
    z = [[CODES[grid.loc[(r, c), "verdict"]] for c in columns] for r in rows]
    text = [[grid.loc[(r, c), "verdict"] + (" ✓" if grid.loc[(r, c), "survival"] == "survives every choice" else
                                            " ⚠" if grid.loc[(r, c), "survival"] else "") for c in columns]
            for r in rows]
    hover = [[f"<b>{c}</b><br>{grid.loc[(r, c), 'verdict']}<br>"
              + "<br>".join(textwrap.wrap(grid.loc[(r, c), "evidence"] or "cannot be judged on this model and stack",
                                          70))
              + (f"<br>{grid.loc[(r, c), 'survival']}" if grid.loc[(r, c), "survival"] else "")
              for c in columns] for r in rows]
    n = len(COLOURS)
    scale = [x for i, colour in enumerate(COLOURS.values()) for x in ([i / n, colour], [(i + 1) / n, colour])]
    papers = dict(zip(cells.claim, cells.paper))
    labels = ["<br>".join(textwrap.wrap(r, 48)) + f"<br><i>{papers[r]}</i>" for r in rows]
    fig = go.Figure(go.Heatmap(z=z, x=columns, y=labels, text=text, texttemplate="%{text}", hovertext=hover,
                               hovertemplate="%{hovertext}<extra></extra>", colorscale=scale, zmin=-0.5,
                               zmax=n - 0.5, showscale=False, xgap=2, ygap=2))
    fig.update_layout(title="The paper's claims on this run (hover a cell for its evidence; ✓ survives every "
                            "choice, ⚠ changes under one)", yaxis={"autorange": "reversed"},
                      height=140 + 70 * len(rows), margin={"l": 340}, plot_bgcolor="#ffffff")
    fig.update_xaxes(side="top", tickangle=-30)
    return fig
