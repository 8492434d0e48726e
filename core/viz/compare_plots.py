"""The Compare page's figures: one word's routing in two sentences, per layer, against yardsticks and the model's
own WiC pairs (the same colours and styling as core.viz.plots)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.measures.metrics import jss
from core.viz.plots import STACK_COLORS, hlines, plain
from core.viz.style import layer_name, style


def _top(p: np.ndarray, k: int) -> str:
    return "+".join(f"e{e}" for e in sorted(np.argsort(-p)[:k].tolist()))


def compare_distributions(p1: np.ndarray, p2: np.ndarray, layers: list[int], stack: str,
                          names: tuple[str, str] = ("sentence 1", "sentence 2"), top_k: int = 1) -> go.Figure:
    """Per layer, the word's routing in the two sentences side by side; the title says the layer's JSS and whether
    the top-k experts (the model's k: 1 for Switch) changed between the sentences. The y axis is scaled to the
    largest probability shown."""
    from plotly.subplots import make_subplots

    n_layers, n_exp = p1.shape
    sims = jss(p1, p2)
    cols = min(3, n_layers)
    rows = int(np.ceil(n_layers / cols))
    k = max(1, min(top_k, n_exp))
    tops = [(_top(a, k), _top(c, k)) for a, c in zip(p1, p2)]
    def change(a: str, c: str) -> str:  # short enough for a third of the page: k > 1 counts, hover names them
        if k == 1:
            return f"{a} → {c} (flipped)" if a != c else f"same top-1 {a}"
        moved = k - len(set(a.split("+")) & set(c.split("+")))
        return f"{moved} of the top-{k} changed" if moved else f"same top-{k}"

    titles = [f"{layer_name(b)} · JSS {s:.3f}<br>{change(a, c)}" for b, s, (a, c) in zip(layers, sims, tops)]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, shared_yaxes=True)
    experts = [f"e{e}" for e in range(n_exp)]
    for li in range(n_layers):
        r, c = divmod(li, cols)
        for p, name, color in ((p1, names[0], "#0072B2"), (p2, names[1], "#E69F00")):
            fig.add_bar(x=experts, y=p[li], name=name, marker_color=color, showlegend=li == 0, row=r + 1, col=c + 1,
                        hovertemplate=f"{name}<br>" + "%{x}: p = %{y:.3f}<extra></extra>")
    fig.update_yaxes(range=[0, min(1.0, 1.1 * float(max(p1.max(), p2.max())))], title_text="probability", col=1)
    return style(fig, f"{stack}: routing of the word in each sentence", height=260 * rows + 80)


def jss_by_layer(curves: dict[str, tuple[list[int], np.ndarray]], by_position: bool = False,
                 references: dict[str, float] | None = None) -> go.Figure:
    """JSS of the two occurrences per sparse layer, one line per stack. `by_position`: two models side by side
    (curves named "model · stack"): x = the k-th sparse layer, named by the first model's blocks (each model's block
    in the hover), colour = stack as for one model, the second model dashed. `references`: dashed horizontal
    yardsticks (label → JSS), e.g. the same sentence twice (1.0) and two unrelated words."""
    fig = go.Figure()
    hlines(fig, references or {}, dict(dash="dot", color="#777777"))
    extra = ["#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#999999"]  # Okabe–Ito, minus the stacks' and yellow
    models = list(dict.fromkeys(name.rsplit(" · ", 1)[0] for name in curves)) if by_position else []
    for i, (name, (layers, values)) in enumerate(curves.items()):
        x = list(range(1, len(layers) + 1)) if by_position else [layer_name(b) for b in layers]
        stack = name.rsplit(" · ", 1)[-1] if by_position else name
        second = by_position and models.index(name.rsplit(" · ", 1)[0]) > 0
        fig.add_scatter(x=x, y=values, mode="lines+markers", name=name, customdata=list(layers),
                        line=dict(color=STACK_COLORS.get(stack, extra[i % len(extra)]), dash="dash" if second else None),
                        hovertemplate="block %{customdata}<br>JSS %{y:.3f}<extra>" + name + "</extra>")
    if by_position:
        first = next(iter(curves.values()))[0]
        longest = max(len(layers) for layers, _ in curves.values())
        fig.update_xaxes(title=f"sparse layers in order ({models[0]}'s blocks; hover for each model's)",
                         tickvals=list(range(1, longest + 1)),
                         ticktext=[layer_name(first[k]) if k < len(first) else f"layer {k + 1}" for k in range(longest)])
    lowest = min([float(np.min(v)) for _, v in curves.values()] + list((references or {}).values()), default=0.0)
    fig.update_yaxes(title="JSS (1 = identical routing)", range=[max(0.0, lowest - 0.05), 1.005])
    return style(fig, "Routing similarity of the word across the two sentences, per layer", height=360)


def context_strip_figure(strip: pd.DataFrame, floors: dict[str, float] | None = None) -> go.Figure:
    """Every word both sentences share, its JSS across them: a dot per word and stack (sentence order) against the
    line of identical routing at 1.0 — dots, not bars, because a zoomed axis would make bar lengths exaggerate the
    differences — and, per stack, the verdict's reference (`floors`: the JSS 9 in 10 short same-meaning pairs stay
    above). A word whose top-1 expert flipped in some layer says so in its label."""
    fig = go.Figure()
    for stack, part in strip.groupby("stack", sort=False):
        labels = [f"{plain(w)} ⇄{f}" if f else plain(w) for w, f in zip(part.word, part.flips)]
        fig.add_scatter(x=labels, y=part.jss, name=stack, mode="markers", marker=dict(
            color=STACK_COLORS.get(stack), size=11), customdata=np.stack([part.flips, part.layers], axis=-1),
            hovertemplate="%{x}<br>JSS %{y:.3f}<br>top-1 flipped in %{customdata[0]} of %{customdata[1]} "
                          "layers<extra>" + str(stack) + "</extra>")
    floors = {s: v for s, v in (floors or {}).items() if s in set(strip["stack"])}
    lowest = min([float(strip.jss.min())] + list(floors.values())) if len(strip) else 0.0
    hlines(fig, {"identical routing: 1.0": 1.0}, dict(color="#666666", width=1, dash="dot"))
    for stack, value in floors.items():
        name = f"{stack}: " if len(floors) > 1 else ""
        hlines(fig, {f"{name}9 in 10 short same-meaning pairs stay above, {value:.3f}": value},
               dict(color=STACK_COLORS.get(stack, "#666666"), width=1.5, dash="dash"))
    fig.update_yaxes(title="JSS across the sentences", range=[max(0.0, lowest - 0.05), 1.02])
    return style(fig, "Context effect on every shared word (⇄n: top-1 expert flipped in n layers)", height=340)


def pair_on_reference(densities: pd.DataFrame, values: dict[str, float], model: str) -> go.Figure:
    """The pair's JSS (vertical line) on the model's own WiC densities (`reference_densities`: stack, label, x,
    density, n), same-meaning vs different-meaning pairs, one panel per stack; each x axis spans the densities and
    the pair."""
    from plotly.subplots import make_subplots

    stacks = [s for s in values if s in set(densities["stack"])]
    fig = make_subplots(rows=1, cols=max(1, len(stacks)), subplot_titles=stacks, shared_yaxes=True)
    shapes, notes, axes = [], list(fig.layout.annotations), {}
    for i, stack in enumerate(stacks, start=1):
        ref = densities[densities["stack"] == stack]
        for label, name, color in (("T", "same meaning", "#0072B2"), ("F", "different meaning", "#E69F00")):
            curve = ref[ref["label"] == label]
            if len(curve):
                fig.add_scatter(x=curve["x"].to_numpy(), y=curve["density"].to_numpy(), mode="lines",
                                name=f"{name} (n = {int(curve['n'].iloc[0]):,})", line=dict(color=color),
                                showlegend=i == 1, row=1, col=i)
        x, suffix = values[stack], "" if i == 1 else str(i)
        shapes.append(dict(type="line", xref=f"x{suffix}", yref=f"y{suffix} domain", x0=x, x1=x, y0=0, y1=1,
                           line=dict(color="#D55E00", width=3)))
        low, high = min(float(ref["x"].min()), x - 0.01), max(float(ref["x"].max()), min(1.0, x + 0.01))
        right_half = x > (low + high) / 2  # the label reads into the panel, never out of the figure
        notes.append(dict(xref=f"x{suffix}", yref=f"y{suffix} domain", x=x, y=1, text=f"this pair {x:.3f}",
                          showarrow=False, xanchor="right" if right_half else "left", yanchor="top",
                          xshift=-4 if right_half else 4, font=dict(size=13)))
        axes[f"xaxis{suffix}"] = dict(range=[low, high], title=dict(text="JSS (mean over layers)"))
    fig.update_layout(shapes=shapes, annotations=notes, yaxis=dict(title=dict(text="density")), **axes)
    return style(fig, f"Where this pair sits among {model}'s WiC pairs", height=340)


