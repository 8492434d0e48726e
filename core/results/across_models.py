"""The headline numbers of every model and stack side by side (the "Across models" table and figure)."""
from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from core.measures.grouping import pair_means
from core.measures.metrics import cohens_d


class ResultFrames(Protocol):
    """The frames of a result the comparison reads (a core.results.store.Results has them): a protocol, so this
    module needs nothing from the results store, which imports it."""

    models: pd.DataFrame
    table1: pd.DataFrame
    table2: pd.DataFrame
    wic_pairs: pd.DataFrame
    cohens_d: pd.DataFrame
    polysemy_trend: pd.DataFrame

COMPARISON_METRICS = ("association ρ", "similarity ρ", "SCWS ρ without context", "SCWS ρ with context",
                      "WiC Cohen's d")


def comparison_frame(results: ResultFrames) -> pd.DataFrame:
    """One row per model and stack with the headline numbers side by side, so encoder–decoder, decoder-only and
    MoE-fied models can be read on the same metrics: Spearman ρ of Tables 1–2, the context gain (SCWS with −
    without), WiC mean JSS for same/different meaning and Cohen's d of the pair means, polysemy r."""
    info = results.models.set_index("model")
    means = pair_means(results.wic_pairs)

    def rho(table: pd.DataFrame, model: str, stack: str, setting: str) -> float:
        hit = table[(table.model == model) & (table["stack"] == stack) & (table.setting == setting)].rho
        return float(hit.iloc[0]) if len(hit) else np.nan

    trend = results.polysemy_trend
    rows = []
    for (model, stack), g in means.groupby(["model", "stack"], sort=False):
        same, diff = g.jss[g.label == "T"].to_numpy(), g.jss[g.label == "F"].to_numpy()
        r = trend[(trend.model == model) & (trend["stack"] == stack)].r
        m = info.loc[model] if model in info.index else pd.Series(dtype=object)
        layer_d = results.cohens_d[(results.cohens_d.model == model) & (results.cohens_d["stack"] == stack)].d
        row = {"model": model, "family": m.get("family", ""), "architecture": m.get("architecture", ""),
               "experts": m.get("experts", np.nan), "top_k": m.get("top_k", np.nan), "stack": stack,
               "association ρ": rho(results.table1, model, stack, "association"),
               "similarity ρ": rho(results.table1, model, stack, "similarity"),
               "SCWS ρ without context": rho(results.table2, model, stack, "without context"),
               "SCWS ρ with context": rho(results.table2, model, stack, "with context")}
        row["context gain"] = row["SCWS ρ with context"] - row["SCWS ρ without context"]
        row.update({"WiC mean JSS same": float(same.mean()) if len(same) else np.nan,
                    "WiC mean JSS different": float(diff.mean()) if len(diff) else np.nan,
                    "WiC Cohen's d": cohens_d(same, diff), "max layer d": float(layer_d.max()) if len(layer_d) else np.nan,
                    "polysemy r": float(r.iloc[0]) if len(r) else np.nan, "WiC pairs": len(g)})
        rows.append(row)
    return pd.DataFrame(rows)
