"""Mixtral's expert repetition between consecutive tokens (Jiang et al., arXiv 2401.04088, Table 5), in DuckDB over a
corpus run's rows (the token view of core.corpus.field_studies)."""
from __future__ import annotations

from math import comb

import pandas as pd

ALL_DOMAINS = "all"


def chance_intersect(experts: int, k: int) -> float:
    """The probability that two chosen sets drawn uniformly at random (k of E each) share an expert:
    1 − C(E−k, k) / C(E, k); 13/28 ≈ 46 % for k = 2, E = 8."""
    return 1.0 - comb(experts - k, k) / comb(experts, k) if experts >= k else 1.0


def consecutive(con, view: str, experts: int) -> pd.DataFrame:
    """Per stack, layer and domain (and over all domains): of the consecutive token pairs (i, i+1) of one segment,
    the share whose first choice is the same expert (Table 5's "first choice"; chance 1/E) and the share whose
    chosen sets intersect ("first or second choice" for k = 2; chance 1 − C(E−k,k)/C(E,k))."""
    frame = con.execute(f"""WITH p AS (SELECT stack, layer, domain, k, top1, experts,
                lead(top1) OVER w AS next_top1, lead(experts) OVER w AS next_experts
            FROM {view} WINDOW w AS (PARTITION BY doc, stack, layer ORDER BY position)),
        q AS (SELECT stack, layer, domain, k, CASE WHEN top1 = next_top1 THEN 1 ELSE 0 END AS same,
                     CASE WHEN len(list_intersect(experts, next_experts)) > 0 THEN 1 ELSE 0 END AS meet
              FROM p WHERE next_top1 IS NOT NULL)
        SELECT stack, layer, domain, any_value(k) AS k, sum(same) AS same_first, sum(meet) AS intersecting,
               count(*) AS pairs FROM q GROUP BY GROUPING SETS ((stack, layer, domain), (stack, layer))
        ORDER BY stack, layer, domain NULLS FIRST""").df()
    frame["domain"] = frame.domain.fillna(ALL_DOMAINS)
    frame["first_choice"] = frame.same_first / frame.pairs
    frame["chance_first"] = 1 / experts
    frame["any_choice"] = frame.intersecting / frame.pairs
    frame["chance_any"] = [chance_intersect(experts, int(k)) for k in frame.k]
    return frame
