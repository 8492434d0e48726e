"""Figures of the field's routing studies (frames from core.corpus.field_studies), each in the form of its paper's
figure: OLMoE's saturation curve and co-activation heatmap, Mixtral's Table 5, OpenMoE's drop-by-position curve."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.viz.plots import hlines, plain
from core.viz.style import SHARE_SCALE, layer_name, style

STUDY_SCALE = "Reds"
FINAL = "final"


def _checkpoint_axis(frame: pd.DataFrame) -> list[str]:
    """x labels in training order: the fraction as a percentage where known, else the checkpoint's label."""
    first = frame.drop_duplicates("order").sort_values("order")
    return [f"{f:.0%}" if pd.notna(f) else plain(lbl) for f, lbl in zip(first.fraction, first.checkpoint)]


def _series_curve(frame: pd.DataFrame, stack: str, value: str, title: str, y_title: str, share: bool = True
                  ) -> go.Figure:
    """One line per sparse layer over the checkpoints, ending at the final model (= 1 by definition). `share`:
    the values are shares (agreement), shown in percent; a similarity (JSS) is shown as the number it is."""
    number = ".1%" if share else ".3f"
    part = frame[frame["stack"] == stack]
    fig = go.Figure()
    if part.empty:
        return style(fig, title + " (no checkpoint series in this result)")
    first = part.drop_duplicates("order").sort_values("order")
    proportional = first.fraction.notna().all()  # an axis proportional to training progress where it is known
    x = [*first.fraction.astype(float), 1.0] if proportional else [*_checkpoint_axis(part), "100% (final)"]
    for layer, rows in part.groupby("layer"):
        y = [*rows.sort_values("order")[value].tolist(), 1.0]
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=layer_name(layer),
                                 hovertemplate=f"{layer_name(layer)}<br>%{{x}}: %{{y:{number}}}<extra></extra>"))
    if proportional:
        fig.update_xaxes(title="checkpoint (share of training; the last point is the final model)",
                         tickformat=".0%", range=[0, 1.03])
    else:
        fig.update_xaxes(title="checkpoint (training order)", type="category")
    fig.update_yaxes(title=y_title, tickformat=".0%" if share else ".2f", range=[0, 1.05])
    return style(fig, title)


def saturation_curve(saturation: pd.DataFrame, stack: str, top1: bool = False) -> go.Figure:
    """OLMoE Figure (router saturation): per layer, the share of a token's top-k experts that the final checkpoint
    also chooses (or the top-1 agreement)."""
    value = "top1_agreement" if top1 else "saturation"
    what = "top-1 agreement" if top1 else "router saturation |top-k ∩ top-k(final)| / k"
    return _series_curve(saturation, stack, value, f"{stack}: {what} over training", "matching the final model")


def early_learning_curve(early: pd.DataFrame, stack: str) -> go.Figure:
    """OpenMoE's early routing learning: mean JSS between a token's routing distribution at each checkpoint and at
    the final one."""
    return _series_curve(early, stack, "jss", f"{stack}: early routing learning (mean JSS of each frequent token's "
                         "routing to the final model's)", "JSS with the final model", share=False)


def token_learning_curve(early_tokens: pd.DataFrame, stack: str, token: str) -> go.Figure:
    """Early routing learning of one frequent token: its JSS to the final model's routing, per layer."""
    part = early_tokens[early_tokens.token == token]
    return _series_curve(part, stack, "jss", f"{stack}: how “{plain(token)}” is routed, against the final model",
                         "JSS with the final model", share=False)


def top_experts(coactivation: pd.DataFrame, n: int = 16) -> list[int]:
    """The experts of the strongest pairs, in order, until `n` are found (OLMoE's choice of heatmap rows)."""
    order: list[int] = []
    for a, b in coactivation.sort_values(["p_b_given_a", "expert_a", "expert_b"], ascending=[False, True, True])[
            ["expert_a", "expert_b"]].itertuples(index=False):
        for e in (int(a), int(b)):
            if e not in order:
                order.append(e)
        if len(order) >= n:
            break
    return order[:n]


def coactivation_heatmap(coactivation: pd.DataFrame, stack: str, layer: int, definition: str, n: int = 16
                         ) -> go.Figure:
    """P(b | a) in % among the top experts of one layer, by the named definition."""
    part = coactivation[(coactivation["stack"] == stack) & (coactivation.layer == layer)
                        & (coactivation.definition == definition)]
    experts = top_experts(part, n)
    grid = part.pivot_table(index="expert_a", columns="expert_b", values="p_b_given_a", fill_value=0.0).reindex(
        index=experts, columns=experts, fill_value=0.0) * 100
    labels = [f"e{e}" for e in experts]
    fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=labels, y=labels, colorscale=STUDY_SCALE, zmin=0,
                               colorbar=dict(title="P(b|a) %"),
                               hovertemplate="a = %{y}, b = %{x}: P(b|a) = %{z:.1f}%<extra></extra>"))
    fig.update_xaxes(title="expert b", type="category")
    fig.update_yaxes(title="expert a", type="category", autorange="reversed")
    return style(fig, f"{stack} {layer_name(layer)}: co-activation P(b | a), {definition}", height=520)


