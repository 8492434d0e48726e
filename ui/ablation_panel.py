"""The Experts page's causal panel: does an expert that a domain uses more (its lift) also cost that domain more
loss when removed (`python -m core ablate`)? Shown when an ablation of the statistics' model exists."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.corpus.results import ablation_folder
from core.corpus.stats import ExpertStats
from core.studies.ablation import lift_and_delta
from core.viz import expert_plots as xp
from core.viz.style import layer_name
from ui.figures import figure, plot
from ui.results_cache import read_once, stamp
from ui.tables import show_table


def _with_ci(value: float, low: float, high: float) -> str:
    """"+0.0123 [+0.0101, +0.0145]"; three significant digits, so a CI bound that excludes 0 never prints as 0."""
    return f"{value:+.3g} [{low:+.3g}, {high:+.3g}]"


def ablation_panel(stats: ExpertStats, model: str, stack: str, layer: int) -> None:
    folder = ablation_folder(model)
    if folder is None:
        st.caption(f"No expert ablation of {model} yet: `python -m core ablate --model {model} --corpus nltk:brown "
                   "--stats <this statistics folder>` measures what removing each expert costs.")
        return
    st.subheader("Observational vs causal: removing an expert")
    ablation = read_once("ablation", folder / "ablation.parquet", pd.read_parquet)
    overall = ablation[(ablation.group_kind == "all") & (ablation["stack"] == stack) & (ablation.layer == layer)]
    if overall.empty:
        st.info(f"The ablation of {model} did not cover {stack} {layer_name(layer)}.")
        return
    measurable = overall[(overall.ci_low > 0) | (overall.ci_high < 0)].sort_values("delta", ascending=False)
    if len(measurable):
        top = measurable.head(5)
        raise_, lower = int((measurable.delta > 0).sum()), int((measurable.delta < 0).sum())
        st.caption(f"The experts whose removal measurably changes the loss (the 95% CI of Δloss excludes 0): "
                   f"{raise_} raise it (the model predicts worse without them), {lower} lower it; "
                   f"{'the 5 largest' if len(measurable) > 5 else 'all of them'}, largest Δloss first.")
        show_table(pd.DataFrame({"expert": top.expert.map("e{}".format),
                                 "Δloss per token [95% CI]": [_with_ci(d, lo, hi) for d, lo, hi in
                                                              zip(top.delta, top.ci_low, top.ci_high)]}),
                   index="expert", static=True)
    rest = len(overall) - len(measurable)
    if rest:
        st.caption(f"{'The other ' if len(measurable) else 'All '}{rest} expert{'s' if rest != 1 else ''}: no measurable "
                   "cost when removed (the 95% CI of Δloss includes 0).")
    cells = lift_and_delta(ablation, stats.domain, stats.load, stack, layer)
    link = Path(folder) / "observational_vs_causal.parquet"
    rho = read_once("ablation-link", link, pd.read_parquet) if link.is_file() else pd.DataFrame()
    hit = rho[(rho["stack"] == stack) & (rho.layer == layer)] if len(rho) else rho
    if len(cells) and len(hit):
        r = hit.iloc[0]
        plot(figure(("xp_ablation", str(folder), stamp(folder), stack, layer),
                    lambda: xp.lift_vs_delta(cells, stack, layer, float(r.rho))), key="xp-ablation")
        st.caption(f"Spearman ρ between domain lift and Δloss over {int(r.cells)} (expert, domain) cells: "
                   f"{r.rho:+.2f} [95% CI {r.ci_low:+.2f}, {r.ci_high:+.2f}]. Δloss: the model's own training loss "
                   f"({ablation.objective.iloc[0]}) with the expert removed − intact; definitions in "
                   "docs/definitions.md.")
    _saliency(Path(folder), overall, stack, layer)


def _saliency(folder: Path, overall: pd.DataFrame, stack: str, layer: int) -> None:
    """REAP saliency beside Δloss (and the lift): the rank correlations with CIs, then each expert's two numbers."""
    if not (folder / "saliency_links.parquet").is_file():
        return
    links = read_once("saliency-links", folder / "saliency_links.parquet", pd.read_parquet)
    sal = read_once("saliency", folder / "saliency.parquet", pd.read_parquet)
    here = links[(links["stack"] == stack) & (links.layer == layer)]
    if here.empty:
        return
    st.markdown("**What each expert writes (REAP saliency) beside what removing it costs**")
    show_table(pd.DataFrame({"comparison": here.comparison, "cells": here.n,
                             "Spearman ρ [95% CI]": [_with_ci(r, lo, hi) for r, lo, hi in
                                                     zip(here.rho, here.ci_low, here.ci_high)]}),
               index="comparison", static=True)
    per = sal[(sal["stack"] == stack) & (sal.layer == layer) & (sal.group_kind == "all")].merge(
        overall[["expert", "delta"]], on="expert")
    with st.expander("Each expert: REAP saliency and Δloss"):
        show_table(pd.DataFrame({"expert": per.expert.map("e{}".format), "tokens routed": per.tokens,
                                 "REAP saliency": per.saliency.round(4), "Δloss per token": per.delta.map("{:+.3g}".format)}),
                   index="expert", static=True)
    st.caption("REAP saliency (arXiv 2510.13999): the mean, over the tokens routed to an expert, of its gate weight × "
               "the norm of its output, on the ablation's own sample.")
