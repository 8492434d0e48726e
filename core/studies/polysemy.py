"""Polysemy (Fig. 3): per WiC lemma, how much more similar same-meaning routing is, against its WordNet senses."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from core.measures.grouping import pair_means, scopes
from core.types import SenseCount

# (lemma, WiC part of speech "N"/"V") pairs -> (senses of that part of speech whose lemma is exactly it, all senses
# of any part of speech, as `len(wordnet.synsets(lemma))` counts them)
SenseCounts = Callable[[Sequence[tuple[str, str]]], dict[tuple[str, str], tuple[int, int]]]
POLYSEMY_COLUMNS = ["model", "experts", "family", "stack", "lemma", "pos", "senses", "senses_all_pos", "mean_jss_T",
                    "mean_jss_F", "difference", "n_T", "n_F"]


def polysemy_frames(wic_pairs: pd.DataFrame, sense_counts: SenseCounts, senses: SenseCount = "senses"
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per (lemma, part of speech) with both T and F pairs: mean JSS(T) − mean JSS(F) vs WordNet senses, and the
    linear trend (Fig. 3). The trend uses the `senses` column (default: lemma-exact, the WiC part of speech);
    `senses_all_pos` is the count of every synset the lemma or its base forms reach in any part of speech, kept for
    comparison. The trend frame names the count it used."""
    means = pair_means(wic_pairs)
    if "family" not in means:
        means["family"] = ""
    keys = ["model", "experts", "family", "stack", "lemma", "pos"]
    stats_ = means.groupby([*keys, "label"], sort=True)["jss"].agg(["mean", "count"])
    wide = stats_.unstack("label")
    rows = []
    if ("mean", "T") in wide.columns and ("mean", "F") in wide.columns:
        both = wide[wide[("count", "T")].notna() & wide[("count", "F")].notna()]
        targets = list(dict.fromkeys(zip(both.index.get_level_values("lemma"), both.index.get_level_values("pos"))))
        counts = sense_counts(targets)
        for (model, experts, family, stack, lemma, pos), r in both.iterrows():
            strict, all_pos = counts[(lemma, pos)]
            rows.append({"model": model, "experts": experts, "family": family, "stack": stack, "lemma": lemma,
                         "pos": pos, "senses": strict, "senses_all_pos": all_pos, "mean_jss_T": r[("mean", "T")],
                         "mean_jss_F": r[("mean", "F")], "difference": r[("mean", "T")] - r[("mean", "F")],
                         "n_T": int(r[("count", "T")]), "n_F": int(r[("count", "F")])})
    poly = pd.DataFrame(rows, columns=POLYSEMY_COLUMNS)
    return poly, polysemy_trend(poly, senses)


def polysemy_trend(poly: pd.DataFrame, senses: SenseCount = "senses") -> pd.DataFrame:
    """Fig. 3's linear trend of the difference over the `senses` count, pooled (per lemma) and per model."""
    trend_rows = []
    for model, frame in scopes(poly):
        for stack, g in frame.groupby("stack", sort=False):
            g = g.assign(count=g[senses])
            if model.startswith("pooled"):
                g = g.groupby(["lemma", "pos"], as_index=False).agg(count=("count", "first"),
                                                                  difference=("difference", "mean"))
            ok = g["count"] > 0
            if ok.sum() >= 3 and g["count"][ok].nunique() > 1:
                res = stats.linregress(g["count"][ok], g.difference[ok])
                trend_rows.append({"model": model, "stack": stack, "slope": res.slope, "intercept": res.intercept,
                                   "r": res.rvalue, "p": res.pvalue, "n": int(ok.sum())})
            else:
                trend_rows.append({"model": model, "stack": stack, "slope": np.nan, "intercept": np.nan,
                                   "r": np.nan, "p": np.nan, "n": int(ok.sum())})
    trend = pd.DataFrame(trend_rows, columns=["model", "stack", "slope", "intercept", "r", "p", "n"])
    return trend.assign(senses=senses)
