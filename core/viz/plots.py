"""Plotly figure builders: data in, figure out. Shared by the app, the CLI report and the tests.

Colours, type, layer names: core.viz.style (one template, one colour per expert index, "block N").
"""
from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from core.measures.metrics import entropy_bits
from core.tracing.routing_trace import RoutingTrace
from core.types import Level, Stack
from core.viz.style import (
    LABEL_COLORS,
    MUTED,
    PROB_SCALE,
    STACK_COLORS,
    expert_colors,
    layer_name,
    style,
)


def hlines(fig: go.Figure, lines: dict[str, float], line: dict) -> None:
    """Horizontal lines across the plot, each labelled at its bottom left: plain layout shapes and annotations,
    set in one layout update (plotly's add_hline costs ~10 ms a line in axis bookkeeping)."""
    fig.update_layout(
        shapes=[*fig.layout.shapes, *(dict(type="line", xref="x domain", yref="y", x0=0, x1=1, y0=y, y1=y, line=line)
                                      for y in lines.values())],
        annotations=[*fig.layout.annotations, *(dict(xref="x domain", yref="y", x=0, y=y, text=text, showarrow=False,
                                                     xanchor="left", yanchor="top", font=dict(size=12))
                                                for text, y in lines.items() if text)])


def plain(text: str) -> str:
    """Text from a visitor as plotly shows it literally: plotly reads tags such as <a href>, <b> and <br> in labels
    and titles, and decodes &lt; &gt; &amp; back to the characters."""
    return html.escape(str(text), quote=False)


def _labels(trace, level: str) -> list[str]:
    items = trace.tokens if level == "token" else trace.words
    return [f"{i}:{plain(t)}" for i, t in enumerate(items)]  # unique labels, so repeated words keep their own row


# ---------------- trace page ----------------
def routing_heatmap(trace: RoutingTrace, stack: Stack, layer_pos: int, level: Level = "word", tag: str = "") -> go.Figure:
    """Router probabilities of one sparse layer: rows = tokens or words, columns = experts. `tag`: the model
    family's figure tag (its adapter's copy), appended to the title."""
    s = trace.stack(stack)
    probs = (s.word_probs if level == "word" else s.token_probs)[layer_pos]
    labels = _labels(trace, level)
    fig = go.Figure(go.Heatmap(
        z=probs, x=[trace.column(e) for e in range(probs.shape[1])], y=labels, zmin=0, zmax=1, colorscale=PROB_SCALE,
        colorbar=dict(title="p"), hovertemplate="%{y}<br>expert %{x}<br>p = %{z:.3f}<extra></extra>",
    ))
    if level == "token":
        dropped = np.nonzero(s.dropped[layer_pos])[0]
        for t in dropped:
            fig.add_annotation(x=trace.column(s.top1[layer_pos, t]), y=labels[t], text="✕ dropped", showarrow=False,
                               font=dict(color="#D55E00", size=12))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    return style(fig, f"{stack} {layer_name(s.layers[layer_pos])}", height=max(260, 24 * len(labels) + 140),
                 subtitle=f"router probabilities per {level}" + tag, width=36)  # drawn two to a row


