"""Figures of the Experts page: what each expert receives over a corpus (frames from core.corpus.stats)."""
from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.viz.plots import PROB_SCALE
from core.viz.style import LIFT_SCALE, expert_color, layer_name, style


def _lift_heatmap(z: np.ndarray, x: list[str], y: list[str], text: np.ndarray, title: str, y_title: str,
                  height: int) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=z, x=x, y=y, colorscale=PROB_SCALE, zmin=0, text=text, texttemplate="%{text}",
                               colorbar=dict(title="× uniform"),
                               hovertemplate="%{y} · %{x}: %{text} (%{z:.2f}× uniform)<extra></extra>"))
    fig.update_xaxes(title="expert")
    fig.update_yaxes(title=y_title, autorange="reversed")
    return style(fig, title, height=height)


def load_heatmap(load: pd.DataFrame, stack: str, experts: int) -> go.Figure:
    """Sparse layer × expert: the share of tokens each expert takes, coloured by its ratio to the uniform k/E."""
    part = load[load["stack"] == stack]
    grid = part.pivot_table(index="layer", columns="expert", values="share", fill_value=0.0).reindex(
        columns=range(experts), fill_value=0.0)
    uniform = float(part.uniform.iloc[0]) if len(part) else 1.0
    return _lift_heatmap(grid.to_numpy() / uniform, [f"e{e}" for e in grid.columns],
                         [layer_name(b) for b in grid.index], np.vectorize(lambda v: f"{v:.0%}")(grid.to_numpy()),
                         f"{stack}: share of the tokens each expert takes (uniform {uniform:.0%})", "sparse layer",
                         120 + 48 * len(grid))


def domain_heatmap(domain: pd.DataFrame, load: pd.DataFrame, stack: str, layer: int, experts: int) -> go.Figure:
    """Domain × expert in lift: the share of a domain's tokens an expert takes ÷ the share of all tokens it takes at
    this layer. Dividing by the expert's own load (not by uniform) keeps a busy expert from colouring its whole
    column: 1 = the domain uses the expert as much as the corpus does. Diverging scale centred on 1; raw shares on
    hover."""
    part = domain[(domain["stack"] == stack) & (domain.layer == layer)]
    grid = part.pivot_table(index="domain", columns="expert", values="share", fill_value=0.0).reindex(
        columns=range(experts), fill_value=0.0)
    overall = load[(load["stack"] == stack) & (load.layer == layer)].set_index("expert").share.reindex(
        range(experts)).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        lift = grid.to_numpy() / overall[None, :]
    raw = np.array([[f"{s:.1%} of its tokens (overall {o:.1%})" for s, o in zip(row, overall)]
                    for row in grid.to_numpy()])
    span = float(np.nanmax(np.abs(np.log2(lift[np.isfinite(lift) & (lift > 0)])))) if np.isfinite(lift).any() else 1.0
    fig = go.Figure(go.Heatmap(
        z=lift, x=[f"e{e}" for e in grid.columns], y=list(grid.index), customdata=raw, colorscale=LIFT_SCALE, zmid=1.0,
        zmin=2 ** -max(span, 0.1), zmax=2 ** max(span, 0.1), text=np.vectorize(lambda v: f"{v:.2f}×")(lift),
        texttemplate="%{text}", colorbar=dict(title="lift"),
        hovertemplate="%{y} · %{x}: lift %{z:.2f}<br>%{customdata}<extra></extra>"))
    fig.update_xaxes(title="expert")
    fig.update_yaxes(title="domain", autorange="reversed")
    return style(fig, f"{stack} {layer_name(layer)}: lift of each domain per expert (its share ÷ the expert's overall "
                       "share; 1 = as in the whole corpus)", height=140 + 30 * len(grid))


