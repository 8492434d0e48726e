"""The class room's board figure: the class's own same- and different-meaning pairs (each a dot, its JSS) beside the
model's WiC pairs (box plots), on one JSS axis — the paper's Figure 1 and 2 from the class's own data."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.viz.style import LABEL_COLORS, style


def class_board_figure(same: np.ndarray, different: np.ndarray, reference: pd.DataFrame | None, sentence: str
                       ) -> go.Figure:
    """Rows: same meaning, different meaning; the class's pairs as dots over the WiC reference's box."""
    fig = go.Figure()
    rows = (("same meaning", "T", same), ("different meaning", "F", different))
    for label, key, values in rows:
        if reference is not None and len(reference) and "label" in reference:
            ref = reference.jss[reference.label == key].to_numpy()
            fig.add_trace(go.Box(x=ref, y=[label] * len(ref), name=f"WiC pairs, {label}", orientation="h",
                                 marker_color="#999999", boxpoints=False, showlegend=key == "T",
                                 legendgroup="wic", hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=values, y=[label] * len(values), mode="markers", name=f"class, {label}",
                                 marker=dict(color=LABEL_COLORS[key], size=16, line=dict(width=1, color="white")),
                                 hovertemplate="JSS %{x:.3f}<extra></extra>"))
    fig.update_xaxes(title="routing similarity of the word in its two sentences (mean JSS over layers)")
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=["different meaning", "same meaning"])
    fig.update_layout(boxmode="overlay")
    return style(fig, "The class's pairs: is a word routed more alike when it keeps its meaning?", height=420,
                 subtitle=sentence)