def top1_grid(trace: RoutingTrace, stack: Stack, level: Level = "token", tag: str = "", shared: str = "") -> go.Figure:
    """Overview: the top-1 expert of every token (columns) at every sparse layer (rows); hover gives p. Tokens whose
    chosen experts are not the distribution's top-k (a selection bias, group limits) are marked ≠. `shared`: the
    model's shared experts, drawn as a lane every token runs through."""
    s = trace.stack(stack)
    probs = s.token_probs if level == "token" else s.word_probs
    top1 = probs.argmax(-1)
    pmax = probs.max(-1)
    n_exp = probs.shape[-1]
    colors = expert_colors(n_exp)
    scale = []
    for e, c in enumerate(colors):
        scale += [[e / n_exp, c], [(e + 1) / n_exp, c]]
    labels = _labels(trace, level)
    text = np.vectorize(trace.column, otypes=[object])(top1)
    if level == "token":
        text = np.where(s.dropped, text + "✕", text)
    k = s.top_k
    # The experts the model chose: its own top-k per token; per word, the top-k of the pooled distribution.
    chosen = s.selected if level == "token" else np.argsort(-probs, axis=-1)[..., :k]
    differs = np.zeros(top1.shape, dtype=bool)
    if level == "token":  # the model's choice (never a dropped token's) against the distribution's own top-k
        differs = s.choice_differs
        text = np.where(differs, text + "≠", text)
    chosen_text = np.apply_along_axis(lambda row: " ".join(trace.column(e) for e in row), -1, chosen)
    margin = s.margins if level == "token" else np.full(top1.shape, np.nan)
    custom = np.stack([top1.astype(object), np.round(pmax, 3).astype(object), chosen_text.astype(object),
                       np.round(margin, 3).astype(object)], axis=-1)
    fig = go.Figure(go.Heatmap(
        z=top1 + 0.5, x=labels, y=[layer_name(b) for b in s.layers], zmin=0, zmax=n_exp, colorscale=scale,
        customdata=custom, text=text, texttemplate="%{text}" if len(labels) <= 40 else None, showscale=False,
        hovertemplate="%{x}<br>%{y}<br>top-1 expert e%{customdata[0]}<br>p = %{customdata[1]}"
                      + (f"<br>top-{k} experts: " + "%{customdata[2]}" if k > 1 else "")
                      + ("<br>decision margin %{customdata[3]}" if level == "token" else "") + "<extra></extra>",
    ))
    if shared:  # a lane every token runs through, beside the routed choice
        fig.add_trace(go.Heatmap(z=[[1.0] * len(labels)], x=labels, y=["shared (every token)"], showscale=False,
                                 colorscale=[[0, MUTED], [1, MUTED]], text=[["S"] * len(labels)],
                                 texttemplate="%{text}" if len(labels) <= 40 else None,
                                 hovertemplate=f"%{{x}}<br>shared: {plain(shared)}, run for every token<extra></extra>"))
    fig.update_xaxes(type="category", tickangle=-45)
    fig.update_yaxes(autorange="reversed", type="category")
    marks = [m for m, on in (("✕ = dropped", level == "token" and bool(s.dropped.any())),
                             ("≠ = chosen ≠ the distribution's top-k", bool(differs.any()))) if on]
    return style(fig, f"{stack}: top-1 expert per {level} and layer" + tag, height=120 + 45 * (len(s.layers) + bool(shared)),
                  subtitle=" · ".join(marks))


def layer_stats(trace: RoutingTrace, stack: Stack, tag: str = "") -> go.Figure:
    """Per layer: mean router entropy (bits) and each expert's load (its share of the top-k choices)."""
    s = trace.stack(stack)
    n_exp = s.token_probs.shape[-1]
    colors = expert_colors(n_exp)
    layers = [layer_name(b) for b in s.layers]
    sel = s.selected.reshape(len(layers), -1).astype(np.int64)
    loads = np.stack([np.bincount(sel[li], minlength=n_exp) / max(sel.shape[1], 1) for li in range(len(layers))])
    ent = entropy_bits(s.token_probs).mean(axis=1)
    # all traces and the layout in one constructor: plotly validates once instead of once per add_bar
    bars = [go.Bar(x=layers, y=loads[:, e], name=f"e{e}", marker_color=colors[e],
                   hovertemplate=f"e{e}" + "<br>%{x}<br>load %{y:.2f}<extra></extra>") for e in range(n_exp)]
    line = go.Scatter(x=layers, y=ent / np.log2(n_exp), mode="lines+markers", name="entropy / max", yaxis="y2",
                      line=dict(color="#000000", dash="dot"), customdata=ent,
                      hovertemplate="%{x}<br>mean entropy %{customdata:.2f} bits<extra></extra>")
    fig = go.Figure([*bars, line], layout=dict(
        barmode="stack", yaxis=dict(title="expert load", range=[0, 1]),
        legend=dict(orientation="h", yanchor="top", y=-0.18, x=0),  # the right side holds the entropy axis
        yaxis2=dict(title="router entropy (share of the maximum)", overlaying="y", side="right", range=[0, 1])))
    return style(fig, f"{stack}: expert load and router entropy per layer" + tag, height=380)


# ---------------- benchmark figures ----------------
def kde_figure(wic_kde: pd.DataFrame, model: str = "pooled", tag: str = "") -> go.Figure:
    """Fig. 1: density of WiC routing JSS for same-meaning (T) and different-meaning (F) pairs."""
    frame = wic_kde[wic_kde.model == model]
    stacks = list(dict.fromkeys(frame["stack"]))
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=max(len(stacks), 1), subplot_titles=stacks, shared_yaxes=True)
    for i, stack in enumerate(stacks):
        for label, g in frame[frame["stack"] == stack].groupby("label", sort=True):
            n = f", n = {int(g.n.iloc[0]):,}" if "n" in g and len(g) else ""  # pairs behind the curve (both stacks:
            # the same pairs)
            fig.add_scatter(x=g.x, y=g.density, mode="lines",
                            name=f"{'same' if label == 'T' else 'different'} meaning ({label}{n})",
                            line=dict(color=LABEL_COLORS.get(label)), showlegend=i == 0, row=1, col=i + 1)
        fig.update_xaxes(title="routing JSS", row=1, col=i + 1)
    fig.update_yaxes(title="density", row=1, col=1)
    return style(fig, f"Fig. 1 — WiC routing similarity by label ({model})" + tag, height=380)


