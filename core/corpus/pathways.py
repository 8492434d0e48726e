"""Routing across layers and its balance, in DuckDB over a corpus run's rows (the token view of
core.corpus.field_studies); the definitions are core.measures.routing_stats's, counted here in SQL:

- `transitions`: per stack and consecutive pair of sparse layers, how often a token's first choice e at layer L is
  followed by e' at the next one (the pathway flow the Experts page draws);
- `layer_pairs`: per pair, the mean Jaccard of the two chosen sets (with its chance level), and how well L's first
  choice predicts L+1's (the best mapping's accuracy, its chance level, the mutual information);
- `balance`: per stack and layer, the load's balance indices;
- `margins`: per stack and layer, the distribution of decision margins (a histogram) and the near-tie share.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.measures.routing_stats import balance as balance_of
from core.measures.routing_stats import jaccard_chance, near_tie_threshold, predictability

MARGIN_BINS = 20  # histogram bins over [0, 1]


def _paired(view: str) -> str:
    """Each token's choice at a sparse layer beside its choice at the stack's next sparse layer."""
    return f"""(SELECT stack, layer, next_layer, top1, next_top1, experts, next_experts FROM
        (SELECT stack, layer, top1, experts, lead(layer) OVER w AS next_layer, lead(top1) OVER w AS next_top1,
                lead(experts) OVER w AS next_experts
         FROM {view} WINDOW w AS (PARTITION BY doc, position, stack ORDER BY layer))
        WHERE next_layer IS NOT NULL)"""


def transitions(con, view: str) -> pd.DataFrame:
    """Counts of (first choice at layer L, first choice at the next sparse layer), per stack and layer pair."""
    return con.execute(f"""SELECT stack, layer, next_layer, top1 AS expert, next_top1 AS next_expert,
            count(*) AS tokens FROM {_paired(view)} GROUP BY ALL ORDER BY ALL""").df()


def layer_pairs(con, view: str, experts: int, moves: pd.DataFrame) -> pd.DataFrame:
    """Per stack and layer pair: mean Jaccard of the chosen sets (and its chance for k of E at random), the best
    mapping's accuracy from L's first choice to L+1's (and always guessing L+1's most common), and the MI in bits."""
    jac = con.execute(f"""SELECT stack, layer, next_layer, any_value(len(experts)) AS k, count(*) AS tokens,
            avg(len(list_intersect(experts, next_experts)) / (2 * len(experts)
                - len(list_intersect(experts, next_experts)))) AS jaccard
        FROM {_paired(view)} GROUP BY ALL ORDER BY ALL""").df()
    rows = []
    for r in jac.itertuples():
        part = moves[(moves["stack"] == r.stack) & (moves.layer == r.layer)]
        x = np.repeat(part.expert.to_numpy(), part.tokens.to_numpy())
        y = np.repeat(part.next_expert.to_numpy(), part.tokens.to_numpy())
        rows.append({"stack": r.stack, "layer": int(r.layer), "next_layer": int(r.next_layer), "tokens": int(r.tokens),
                     "k": int(r.k), "jaccard": float(r.jaccard), "jaccard_chance": jaccard_chance(experts, int(r.k)),
                     **predictability(x, y, experts)})
    return pd.DataFrame(rows, columns=["stack", "layer", "next_layer", "tokens", "k", "jaccard", "jaccard_chance",
                                       "accuracy", "chance_accuracy", "mi_bits", "max_mi_bits"])


def balance(con, view: str, experts: int) -> pd.DataFrame:
    """Per stack and layer: the balance indices of the load (every assignment of every token a capacity did not drop,
    all E experts)."""
    load = con.execute(f"""SELECT stack, layer, e AS expert, count(*) AS n FROM
        (SELECT stack, layer, unnest(experts) AS e FROM {view} WHERE dropped IS NOT TRUE) GROUP BY ALL""").df()
    rows = []
    for (stack, layer), g in load.groupby(["stack", "layer"], sort=True):
        counts = np.zeros(experts)
        counts[g.expert.to_numpy(dtype=np.int64)] = g.n.to_numpy()
        rows.append({"stack": stack, "layer": int(layer), "assignments": int(counts.sum()), **balance_of(counts)})
    return pd.DataFrame(rows)


def margins(con, view: str, experts: int) -> pd.DataFrame:
    """Per stack and layer: a histogram of the decision margins over [0, 1] (MARGIN_BINS bins; `share` of the layer's
    tokens), the near-tie share (margin below NEAR_TIE_FRACTION / E: `near_tie_threshold`) and the median. Empty for
    runs made before margins were stored."""
    threshold = float(near_tie_threshold(experts))
    frame = con.execute(f"""SELECT stack, layer, least(floor(margin * {MARGIN_BINS}), {MARGIN_BINS - 1}) AS bin,
            count(*) AS tokens FROM {view} WHERE margin IS NOT NULL GROUP BY ALL ORDER BY ALL""").df()
    if frame.empty:
        return pd.DataFrame(columns=["stack", "layer", "bin_low", "bin_high", "tokens", "share", "near_tie_threshold",
                                     "near_tie_share", "median"])
    summary = con.execute(f"""SELECT stack, layer, avg(CASE WHEN margin < {threshold} THEN 1 ELSE 0 END)
            AS near_tie_share, median(margin) AS median FROM {view} WHERE margin IS NOT NULL GROUP BY ALL""").df()
    frame["bin_low"] = frame.bin / MARGIN_BINS
    frame["bin_high"] = (frame.bin + 1) / MARGIN_BINS
    frame["share"] = frame.tokens / frame.groupby(["stack", "layer"]).tokens.transform("sum")
    frame["near_tie_threshold"] = threshold
    return frame.drop(columns="bin").merge(summary, on=["stack", "layer"])
