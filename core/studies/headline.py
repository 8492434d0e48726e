"""The headline numbers of a reproduction in one long frame: what the sensitivity table follows across choices and
what the claims are judged on. One row per number: its value, 95 % CI and p (NaN where the number has none)."""
from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from core.measures.aggregate import MEAN_OF_MODELS
from core.measures.claim_tests import correlation_ci, independent_correlations, paired_d_difference
from core.results.store import Results

Aggregate = Literal["mean of models", "pooled pairs"]
KEYS = ["number", "model", "stack", "layer"]
COLUMNS = [*KEYS, "value", "ci_low", "ci_high", "p", "n"]
ASSOCIATION_GAP = "Δρ association − similarity (Table 1)"
STACK_GAP = "Δd encoder − decoder (WiC, paired)"
TREND = "polysemy trend r"
ALPHA = 0.05
ACROSS_MODELS = "across models"


def significant(value: float, ci_low: float, ci_high: float, p: float) -> bool:
    """p < 0.05 where there is a p; else a 95 % CI that excludes 0."""
    if np.isfinite(p):
        return bool(p < ALPHA)
    return bool(np.isfinite(ci_low) and np.isfinite(ci_high) and (ci_low > 0 or ci_high < 0))


def aggregated_d(cohens: pd.DataFrame, aggregate: Aggregate) -> pd.DataFrame:
    """Fig. 2's d across the models of a family, under either aggregation, labelled the same way (so the two line up
    in the sensitivity table): "across models" (+ " <family>" when a run mixes families)."""
    if aggregate == "mean of models":
        rows = cohens[cohens.model.astype(str).str.startswith(MEAN_OF_MODELS)]
        label = rows.model.astype(str).str.replace(MEAN_OF_MODELS, ACROSS_MODELS, n=1, regex=False)
    else:
        pooled = cohens[cohens.model.astype(str).str.startswith("pooled")]
        means = cohens[cohens.model.astype(str).str.startswith(MEAN_OF_MODELS)]
        # only where a mean of models exists too (a family with two or more models)
        families = {m.replace(MEAN_OF_MODELS, "pooled", 1) for m in means.model.astype(str)}
        rows = pooled[pooled.model.isin(families)]
        label = rows.model.astype(str).str.replace("pooled", ACROSS_MODELS, n=1, regex=False)
    return rows.assign(model=label)


def _rows(frame: pd.DataFrame, number, value: str = "value", layer: str | None = None) -> pd.DataFrame:
    if not len(frame):
        return pd.DataFrame(columns=COLUMNS)
    names = frame.apply(number, axis=1) if callable(number) else number
    return pd.DataFrame({
        "number": names, "model": frame.model.astype(str), "stack": frame["stack"],
        "layer": frame[layer].astype(float) if layer else np.nan, "value": frame[value].astype(float),
        "ci_low": frame["ci_low"].astype(float) if "ci_low" in frame else np.nan,
        "ci_high": frame["ci_high"].astype(float) if "ci_high" in frame else np.nan,
        "p": frame["p"].astype(float),
        "n": frame["n"].astype(float) if "n" in frame else np.nan,
    })


def headline_numbers(results: Results, aggregate: Aggregate = "mean of models") -> pd.DataFrame:
    """Tables 1–2 ρ (per model and averaged), the context gain, Fig. 2's d per layer (per model and across models),
    and Fig. 3's trend r (per model)."""
    models = set(results.models.model.astype(str))
    parts = []
    for name in ("table1", "table2"):
        t = getattr(results, name)
        parts.append(_rows(t, lambda r, n=name: f"{'Table 1' if n == 'table1' else 'Table 2'} ρ · {r.dataset} "
                                                 f"{r.setting}", value="rho"))
    if len(results.context_gain):
        parts.append(_rows(results.context_gain, "context gain Δρ (SCWS)", value="gain"))
    cohens = results.cohens_d
    per_model = cohens[cohens.model.astype(str).isin(models)]
    parts.append(_rows(per_model, "WiC Cohen's d", value="d", layer="layer"))
    parts.append(_rows(aggregated_d(cohens, aggregate), "WiC Cohen's d", value="d", layer="layer"))
    parts.append(association_gap(results.table1[results.table1.model.astype(str).isin(models)]))
    parts.append(stack_gap(results.wic_pairs[results.wic_pairs.model.astype(str).isin(models)]))
    trend = results.polysemy_trend
    trend = trend[trend.model.astype(str).isin(models)]
    bounds = [correlation_ci(r, int(n)) for r, n in zip(trend.r, trend.n)] if len(trend) else []
    parts.append(_rows(trend.assign(ci_low=[b[0] for b in bounds], ci_high=[b[1] for b in bounds]), TREND, value="r"))
    out = pd.concat([p for p in parts if len(p)], ignore_index=True)
    return out[COLUMNS]


def association_gap(table1: pd.DataFrame) -> pd.DataFrame:
    """Per model and stack: ρ WordSim353 − ρ SimLex-999, two correlations of different pairs (Zou's CI, Fisher-z p;
    core.measures.claim_tests.independent_correlations)."""
    rows = []
    for (model, stack), g in table1.groupby(["model", "stack"], sort=False):
        a, s = g[g.setting == "association"], g[g.setting == "similarity"]
        if not len(a) or not len(s):
            continue
        a, s = a.iloc[0], s.iloc[0]
        diff = independent_correlations(a.rho, (a.ci_low, a.ci_high), int(a.n), s.rho, (s.ci_low, s.ci_high), int(s.n))
        rows.append({"number": ASSOCIATION_GAP, "model": str(model), "stack": stack, "layer": np.nan,
                     "value": diff.value, "ci_low": diff.ci_low, "ci_high": diff.ci_high, "p": diff.p, "n": np.nan})
    return pd.DataFrame(rows, columns=COLUMNS)


def stack_gap(wic_pairs: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per model with both stacks: mean-over-layers d encoder − decoder on the same WiC pairs (a paired bootstrap;
    core.measures.claim_tests.paired_d_difference). Stack "both": one number per model."""
    rows = []
    for model, g in wic_pairs.groupby("model", sort=False):
        if not {"encoder", "decoder"} <= set(g["stack"]):
            continue
        wide = g.pivot_table(index=["pair", "label"], columns=["stack", "layer_pos"], values="jss").dropna()
        same = wide.index.get_level_values("label").to_numpy() == "T"
        diff = paired_d_difference(wide["encoder"].to_numpy().T, wide["decoder"].to_numpy().T, same, n_resamples,
                                   seed)
        rows.append({"number": STACK_GAP, "model": str(model), "stack": "both", "layer": np.nan, "value": diff.value,
                     "ci_low": diff.ci_low, "ci_high": diff.ci_high, "p": diff.p, "n": float(len(wide))})
    return pd.DataFrame(rows, columns=COLUMNS)
