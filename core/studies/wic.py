"""WiC same- vs different-meaning frames (Figs. 1–2): the KDE of per-pair means and layer-wise Cohen's d, for
every scope (core.measures.grouping)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.measures.grouping import pair_means, scopes
from core.measures.metrics import effect_size, kde
from core.measures.routing_stats import NEAR_TIE, near_tie_threshold

KDE_GRID = np.linspace(0.0, 1.0, 201)
JSS_BOUNDS = (0.0, 1.0)  # the KDE is reflected at both ends (see core.measures.metrics.kde)


def kde_frame(wic_pairs: pd.DataFrame) -> pd.DataFrame:
    """Density of pair JSS per label, pooled over models ("pooled") and per model (Fig. 1)."""
    means = pair_means(wic_pairs)
    rows = []
    for model, frame in scopes(means):
        for (stack, label), g in frame.groupby(["stack", "label"], sort=False):
            rows.append(pd.DataFrame({"model": model, "stack": stack, "label": label, "x": KDE_GRID,
                                      "density": kde(g.jss.to_numpy(), KDE_GRID, bounds=JSS_BOUNDS),
                                      "n": len(g)}))
    return pd.concat(rows, ignore_index=True)


def cohens_d_frame(wic_pairs: pd.DataFrame) -> pd.DataFrame:
    """Layer-wise Cohen's d (same − different meaning) with its bootstrap 95 % CI and Welch's p, pooled over the
    models of a family and per model (Fig. 2)."""
    rows = []
    for model, frame in scopes(wic_pairs):
        for (stack, layer_pos), g in frame.groupby(["stack", "layer_pos"], sort=True):
            t = g.jss[g.label == "T"].to_numpy()
            f = g.jss[g.label == "F"].to_numpy()
            effect = effect_size(t, f)
            rows.append({"model": model, "stack": stack, "layer_pos": int(layer_pos), "layer": int(g.layer.iloc[0]),
                         "d": effect.d, "ci_low": effect.ci_low, "ci_high": effect.ci_high, "p": effect.p,
                         "mean_T": float(t.mean()) if len(t) else np.nan,
                         "mean_F": float(f.mean()) if len(f) else np.nan, "n_T": len(t), "n_F": len(f),
                         **near_ties(g)})
    return pd.DataFrame(rows)


def near_ties(g: pd.DataFrame) -> dict[str, float]:
    """How much of a layer's context effect could be near-tie flips: of the pairs whose word is routed to another
    top-k in its two sentences, the share where the closer of the two decisions had a margin below NEAR_TIE_FRACTION / E
    (`near_tie_share`), and Cohen's d with those pairs left out (`d_confident`: the effect of confident re-routes and
    of unchanged choices). NaN where the pairs carry no margins (results saved before them)."""
    if "margin" not in g or g.margin.isna().all():
        return {"near_tie_share": np.nan, "d_confident": np.nan, "d_confident_low": np.nan,
                "d_confident_high": np.nan, "near_tie_share_half": np.nan, "near_tie_share_double": np.nan}
    threshold = near_tie_threshold(g.experts.to_numpy()) if "experts" in g else NEAR_TIE
    flip = g.rerouted.astype(bool) & (g.margin < threshold)
    rerouted = g.rerouted.astype(bool)
    share = {name: float((rerouted & (g.margin < threshold * f)).sum() / rerouted.sum()) if rerouted.any() else 0.0
             for name, f in (("near_tie_share_half", 0.5), ("near_tie_share_double", 2.0))}
    kept = g[~flip]
    effect = effect_size(kept.jss[kept.label == "T"].to_numpy(), kept.jss[kept.label == "F"].to_numpy())
    return {"near_tie_share": float(flip.sum() / rerouted.sum()) if rerouted.any() else 0.0, "d_confident": effect.d,
            "d_confident_low": effect.ci_low, "d_confident_high": effect.ci_high, **share}