def class_profile(classes: pd.DataFrame, stack: str, layer: int, expert: int) -> go.Figure:
    part = classes[(classes["stack"] == stack) & (classes.layer == layer) & (classes.expert == expert)]
    part = part.sort_values("class")
    err = [part.ci_high - part.share, part.share - part.ci_low]
    fig = go.Figure()
    fig.add_bar(x=part["class"], y=part.share, name=f"e{expert}", marker_color=expert_color(expert),
                error_y=dict(type="data", array=err[0], arrayminus=err[1]),
                customdata=np.stack([part.n, part.expert_tokens], -1),
                hovertemplate="%{x}: %{y:.1%} (%{customdata[0]} of %{customdata[1]})<extra></extra>")
    fig.add_bar(x=part["class"], y=part.corpus_share, name="whole corpus", marker_color="#999999")
    fig.update_yaxes(title="share of the expert's tokens", tickformat=".0%")
    fig.update_layout(barmode="group")
    return style(fig, f"Token classes: expert e{expert} against the corpus ({stack} {layer_name(layer)})", height=340)


def token_routing(routes: pd.DataFrame, token: str, stack: str, layer: int, experts: int) -> go.Figure:
    """Where every occurrence of `token` went at one layer, stacked by domain."""
    part = routes[(routes["stack"] == stack) & (routes.layer == layer) & (routes.token == token)]
    fig = go.Figure()
    for domain, rows in part.groupby("domain"):
        counts = rows.groupby("expert").n.sum().reindex(range(experts), fill_value=0)
        fig.add_bar(x=[f"e{e}" for e in counts.index], y=counts.to_numpy(), name=str(domain) or "(none)",
                    hovertemplate=f"{domain}: " + "%{x} %{y} times<extra></extra>")
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title="occurrences")
    total = int(part.n.sum())
    return style(fig, f"“{html.escape(token, quote=False)}” at {stack} {layer_name(layer)}: {total:,} occurrences, by expert and domain", height=360)


def coactivation_matrix(co: pd.DataFrame, stack: str, layer: int, experts: int) -> go.Figure:
    part = co[(co["stack"] == stack) & (co.layer == layer)]
    m = np.zeros((experts, experts))
    for a, b, s in zip(part.expert_a, part.expert_b, part.share):
        m[a, b] = m[b, a] = s
    chance = float(part.independent.iloc[0]) if len(part) else 0.0
    fig = go.Figure(go.Heatmap(z=m, x=[f"e{e}" for e in range(experts)], y=[f"e{e}" for e in range(experts)],
                               colorscale=PROB_SCALE, colorbar=dict(title="share"),
                               hovertemplate="%{y} & %{x}: %{z:.2%} of tokens<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return style(fig, f"Co-activation at {stack} {layer_name(layer)} (chance for a pair: {chance:.2%})", height=520)


def lift_vs_delta(cells: pd.DataFrame, stack: str, layer: int, rho: float) -> go.Figure:
    """Observational vs causal: each (expert, domain) cell's domain lift against the loss its expert's removal costs
    on that domain (with the Δloss CI), one colour per expert."""
    fig = go.Figure()
    for expert, part in cells.groupby("expert"):
        fig.add_scatter(x=part.lift, y=part.delta, mode="markers", name=f"e{int(expert)}",
                        marker=dict(color=expert_color(int(expert)), size=9), text=part.domain.map(html.escape),
                        error_y=dict(type="data", symmetric=False, array=(part.ci_high - part.delta).to_numpy(),
                                     arrayminus=(part.delta - part.ci_low).to_numpy(), thickness=1),
                        hovertemplate="%{text} · e" + str(int(expert)) + "<br>lift %{x:.2f}<br>Δloss %{y:+.4f}"
                                      "<extra></extra>")
    lifts = cells.lift[np.isfinite(cells.lift)] if len(cells) else pd.Series(dtype=float)
    spread = len(lifts) and (lifts > 0).all() and lifts.max() > 10 * max(float(lifts.median()), 1e-9)
    fig.update_xaxes(title="domain lift (corpus statistics)" + (", log scale" if spread else ""),
                     type="log" if spread else "linear")  # one dominant cell would squeeze the rest against 1
    if spread:  # labelled steps only: a log axis otherwise labels every minor tick in small digits
        steps = [m * 10.0**e for e in range(-3, 4) for m in (1, 2, 5)]
        shown = [v for v in steps if lifts.min() / 1.5 <= v <= lifts.max() * 1.5]
        fig.update_xaxes(tickmode="array", tickvals=shown, ticktext=[f"{v:g}" for v in shown])
    fig.update_yaxes(title="Δloss when the expert is removed (per token)")
    return style(fig, f"{stack} {layer_name(layer)}: observational vs causal (Spearman ρ {rho:+.2f})", height=420)