def consecutive_table(consecutive: pd.DataFrame, stack: str) -> pd.DataFrame:
    """Mixtral Table 5: per layer (rows) and domain (columns), first-choice and any-choice repetition in %, with
    the chance rows."""
    part = consecutive[consecutive["stack"] == stack]
    out = {}
    for column, chance, label in (("first_choice", "chance_first", "first choice"),
                                  ("any_choice", "chance_any", "chosen sets meet (first or second choice)")):
        wide = part.pivot_table(index="layer", columns="domain", values=column) * 100
        wide.index = [layer_name(b) for b in wide.index]
        wide.loc["chance"] = float(part[chance].iloc[0]) * 100 if len(part) else np.nan
        out[label] = wide
    return pd.concat(out, axis=1).round(1)


def drop_curve(drops: pd.DataFrame, stack: str, bin_width: int = 8) -> go.Figure:
    """OpenMoE's drop towards the end: the share of dropped assignments by position (bins of `bin_width` tokens),
    one line per sparse layer."""
    part = drops[drops["stack"] == stack].assign(bin=lambda f: (f.position // bin_width) * bin_width)
    fig = go.Figure()
    for layer, rows in part.groupby("layer"):
        binned = rows.groupby("bin")[["dropped", "assignments"]].sum()
        fig.add_trace(go.Scatter(x=binned.index, y=binned.dropped / binned.assignments, mode="lines+markers",
                                 name=layer_name(layer), customdata=binned.assignments,
                                 hovertemplate=f"{layer_name(layer)}<br>positions %{{x}}–%{{x}}+{bin_width - 1}: "
                                               "%{y:.1%} dropped (n = %{customdata})<extra></extra>"))
    fig.update_xaxes(title=f"position in the sequence (bins of {bin_width} tokens)")
    fig.update_yaxes(title="dropped assignments", tickformat=".0%", rangemode="tozero")
    capacity = plain(part.capacity.iloc[0]) if len(part) else ""
    return style(fig, f"{stack}: drops by position — {capacity}")


def vocabulary_bars(vocabulary: pd.DataFrame, stack: str, counting: str, normalised: bool = False) -> go.Figure:
    """OLMoE's vocabulary specialisation per layer, one bar per kind of token (input / next / predicted)."""
    part = vocabulary[(vocabulary["stack"] == stack) & (vocabulary.counting == counting)]
    value = "normalised" if normalised else "specialisation"
    fig = go.Figure([go.Bar(x=[layer_name(b) for b in rows.layer], y=rows[value], name=f"{kind} token",
                            customdata=rows.token_ids, hovertemplate=f"{kind} token, %{{x}}: %{{y:.1%}} "
                            "(%{customdata} token ids)<extra></extra>")
                     for kind, rows in part.groupby("token_kind", sort=False)])
    if len(part) and not normalised:
        hlines(fig, {f"uniform {part.uniform.iloc[0]:.1%}": float(part.uniform.iloc[0])},
               dict(color="grey", dash="dot"))
    fig.update_yaxes(title="normalised (p − u) / (1 − u)" if normalised else "mean max-expert share",
                     tickformat=".0%")
    return style(fig, f"{stack}: vocabulary specialisation ({counting}; token ids seen ≥ 10 times)")


def domain_specialisation_heatmap(domain: pd.DataFrame, stack: str, layer: int, of_tokens: bool) -> go.Figure:
    """Domain × expert share, in the chosen normalisation, coloured against its uniform value."""
    part = domain[(domain["stack"] == stack) & (domain.layer == layer)]
    value, uniform = ("share_of_tokens", "uniform_tokens") if of_tokens else ("share_of_assignments",
                                                                              "uniform_assignments")
    experts = int(domain.expert.max()) + 1 if len(domain) else 0  # every expert, even one no domain sends tokens
    grid = part.pivot_table(index="domain", columns="expert", values=value, fill_value=0.0).reindex(
        columns=range(experts), fill_value=0.0)
    u = float(part[uniform].iloc[0]) if len(part) else 1.0
    text = np.vectorize(lambda v: f"{v:.0%}")(grid.to_numpy()) if grid.size else None
    fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=[f"e{e}" for e in grid.columns], y=[plain(d) for d in grid.index],
                               colorscale=SHARE_SCALE, zmin=0, text=text, texttemplate="%{text}",
                               colorbar=dict(title="share"),
                               hovertemplate="%{y} · %{x}: %{z:.1%}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    what = "of the domain's tokens" if of_tokens else "of the domain's assignments"
    return style(fig, f"{stack} {layer_name(layer)}: domain specialisation, share {what} (uniform {u:.1%})",
                  height=160 + 32 * len(grid))


def context_bars(context: pd.DataFrame, stack: str) -> go.Figure:
    """OpenMoE's context-independent specialisation: spread of routing shares across token ids vs position ids."""
    part = context[context["stack"] == stack]
    fig = go.Figure([go.Bar(x=[layer_name(b) for b in rows.layer], y=rows.std_share, name=f"across {g}s",
                            customdata=rows.ids, hovertemplate=f"across {g}s, %{{x}}: std %{{y:.3f}} "
                            "(%{customdata} ids)<extra></extra>") for g, rows in part.groupby("grouping")])
    fig.update_yaxes(title="std of an expert's routing share")
    return style(fig, f"{stack}: routing follows the token id, not the position, when the token bars are higher")
