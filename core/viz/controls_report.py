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
