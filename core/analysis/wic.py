"""WiC same- vs different-meaning frames (Figs. 1–2): per-pair means, KDE, layer-wise Cohen's d, and the scopes
(pooled per family, then per model) every figure is drawn for."""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.analysis.metrics import effect_size, kde

KDE_GRID = np.linspace(0.0, 1.0, 201)
JSS_BOUNDS = (0.0, 1.0)  # the KDE is reflected at both ends (see core.analysis.metrics.kde)


def scopes(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Pooled, then per model. Models of different families are never pooled together (their layers and
    stacks differ in meaning): with several families there is one "pooled <family>" scope per family."""
    families = list(dict.fromkeys(frame["family"])) if "family" in frame and len(frame) else []
    if len(families) > 1:
        pooled = [(f"pooled {f}", frame[frame["family"] == f]) for f in families]
    else:
        pooled = [("pooled", frame)]
    return pooled + [(m, g) for m, g in frame.groupby("model", sort=False)]


def pair_means(wic_pairs: pd.DataFrame) -> pd.DataFrame:
    """Mean JSS over a stack's sparse layers per WiC pair (the per-pair "encoder/decoder JSS")."""
    keys = ["model", "experts", "pair", "split", "lemma", "pos", "label", "stack"]
    keys += ["family"] if "family" in wic_pairs else []
    return wic_pairs.groupby(keys, as_index=False, sort=False)["jss"].mean()


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
                         "mean_F": float(f.mean()) if len(f) else np.nan, "n_T": len(t), "n_F": len(f)})
    return pd.DataFrame(rows)
