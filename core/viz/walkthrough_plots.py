"""Figures of the Learn page's walkthrough: one token's logits, softmax and choice, its expert's capacity queue,
the path a dropped token takes, and the sentence's load balance."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.studies.walkthrough import LoadBalance, RouterStep
from core.viz.style import MUTED, expert_color, expert_colors, layer_name, style

OTHER, DROPPED, KEPT = MUTED, "#D55E00", "#009E73"  # an expert keeps its own colour when it is chosen


def _experts(n: int) -> list[str]:
    return [f"e{e}" for e in range(n)]


def logits_figure(step: RouterStep, sigmoid: bool = False) -> go.Figure:
    fig = go.Figure(go.Bar(x=_experts(len(step.logits)), y=step.logits, marker_color=expert_colors(len(step.logits)),
                           hovertemplate="%{x}: score %{y:.2f}<extra></extra>"))
    fig.update_yaxes(title="log score (up to a constant)" if sigmoid else "router score (logit)")
    return style(fig, f"1 · The router scores “{step.token}” for every expert ({layer_name(step.layer)})"
                  + (", each on its own (sigmoid)" if sigmoid else ""), height=300)


def softmax_figure(step: RouterStep, sigmoid: bool = False) -> go.Figure:
    fig = go.Figure(go.Bar(x=_experts(len(step.probs)), y=step.probs, marker_color=expert_colors(len(step.probs)),
                           text=[f"{p:.2f}" for p in step.probs], textposition="outside",
                           hovertemplate="%{x}: p = %{y:.3f}<extra></extra>"))
    fig.update_yaxes(title="probability", range=[0, min(1.0, 1.15 * float(step.probs.max()))])
    return style(fig, "2 · The sigmoid scores, normalised to sum to 1" if sigmoid else
                  "2 · Softmax turns the scores into probabilities that sum to 1", height=300)


def choice_figure(step: RouterStep) -> go.Figure:
    chosen = set(step.chosen.tolist())
    colors = [expert_color(e) if e in chosen else OTHER for e in range(len(step.probs))]
    fig = go.Figure(go.Bar(x=_experts(len(step.probs)), y=step.probs, marker_color=colors,
                           hovertemplate="%{x}: p = %{y:.3f}<extra></extra>"))
    k = len(chosen)
    names = ", ".join(f"e{e}" for e in sorted(chosen))
    fig.update_yaxes(title="probability", range=[0, min(1.0, 1.15 * float(step.probs.max()))])
    return style(fig, f"3 · The top-{k} choice: {names}" + (" (the largest probability)" if k == 1 else ""),
                  height=300)


def queue_figure(step: RouterStep) -> go.Figure:
    q = step.queue
    colors = [KEPT if kept else DROPPED for kept in q.kept]
    labels = [f"#{p} {t}" + (" ◀" if p == step.position else "") for p, t in zip(q.position, q.token)]
    fig = go.Figure(go.Bar(x=labels, y=q.priority, marker_color=colors, text=np.where(q.kept, "kept", "dropped"),
                           textposition="outside", hovertemplate="%{x}: priority %{y}<extra></extra>"))
    fig.add_hline(y=step.capacity + 0.5, line_dash="dash", line_color="#555555",
                  annotation_text=f"capacity {step.capacity}", annotation_position="top left")
    fig.update_yaxes(title="priority (cumsum of choices)", range=[0, max(len(q), step.capacity) + 1.5])
    return style(fig, f"4 · Expert e{step.expert}'s queue, in token order (◀ = this token)", height=320)


def residual_figure(step: RouterStep) -> go.Figure:
    """The two paths out of the block: through the expert (scaled by its probability) plus the residual, or, for a
    dropped token, the residual alone."""
    fig = go.Figure()
    boxes = {"in": (0.05, 0.5, f"“{step.token}”<br>hidden state h"), "expert": (0.5, 0.8, f"expert e{step.expert}"),
             "add": (0.8, 0.5, "h + p·expert(h)" if not step.dropped else "h (expert skipped)"),
             "out": (1.0, 0.5, "next layer")}
    expert_path = "dot" if step.dropped else "solid"
    for (x0, y0), (x1, y1), dash, color in (((0.12, 0.55), (0.44, 0.78), expert_path, OTHER if step.dropped else KEPT),
                                            ((0.56, 0.78), (0.76, 0.55), expert_path, OTHER if step.dropped else KEPT),
                                            ((0.12, 0.5), (0.72, 0.5), "solid", DROPPED if step.dropped else "#555555"),
                                            ((0.88, 0.5), (0.96, 0.5), "solid", "#555555")):
        fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                           arrowhead=3, arrowwidth=3, arrowcolor=color, text="")
        if dash == "dot":
            fig.add_shape(type="line", x0=x0, y0=y0, x1=x1, y1=y1, line=dict(color=OTHER, dash="dot", width=2))
    for x, y, text in boxes.values():
        fig.add_annotation(x=x, y=y, text=text, showarrow=False, bgcolor="rgba(127,127,127,0.15)", borderpad=6,
                           font=dict(size=15))
    fig.add_annotation(x=0.42, y=0.42, text="residual connection", showarrow=False, font=dict(size=13))
    if step.dropped:
        fig.add_annotation(x=0.3, y=0.75, text="✕ full", showarrow=False, font=dict(size=18, color=DROPPED))
    fig.update_xaxes(visible=False, range=[-0.05, 1.1])
    fig.update_yaxes(visible=False, range=[0.3, 0.95])
    title = ("5 · Dropped: the token skips the expert and only the residual carries it on" if step.dropped else
             f"5 · Processed: the expert's output, scaled by p = {step.probs[step.expert]:.2f}, is added to h")
    return style(fig, title, height=260)


def load_figure(balance: LoadBalance, layer: int) -> go.Figure:
    n = len(balance.load)
    fig = go.Figure(go.Bar(x=_experts(n), y=balance.load, marker_color=expert_colors(n), name="share of tokens",
                           hovertemplate="%{x}: %{y:.0%} of the tokens<extra></extra>"))
    fig.add_scatter(x=_experts(n), y=balance.mean_prob, mode="markers", name="mean probability",
                    marker=dict(symbol="diamond", size=11, color="#333333"))
    fig.add_hline(y=1 / n, line_dash="dash", line_color="#555555", annotation_text=f"uniform 1/{n}",
                  annotation_position="top left")
    fig.update_yaxes(title="share", range=[0, max(1.0 / n, float(balance.load.max()), float(balance.mean_prob.max()))
                                           * 1.15])
    return style(fig, f"Load balance at {layer_name(layer)}: auxiliary loss E·Σ fᵢ·Pᵢ = {balance.aux_loss:.3f} "
                  "(1.0 = perfectly even)", height=320)
