"""Figures of the paper's open questions: the routing lab's designs, negation and multi-word expressions, and Figure 3
with word frequency. Every title states what the figure shows, computed from the numbers it draws."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.viz.style import NEUTRAL, OKABE_ITO, PROB_SCALE, STACK_COLORS, style

STUDY_TEXT = {
    "negation": ("JSS(base, negated) − JSS(base, matched word)", "negated forms route more like their base than a "
                 "frequency-matched word"),
    "mwe": ("JSS(inside, literal) − JSS(literal, literal)", "a word routes differently inside a multi-word expression "
            "than in literal use"),
}


def _errors(frame: pd.DataFrame, value: str, low: str, high: str) -> dict:
    return dict(type="data", symmetric=False, array=(frame[high] - frame[value]).to_numpy(),
                arrayminus=(frame[value] - frame[low]).to_numpy(), thickness=1.5)


def lab_figure(designs: pd.DataFrame, layers: pd.DataFrame, title: str, short: bool = False) -> go.Figure:
    """Per design: the layer-mean WiC d with its 95% CI (filled), the random routers' d on the same inputs (grey
    diamond) and the router-input cosine's d (open circle): where each design sits against the controls. `short`:
    the designs by their model names, no subtitle (a projector slide)."""
    if short:
        designs = designs.assign(design=designs.model)
    order = list(designs.design)
    fig = go.Figure()
    fig.add_scatter(x=designs.d, y=order, mode="markers", name="trained router: WiC d (95% CI)",
                    marker=dict(color=OKABE_ITO[0], size=13), error_x=_errors(designs, "d", "ci_low", "ci_high"),
                    hovertemplate="%{y}<br>d %{x:.3f}<extra></extra>")
    if len(layers) and "d_random_mean" in layers:
        ctl = layers.groupby("model", as_index=False)[["d_random_mean", "d_cosine"]].mean()
        ctl = designs[["model", "design"]].merge(ctl, on="model", how="left")
        fig.add_scatter(x=ctl.d_random_mean, y=ctl.design, mode="markers", name="random routers, same inputs",
                        marker=dict(color=NEUTRAL, size=11, symbol="diamond"),
                        hovertemplate="%{y}<br>random routers' d %{x:.3f}<extra></extra>")
        fig.add_scatter(x=ctl.d_cosine, y=ctl.design, mode="markers", name="router-input cosine",
                        marker=dict(color=OKABE_ITO[1], size=11, symbol="circle-open", line=dict(width=2)),
                        hovertemplate="%{y}<br>cosine's d %{x:.3f}<extra></extra>")
    fig.add_vline(x=0, line=dict(color=NEUTRAL, width=1))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title="" if short else "Cohen's d, same − different meaning (WiC, layer mean)")
    return style(fig, title, height=180 + 55 * len(order),
                 subtitle="" if short else "all-MiniLM-L6-v2's experts routed five ways; hash routing is a "
                                           "context-free control")


def lab_layers_figure(layers: pd.DataFrame) -> go.Figure:
    """WiC d per layer for every design, with 95% CIs."""
    fig = go.Figure()
    for i, (design, g) in enumerate(layers.groupby("design", sort=False)):
        g = g.sort_values("layer_pos")
        fig.add_scatter(x=g.layer_pos, y=g.d, mode="lines+markers", name=design,
                        line=dict(color=OKABE_ITO[i % len(OKABE_ITO)]), error_y=_errors(g, "d", "ci_low", "ci_high"))
    fig.add_hline(y=0, line=dict(color=NEUTRAL, width=1))
    fig.update_xaxes(title="sparse layer", dtick=1)
    fig.update_yaxes(title="Cohen's d (95% CI)")
    top = layers.loc[layers.d.idxmax()] if len(layers) else None
    title = ("WiC d by layer for every router design" if top is None
             else f"The largest context response: {top.design}, layer {int(top.layer_pos)} (d {top.d:+.2f})")
    return style(fig, title, height=420)


def _stack_dots(rows: pd.DataFrame, value: str, axis: str, hover: str) -> go.Figure:
    """One dot per model · stack (coloured by stack) with its 95% CI, a line at 0, the first row on top."""
    fig = go.Figure()
    for stack, g in rows.groupby("stack", sort=True):
        fig.add_scatter(x=g[value], y=g.row, mode="markers", name=stack,
                        error_x=_errors(g, value, "ci_low", "ci_high"),
                        marker=dict(color=STACK_COLORS.get(stack, OKABE_ITO[2]), size=12), hovertemplate=hover)
    fig.add_vline(x=0, line=dict(color=NEUTRAL, width=1))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title=axis)
    return fig


def probes_figure(probes: pd.DataFrame, study: str, subset: str | None = None) -> go.Figure:
    """The layer-mean gap per model · stack with its 95% CI: above 0 the first similarity is higher."""
    axis, finding = STUDY_TEXT[study]
    rows = probes[(probes.study == study) & (probes.layer_pos == -1)]
    rows = rows[rows.subset == (subset or rows.subset.iloc[0])] if len(rows) else rows
    rows = rows.assign(row=rows.model + " · " + rows["stack"])
    fig = _stack_dots(rows, "gap", f"{axis} (layer mean, 95% CI)", "%{y}<br>gap %{x:.4f}<extra></extra>")
    direction = (rows.ci_low > 0) if study == "negation" else (rows.ci_high < 0)
    return style(fig, f"In {int(direction.sum())} of {len(rows)} model · stacks, {finding}",
                 height=160 + 34 * len(rows), subtitle=f"{int(rows.n.max()) if len(rows) else 0} items; each dot a "
                                                       "model · stack, bars its 95% CI over items")


def frequency_figure(poly: pd.DataFrame, frequency: pd.DataFrame, model: str, stack: str) -> go.Figure:
    """Figure 3 with each lemma coloured by its Zipf frequency (left), and the context effect against frequency
    (right), with the partial correlations in the title."""
    frame = poly[(poly.model == model) & (poly["stack"] == stack)].dropna(subset=["difference"])
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=("by WordNet senses, coloured by frequency", "by Zipf frequency"))
    hover = frame.lemma + " (" + frame.pos.str.lower() + ")"
    fig.add_scatter(x=frame.senses, y=frame.difference, mode="markers", text=hover, row=1, col=1, showlegend=False,
                    marker=dict(color=frame.zipf, colorscale=PROB_SCALE, opacity=0.75, size=7,
                                colorbar=dict(title="Zipf"), showscale=True),
                    hovertemplate="%{text}<br>%{x} senses<br>difference %{y:.4f}<extra></extra>")
    fig.add_scatter(x=frame.zipf, y=frame.difference, mode="markers", text=hover, row=1, col=2, showlegend=False,
                    marker=dict(color=OKABE_ITO[0], opacity=0.6, size=7),
                    hovertemplate="%{text}<br>Zipf %{x:.2f}<br>difference %{y:.4f}<extra></extra>")
    fig.update_xaxes(title="WordNet senses", row=1, col=1)
    fig.update_xaxes(title="Zipf frequency (wordfreq, English)", row=1, col=2)
    fig.update_yaxes(title="mean JSS(T) − mean JSS(F)", row=1, col=1)
    r = frequency[(frequency.model == model) & (frequency["stack"] == stack)]
    if len(r):
        row = r.iloc[0]
        said = ("frequency explains the context effect beyond polysemy"
                if row.ci_low_frequency > 0 or row.ci_high_frequency < 0 else "frequency adds nothing clear")
        title = (f"{model} · {stack}: {said} — partial r {row.r_frequency:+.3f} [{row.ci_low_frequency:+.3f}, "
                 f"{row.ci_high_frequency:+.3f}]; senses {row.r_senses:+.3f}")
    else:
        title = f"Fig. 3 with word frequency ({model} · {stack})"
    return style(fig, title, height=440)


def frequency_summary_figure(frequency: pd.DataFrame) -> go.Figure:
    """Per model · stack, the partial correlation of the context effect with frequency (senses held fixed) and with
    senses (frequency held fixed), with 95% CIs."""
    rows = frequency.assign(row=frequency.model + " · " + frequency["stack"])
    fig = go.Figure()
    for what, colour in (("frequency", OKABE_ITO[0]), ("senses", OKABE_ITO[1])):
        fig.add_scatter(x=rows[f"r_{what}"], y=rows.row, mode="markers", name=f"r(effect, {what} | the other)",
                        marker=dict(color=colour, size=11),
                        error_x=_errors(rows, f"r_{what}", f"ci_low_{what}", f"ci_high_{what}"))
    fig.add_vline(x=0, line=dict(color=NEUTRAL, width=1))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title="partial correlation (95% CI)")
    clear = int(((rows.ci_low_frequency > 0) | (rows.ci_high_frequency < 0)).sum())
    return style(fig, f"Frequency explains the context effect beyond polysemy in {clear} of {len(rows)} model · "
                      "stacks", height=160 + 34 * len(rows))



def ids_only_figure(frame: pd.DataFrame) -> go.Figure:
    """Figure 2's question on expert ids alone: per model · stack, Cohen's d of the layer-mean chosen-set overlap
    (same − different meaning) with its 95% CI."""
    rows = frame[frame.layer_pos == -1].assign(row=lambda f: f.model + " · " + f["stack"])
    fig = _stack_dots(rows, "d", "Cohen's d of the chosen-set overlap, same − different meaning (IDs only)",
                      "%{y}<br>d %{x:.3f} (IDs only)<extra></extra>")
    above = int((rows.ci_low > 0).sum())
    return style(fig, f"IDs only: same-meaning pairs choose more alike experts in {above} of {len(rows)} model · "
                      "stacks", height=160 + 34 * len(rows),
                 subtitle="what a serving engine's routes (expert ids, no distributions) can show")
