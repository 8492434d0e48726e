"""The controls of `reproduce --controls` as tables: one row per model, stack and layer, each number with its CI
(report.html and the Benchmarks page)."""
from __future__ import annotations

import pandas as pd

CONTROLS_NOTE = ("Router or representation? Per layer: Cohen's d (same − different meaning) of the routing JSS beside "
                 "the d of the router inputs' cosine (what the representation alone shows), the d that random routers "
                 "of the trained shape give on the same inputs (mean and 2.5–97.5 %), the retention ratio d(routing) "
                 "/ d(representation) and the partial correlation of the label with JSS controlling for the cosine. "
                 "Layer \"mean\": the stack's mean JSS per pair, as the control claim judges it.")


def _ci(value: float, low: float, high: float) -> str:
    if pd.isna(value):
        return ""
    return f"{value:+.3f}" + (f" [{low:+.3f}, {high:+.3f}]" if pd.notna(low) and pd.notna(high) else "")


def controls_table(controls: pd.DataFrame) -> pd.DataFrame:
    """controls.csv as read: one row per model, stack and layer, each number with its CI."""
    c = controls
    out = pd.DataFrame({"model": c.model, "stack": c["stack"],
                        "layer": c.layer.map(lambda v: "mean" if v == -1 else str(int(v))),
                        "d routing [95% CI]": [_ci(*v) for v in zip(c.d_routing, c.d_routing_low, c.d_routing_high)]})
    if "d_cosine" in c:
        out["d cosine of inputs [95% CI]"] = [_ci(*v) for v in zip(c.d_cosine, c.d_cosine_low, c.d_cosine_high)]
    out["d random routers [2.5–97.5 %]"] = [_ci(*v) for v in zip(c.d_random_mean, c.d_random_low, c.d_random_high)]
    if "retention" in c:
        out["retention [95% CI]"] = [_ci(*v) for v in zip(c.retention, c.retention_low, c.retention_high)]
        out["partial r [95% CI]"] = [_ci(*v) for v in zip(c.partial_r, c.partial_r_low, c.partial_r_high)]
    if "d_overlap" in c:
        out["d chosen-set overlap [95% CI]"] = [_ci(*v) for v in zip(c.d_overlap, c.d_overlap_low,
                                                                         c.d_overlap_high)]
    return out


def controls_figure(controls: pd.DataFrame):
    """Router or representation, as a figure: per model · stack, the stack-mean Cohen's d of the trained routing (95%
    CI) beside random routers of the same shape on the same inputs (their 2.5–97.5 % range) and the router inputs'
    cosine (mean over layers). The title counts where the trained routing's CI clears the random routers' range."""
    import plotly.graph_objects as go

    from core.viz.style import NEUTRAL, STACK_COLORS, style

    mean = controls[controls.layer == -1].copy()
    mean["row"] = mean.model.astype(str) + " · " + mean["stack"].astype(str)
    cosine = (controls[controls.layer >= 0].groupby(["model", "stack"], sort=False).d_cosine.mean()
              if "d_cosine" in controls else pd.Series(dtype=float))
    mean["cosine"] = [cosine.get((m, s), float("nan")) for m, s in zip(mean.model, mean["stack"])]
    above = int((mean.d_routing_low > mean.d_random_high).sum())
    fig = go.Figure()
    fig.add_scatter(x=mean.d_random_mean, y=mean.row, mode="markers", name="random routers (2.5–97.5 %)",
                    marker=dict(color=NEUTRAL, size=11, symbol="diamond"),
                    error_x=dict(type="data", symmetric=False, array=mean.d_random_high - mean.d_random_mean,
                                 arrayminus=mean.d_random_mean - mean.d_random_low, color=NEUTRAL),
                    hovertemplate="%{y}<br>random routers d = %{x:.3f}<extra></extra>")
    if mean.cosine.notna().any():
        fig.add_scatter(x=mean.cosine, y=mean.row, mode="markers", name="router inputs' cosine (mean of layers)",
                        marker=dict(color=STACK_COLORS["decoder"], size=11, symbol="triangle-up"),
                        hovertemplate="%{y}<br>inputs' cosine d = %{x:.3f}<extra></extra>")
    fig.add_scatter(x=mean.d_routing, y=mean.row, mode="markers", name="trained routing (95% CI)",
                    marker=dict(color=STACK_COLORS["encoder"], size=12),
                    error_x=dict(type="data", symmetric=False, array=mean.d_routing_high - mean.d_routing,
                                 arrayminus=mean.d_routing - mean.d_routing_low, color=STACK_COLORS["encoder"]),
                    hovertemplate="%{y}<br>routing d = %{x:.3f}<extra></extra>")
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title="Cohen's d, same − different meaning (stack mean)", zeroline=True)
    return style(fig, f"The trained routing separates meanings beyond random routers in {above} of {len(mean)}",
                 height=160 + 34 * len(mean) + 60,
                 subtitle="WiC pairs: Cohen's d of routing JSS; random routers of the same shape read the same inputs")