def cohens_d_figure(cohens: pd.DataFrame, model: str = "pooled", tag: str = "") -> go.Figure:
    """Fig. 2: layer-wise Cohen's d (same vs different meaning) for each stack, with its 95 % CI as error bars."""
    frame = cohens[cohens.model == model]
    fig = go.Figure()
    for stack, g in frame.groupby("stack", sort=False):
        g = g.sort_values("layer_pos")
        error = dict(type="data", symmetric=False, array=(g.ci_high - g.d).to_numpy(), arrayminus=(g.d - g.ci_low)
                     .to_numpy(), thickness=1.2, width=5) if {"ci_low", "ci_high"} <= set(g.columns) else None
        fig.add_scatter(x=g.layer.map(layer_name), y=g.d, mode="lines+markers",
                        name=f"{stack} (95% CI)" if error else stack,
                        line=dict(color=STACK_COLORS.get(stack)), error_y=error,
                        customdata=g[["layer", "ci_low", "ci_high"]].to_numpy() if error else g[["layer"]].to_numpy(),
                        hovertemplate="%{x}<br>d = %{y:.3f}"
                                      + (" [%{customdata[1]:.3f}, %{customdata[2]:.3f}]" if error else "")
                                      + "<extra></extra>")
    hlines(fig, {"": 0.0}, dict(color="#999999", width=1))
    blocks = sorted(set(frame.layer.astype(int)))
    fig.update_xaxes(title="sparse layer", type="category", categoryorder="array",
                     categoryarray=[layer_name(b) for b in blocks])
    fig.update_yaxes(title="Cohen's d (T − F)")
    return style(fig, f"Fig. 2 — layer-wise Cohen's d ({model})" + tag, height=380)


def polysemy_figure(poly: pd.DataFrame, trend: pd.DataFrame, stack: str = "encoder", scope: str = "pooled") -> go.Figure:
    """Fig. 3: per-lemma routing difference (T − F) vs WordNet senses, with the linear trend. `scope`: "pooled",
    "pooled <family>" (when several families were run) or one model."""
    frame = poly[poly["stack"] == stack]
    if scope.startswith("pooled ") and "family" in frame:
        frame = frame[frame["family"] == scope.split(" ", 1)[1]]
    elif not scope.startswith("pooled"):
        frame = frame[frame["model"] == scope]
    keys = ["lemma", "pos"] if "pos" in frame else ["lemma"]  # results saved before the part of speech was kept
    frame = frame.groupby(keys, as_index=False).agg(senses=("senses", "first"), difference=("difference", "mean"))
    names = frame.lemma + (" (" + frame.pos.str.lower() + ")" if "pos" in frame else "")
    fig = go.Figure(go.Scatter(x=frame.senses, y=frame.difference, mode="markers", text=names, name="lemma",
                               marker=dict(color="#0072B2", opacity=0.6),
                               hovertemplate="%{text}<br>%{x} senses<br>difference %{y:.4f}<extra></extra>"))
    t = trend[(trend.model == scope) & (trend["stack"] == stack)]
    title = f"Fig. 3 — routing difference vs WordNet senses ({stack}{'' if scope == 'pooled' else ', ' + scope})"
    if len(t) and np.isfinite(t.slope.iloc[0]) and len(frame):
        row = t.iloc[0]
        xs = np.array([frame.senses.min(), frame.senses.max()])
        fig.add_scatter(x=xs, y=row.intercept + row.slope * xs, mode="lines", name="linear trend",
                        line=dict(color="#D55E00"))
        title += f": r = {row.r:.3f}, p = {row.p:.3g}, n = {int(row.n)}"
    fig.update_xaxes(title="WordNet senses (lemma-exact, the WiC part of speech)")
    fig.update_yaxes(title="mean JSS(T) − mean JSS(F)")
    return style(fig, title, height=420)


# ---------------- across families ----------------
def comparison_figure(comparison: pd.DataFrame, metrics=None) -> go.Figure:
    """The same metrics for every model and stack side by side (encoder–decoder, decoder-only, MoE-fied)."""
    from core.results.across_models import COMPARISON_METRICS

    metrics = list(metrics or COMPARISON_METRICS)
    fig = go.Figure()
    colors = list(px.colors.qualitative.Safe)  # models, not experts: kept apart from the expert palette
    for i, (_, row) in enumerate(comparison.iterrows()):
        arch = f" ({row['architecture']})" if row.get("architecture") else ""
        fig.add_bar(x=metrics, y=[row[m] for m in metrics], name=f"{row['model']} · {row['stack']}{arch}",
                    marker_color=colors[i % len(colors)],
                    hovertemplate=f"{row['model']} · {row['stack']}" + "<br>%{x}: %{y:.3f}<extra></extra>")
    hlines(fig, {"": 0.0}, dict(color="#999999", width=1))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="Spearman ρ  /  Cohen's d")
    return style(fig, "Across models and families: the same metrics side by side", height=440)
