"""Across expert counts (docs/definitions.md): per-model results first, then their mean with a CI over models.

Pooling every model's WiC pairs into one Cohen's d mixes models whose baseline JSS differs and inflates the SD, so
the pooled-pairs d stays labelled "pooled"; the aggregate is the mean of the per-model d's. Tables 1–2 get an
average row over the expert counts present, set beside the paper's Avg. only for the paper's own checkpoints.
"""
from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd
from scipy import stats

MEAN_OF_MODELS = "mean of models"


def _mean_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """Mean, its t-interval over the values (one per model) and a one-sample t-test p against 0."""
    values = values[np.isfinite(values)]
    mean = float(values.mean()) if len(values) else float("nan")
    if len(values) < 2 or np.std(values) == 0:
        return mean, float("nan"), float("nan"), float("nan")
    low, high = stats.t.interval(confidence, len(values) - 1, loc=mean, scale=stats.sem(values))
    return mean, float(low), float(high), float(stats.ttest_1samp(values, 0.0).pvalue)


def _family_groups(frame: pd.DataFrame, families: dict[str, str]) -> list[tuple[str, pd.DataFrame]]:
    """Per family with at least two models: (label suffix, that family's rows)."""
    fam = frame.model.map(families)
    several = len(set(fam.dropna())) > 1
    return [(f" {f}" if several else "", g) for f, g in frame.groupby(fam, sort=False) if g.model.nunique() >= 2]


def mean_of_models_d(cohens: pd.DataFrame, families: dict[str, str]) -> pd.DataFrame:
    """Per family, stack and sparse layer: the mean of the per-model Cohen's d with a t-interval over models."""
    per_model = cohens[cohens.model.isin(families)]
    rows = []
    for suffix, g in _family_groups(per_model, families):
        for (stack, layer_pos), h in g.groupby(["stack", "layer_pos"], sort=True):
            d, low, high, p = _mean_ci(h.d.to_numpy(dtype=float))
            rows.append({"model": MEAN_OF_MODELS + suffix, "stack": stack, "layer_pos": int(layer_pos),
                         "layer": int(h.layer.iloc[0]), "d": d, "ci_low": low, "ci_high": high, "p": p,
                         "mean_T": np.nan, "mean_F": np.nan, "n_T": int(h.n_T.sum()), "n_F": int(h.n_F.sum())})
    return pd.DataFrame(rows, columns=cohens.columns)


def average_rows(table: pd.DataFrame, paper_models: Collection[str], paper_avg: pd.DataFrame) -> pd.DataFrame:
    """Per family, stack and setting with two or more models: ρ averaged over the expert counts present. The
    paper's Avg. stands beside it only when every averaged model is one of the paper's checkpoints."""
    families = dict(zip(table.model, table.family))
    rows = []
    for suffix, g in _family_groups(table, families):
        counts = ", ".join(str(e) for e in sorted(set(g.experts)))
        for (stack, setting, dataset), h in g.groupby(["stack", "setting", "dataset"], sort=False):
            rho, low, high, _p = _mean_ci(h.rho.to_numpy(dtype=float))
            published = np.nan
            if set(h.model) <= set(paper_models):
                hit = paper_avg[(paper_avg["stack"] == stack) & (paper_avg.setting == setting)]
                published = float(hit.published_rho.iloc[0]) if len(hit) else np.nan
            rows.append({"model": f"average over E = {counts}{suffix}", "experts": 0, "family": h.family.iloc[0],
                         **{c: ", ".join(dict.fromkeys(map(str, h[c]))) for c in ("decoder_read", "dtype") if c in h},
                         "table": h.table.iloc[0], "stack": stack, "setting": setting, "dataset": dataset, "rho": rho,
                         "p": np.nan, "n": int(h.n.sum()), "ci_low": low, "ci_high": high, "published_rho": published,
                         "difference": rho - published})
    return pd.DataFrame(rows, columns=table.columns)


MIN_EXPERT_COUNTS = 3  # a trend over fewer expert counts says nothing
EXACT_UP_TO = 8  # models: up to 8! = 40,320 orderings, enumerated


def spearman_exact(x, y) -> tuple[float, float]:
    """Spearman ρ with a two-sided p from every ordering of y when there are few points (scipy's t approximation
    gives p = 0 for a perfect ρ over three models, where one ordering in three is as extreme: p = 1/3)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rho = float(stats.spearmanr(x, y).statistic)
    if len(x) > EXACT_UP_TO:
        return rho, float(stats.spearmanr(x, y).pvalue)
    test = stats.permutation_test((y,), lambda v: stats.spearmanr(x, v).statistic, permutation_type="pairings",
                                  n_resamples=np.inf, alternative="two-sided")
    return rho, float(test.pvalue)


def expert_trend(tables: pd.DataFrame, cohens: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Per family with at least three expert counts: Spearman ρ between the expert count and each headline number
    (Tables 1–2 ρ per stack and setting; the stack's mean layer-wise Cohen's d), with n = the models in the fit."""
    info = models.set_index("model")
    d_means = (cohens[cohens.model.isin(info.index)].groupby(["model", "stack"], as_index=False).d.mean()
               .assign(setting="WiC Cohen's d (mean over layers)", value=lambda f: f.d))
    rhos = tables[tables.model.isin(info.index)].assign(setting=lambda f: f.table + " " + f.setting, value=lambda f: f.rho)
    values = pd.concat([rhos[["model", "stack", "setting", "value"]], d_means[["model", "stack", "setting", "value"]]])
    values = values.assign(family=values.model.map(info.family), experts=values.model.map(info.experts))
    rows = []
    for (family, stack, setting), g in values.groupby(["family", "stack", "setting"], sort=False):
        if g.experts.nunique() < MIN_EXPERT_COUNTS:
            continue
        rho, p = (spearman_exact(g.experts, g.value) if g.value.nunique() > 1 else (np.nan, np.nan))  # constant: none
        rows.append({"family": family, "stack": stack, "number": setting, "rho_over_experts": float(rho),
                     "p": float(p), "n": len(g), "experts": ", ".join(str(e) for e in sorted(set(g.experts)))})
    return pd.DataFrame(rows, columns=["family", "stack", "number", "rho_over_experts", "p", "n", "experts"])
