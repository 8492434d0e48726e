"""Figures and tables of routing across layers, balance and decision margins (frames from core.corpus.pathways for a
corpus run; the same shapes from one trace on the Trace and Compare pages)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core.measures.routing_stats import NEAR_TIE, near_tie_threshold
from core.viz.style import NEUTRAL, expert_color, layer_name, style

BALANCE_NOTE = ("Balance of this text's assignments (CV: population SD / mean of the load, 0 = balanced; exp(H)/E: the "
                "effective share of experts in use, 1 = balanced) and how close each routing decision was (margin: the "
                "k-th highest probability minus the next; a near-tie may flip with any small change of context).")


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)}, {int(h[2:4], 16)}, {int(h[4:6], 16)}, {alpha})"


def flow_sankey(transitions: pd.DataFrame, stack: str, title: str = "") -> go.Figure:
    """The tokens' first choice flowing from each sparse layer to the next: one column of experts per layer, links
    as wide as the tokens that take them, coloured by the expert they leave."""
    part = transitions[transitions["stack"] == stack]
    layers = sorted({*part.layer.astype(int), *part.next_layer.astype(int)})
    experts = sorted({*part.expert.astype(int), *part.next_expert.astype(int)})
    node = {(b, e): i for i, (b, e) in enumerate((b, e) for b in layers for e in experts)}
    names = [f"e{e}" for _b in layers for e in experts]
    colors = [expert_color(e) for _b in layers for e in experts]
    src = [node[(int(r.layer), int(r.expert))] for r in part.itertuples()]
    dst = [node[(int(r.next_layer), int(r.next_expert))] for r in part.itertuples()]
    # a node with under 2 % of a layer's tokens is drawn unlabelled (its label would sit on its neighbours'); hover
    # names it
    tokens = part.tokens.tolist()
    into, out = (pd.Series(tokens, index=ends).groupby(level=0).sum() for ends in (dst, src))
    through = pd.concat([into, out], axis=1).max(axis=1)  # a middle layer's node has both; the others one
    per_layer = part.tokens.sum() / max(len(layers) - 1, 1)
    small = {i for i, v in through.items() if v < 0.02 * per_layer}
    fig = go.Figure(go.Sankey(  # plotly lays the nodes out inside the plot area, left to right by layer
        arrangement="snap", textfont=dict(size=13),
        node=dict(label=["" if i in small else n for i, n in enumerate(names)], color=colors, pad=6, thickness=14,
                  customdata=names, hovertemplate="%{customdata}: %{value:,} tokens<extra></extra>"),
        link=dict(source=src, target=dst, value=part.tokens.tolist(),
                  color=[_rgba(expert_color(int(e)), 0.35) for e in part.expert],
                  hovertemplate="%{source.customdata} → %{target.customdata}: %{value:,} tokens<extra></extra>")))
    path = " → ".join(layer_name(b) for b in layers)
    return style(fig, title or f"{stack}: each token's first choice from layer to layer ({path})", height=460)


def margin_histogram(margins: pd.DataFrame, stack: str) -> go.Figure:
    """The share of tokens per decision-margin bin, one line per sparse layer; the near-tie zone shaded."""
    part = margins[margins["stack"] == stack]
    fig = go.Figure()
    for layer, rows in part.groupby("layer"):
        rows = rows.sort_values("bin_low")
        fig.add_trace(go.Scatter(x=(rows.bin_low + rows.bin_high) / 2, y=rows.share, mode="lines+markers",
                                 name=f"{layer_name(layer)} (near-tie {rows.near_tie_share.iloc[0]:.0%})",
                                 hovertemplate="margin %{x:.3f}: %{y:.1%} of tokens<extra></extra>"))
    threshold = float(part.near_tie_threshold.iloc[0]) if "near_tie_threshold" in part and len(part) else NEAR_TIE
    fig.add_vrect(x0=0, x1=threshold, fillcolor=NEUTRAL, opacity=0.2, line_width=0)
    fig.update_xaxes(title="decision margin: lowest chosen p − highest unchosen p", range=[0, 1])
    fig.update_yaxes(title="share of tokens", tickformat=".0%")
    return style(fig, f"{stack}: how close each routing decision was (shaded: near-ties, margin < 0.4/E = "
                      f"{threshold:.3g})")


def consistency_figure(frame: pd.DataFrame, stack: str) -> go.Figure:
    """SRP and SCH against the segment length: one line per sparse layer and cache size (solid: SRP, C = k)."""
    part = frame[frame["stack"] == stack]
    fig = go.Figure()
    for (layer, cache, mult), rows in part.groupby(["layer", "cache", "cache_multiple"], sort=True):
        rows = rows.sort_values("segment_length")
        name = f"{layer_name(layer)}, " + ("SRP (C = k)" if mult == 1 else f"SCH, cache {int(cache)}")
        fig.add_trace(go.Scatter(x=rows.segment_length, y=rows.sch, mode="lines+markers", name=name,
                                 line=dict(dash="solid" if mult == 1 else "dot"),
                                 hovertemplate=f"{name}<br>segments of %{{x}} tokens: %{{y:.1%}}<extra></extra>"))
    fig.update_xaxes(title="segment length (tokens)", type="log", tickvals=sorted(part.segment_length.unique()))
    fig.update_yaxes(title="share of assignments served", tickformat=".0%", range=[0, 1.02])
    return style(fig, f"{stack}: local routing consistency — the best fixed experts per segment (SRP, SCH)")


def pathways_table(pathways: pd.DataFrame, stack: str) -> pd.DataFrame:
    """One row per consecutive layer pair: Jaccard and predictability beside their chance levels."""
    part = pathways[pathways["stack"] == stack]
    return pd.DataFrame({
        "layers": [f"{layer_name(a)} → {layer_name(b)}" for a, b in zip(part.layer, part.next_layer)],
        "Jaccard of the chosen sets": part.jaccard.round(3), "Jaccard by chance": part.jaccard_chance.round(3),
        "next choice predicted (best mapping)": part.accuracy.round(3),
        "predicted by chance": part.chance_accuracy.round(3), "mutual information (bits)": part.mi_bits.round(3),
        "its maximum (bits)": part.max_mi_bits.round(3), "tokens": part.tokens})


def balance_table(balance: pd.DataFrame, stack: str) -> pd.DataFrame:
    """One row per sparse layer: the balance indices of its load."""
    part = balance[balance["stack"] == stack]
    return pd.DataFrame({
        "layer": [layer_name(b) for b in part.layer], "CV of load (0 = balanced)": part.cv.round(3),
        "exp(H)/E (1 = balanced)": part.effective_share.round(3), "max / mean": part.max_over_mean.round(2),
        "dead experts": part.dead_share.round(3),
        "top-N share": [f"{s:.1%} (N = {int(n)}; uniform {u:.1%})" for s, n, u in
                        zip(part.top_n_share, part.top_n, part.uniform_top_n)],
        "assignments": part.assignments})


SENTENCE_COLORS = ("#0072B2", "#E69F00")  # sentence 1, sentence 2 (as in Compare's distributions)


def word_paths_sankey(p1, p2, layers, stack: str, word: str) -> go.Figure:
    """One word's path through the sparse layers in each of its two sentences: its top-1 expert per layer (pooled
    distribution), one link colour per sentence; where the paths part, context moved the routing."""
    import numpy as np

    paths = [np.asarray(p).argmax(-1) for p in (p1, p2)]
    experts = sorted({int(e) for path in paths for e in path})
    node = {(li, e): i for i, (li, e) in enumerate((li, e) for li in range(len(layers)) for e in experts)}
    src, dst, colors, labels = [], [], [], []
    for s, path in enumerate(paths):
        for li in range(len(layers) - 1):
            src.append(node[(li, int(path[li]))])
            dst.append(node[(li + 1, int(path[li + 1]))])
            colors.append(_rgba(SENTENCE_COLORS[s], 0.55))
            labels.append(f"sentence {s + 1}")
    # nodes neutral and labelled by expert (the layer is the column and the hover), so the two sentences' colours are
    # the figure's only colours; dark text with a light halo reads on any flow
    fig = go.Figure(go.Sankey(
        arrangement="snap", textfont=dict(size=13, color="#1a1a1a", shadow="1px 1px 2px #ffffff"),
        node=dict(label=[f"e{e}" for _b in layers for e in experts], color="#b8b8b8", pad=8, thickness=14,
                  customdata=[layer_name(b) for b in layers for _e in experts],
                  hovertemplate="%{label} at %{customdata}<extra></extra>"),
        link=dict(source=src, target=dst, value=[1] * len(src), color=colors, customdata=labels,
                  hovertemplate="%{customdata}: %{source.label} → %{target.label}<extra></extra>")))
    same = int(sum(a == b for a, b in zip(*paths)))
    return style(fig, f"{stack}: “{word}”’s top-1 path, {layer_name(layers[0])} → {layer_name(layers[-1])} "
                      f"(blue: sentence 1, orange: sentence 2; the same expert at {same} of {len(layers)} layers)",
                 height=360)


def trace_layer_table(trace, stack: str) -> pd.DataFrame:
    """One text's routing per sparse layer: the balance of its tokens' assignments and how close their decisions
    were (the corpus studies' indices, for the text on screen)."""
    import numpy as np

    from core.measures.routing_stats import balance

    s = trace.stack(stack)
    rows = []
    for li, block in enumerate(s.layers):
        traced = ~np.isnan(s.token_probs[li]).any(-1)
        kept = traced & ~s.dropped[li]  # a token capacity dropped was assigned to no expert: no load
        load = np.bincount(s.selected[li][kept].reshape(-1).astype(np.int64), minlength=trace.num_experts)
        b, m = balance(load), s.margins[li][traced]
        threshold = near_tie_threshold(trace.num_experts)
        rows.append({"layer": layer_name(block), "CV of load (0 = balanced)": round(b["cv"], 3),
                     "exp(H)/E (1 = balanced)": round(b["effective_share"], 3),
                     "experts unused": int((load == 0).sum()),
                     "median decision margin": round(float(np.median(m)), 3) if m.size else np.nan,
                     "near-ties (margin < 0.4/E)": f"{(m < threshold).mean():.0%}" if m.size else "—"})
    return pd.DataFrame(rows)
