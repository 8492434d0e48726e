"""OLMoE's routing analyses (Muennighoff et al., arXiv 2409.02060, as its analysis code computes them), in DuckDB
over a corpus run's rows. Every frame names the definition it follows where the paper's code and the textbook differ.

The views these functions read (core.corpus.field_studies.token_view): doc, domain, position, token_id, stack,
layer, experts (the chosen set, the model's order), k, top1, dropped[, predicted].
"""
from __future__ import annotations

import pandas as pd

from core.corpus.shards_sql import quoted
from core.corpus.stats import MIN_COUNT as MIN_OCCURRENCES  # a token id's floor, as for the Experts statistics

ALL_PAIRS = "all pairs"
ADJACENT = "adjacent pairs (OLMoE's code)"
FIRST_CHOICE = "first choice (OLMoE's code)"
CHOSEN_SET = "chosen set"


def saturation(con, checkpoint: str, final: str) -> pd.DataFrame:
    """Per stack and layer: the mean over tokens of |top-k(checkpoint) ∩ top-k(final)| / k, and the share of tokens
    whose first choice agrees, over the tokens both runs routed (joined on doc, position)."""
    return con.execute(f"""SELECT f.stack, f.layer,
            avg(len(list_intersect(c.experts, f.experts)) / f.k) AS saturation,
            avg(CASE WHEN c.top1 = f.top1 THEN 1.0 ELSE 0.0 END) AS top1_agreement,
            count(*) AS n, sum(CASE WHEN c.token_id <> f.token_id THEN 1 ELSE 0 END) AS mismatched
        FROM {checkpoint} c JOIN {final} f USING (doc, position, stack, layer)
        GROUP BY ALL ORDER BY ALL""").df()


def coactivation(con, view: str) -> pd.DataFrame:
    """P(b | a) = pairs(a, b) / count(a) per stack and layer, by both definitions: every ordered pair of the chosen
    set (the textbook), and only the pairs adjacent in the probability-ranked top-k, counted both ways (OLMoE's code:
    `pairwise` over the ranked indices). count(a): tokens whose chosen set holds a. Empty for top-1 models."""
    kmax = int(con.execute(f"SELECT coalesce(max(k), 1) FROM {view}").fetchone()[0])
    return con.execute(f"""WITH base AS (SELECT stack, layer, experts AS s, k FROM {view} WHERE k > 1),
        counts AS (SELECT stack, layer, e AS expert_a, count(*) AS count_a
                   FROM (SELECT stack, layer, unnest(s) AS e FROM base) GROUP BY ALL),
        every AS (SELECT stack, layer, s[i] AS expert_a, s[j] AS expert_b
                  FROM base, range(1, {kmax + 1}) a(i), range(1, {kmax + 1}) b(j) WHERE i <= k AND j <= k AND i <> j),
        adjacent AS (SELECT stack, layer, s[i] AS expert_a, s[i + 1] AS expert_b FROM base, range(1, {kmax}) a(i)
                     WHERE i < k
                     UNION ALL
                     SELECT stack, layer, s[i + 1] AS expert_a, s[i] AS expert_b FROM base, range(1, {kmax}) a(i)
                     WHERE i < k),
        pairs AS (SELECT {quoted(ALL_PAIRS)} AS definition, stack, layer, expert_a, expert_b, count(*) AS pairs FROM every
                  GROUP BY ALL
                  UNION ALL
                  SELECT {quoted(ADJACENT)} AS definition, stack, layer, expert_a, expert_b, count(*) AS pairs FROM adjacent
                  GROUP BY ALL)
        SELECT p.*, c.count_a, p.pairs / c.count_a AS p_b_given_a FROM pairs p JOIN counts c USING (stack, layer, expert_a)
        ORDER BY definition, stack, layer, expert_a, expert_b""").df()


def _kinds(causal: bool, predicted: bool) -> dict[str, str]:
    """Which token each routing decision is filed under: the input (always), the true next token (`lead`, as OLMoE's
    code pairs input_ids[1:] with the routing at i) and the predicted one (decoder-only models)."""
    kinds = {"input": "token_id"}
    if causal:
        kinds["next"] = "lead(token_id) OVER (PARTITION BY doc, stack, layer ORDER BY position)"
        if predicted:
            kinds["predicted"] = "predicted"
    return kinds


def vocabulary_specialisation(con, view: str, experts: int, causal: bool, predicted: bool) -> pd.DataFrame:
    """Per stack, layer and kind of token (input; for decoder-only models also the true next token and, with
    `corpus --predictions`, the predicted one): for each token id seen ≥ 10 times, p(x) = max_e N(x, e) / N(x),
    averaged over the ids (unweighted). Two countings, named in `counting`: "first choice" (N(x, e): tokens of id x
    whose first choice is e; what OLMoE's code counts; uniform 1/E) and "chosen set" (tokens whose top-k holds e;
    uniform k/E). `normalised` = (p − uniform) / (1 − uniform)."""
    parts = []
    for kind, expr in _kinds(causal, predicted).items():
        parts.append(con.execute(f"""WITH t AS (SELECT stack, layer, experts, top1, k, {expr} AS x FROM {view}),
            n AS (SELECT stack, layer, x, count(*) AS occurrences, any_value(k) AS k FROM t WHERE x IS NOT NULL
                  GROUP BY ALL HAVING count(*) >= {MIN_OCCURRENCES}),
            first AS (SELECT stack, layer, x, max(c) AS c FROM (SELECT stack, layer, x, top1, count(*) AS c FROM t
                      WHERE x IS NOT NULL GROUP BY ALL) GROUP BY ALL),
            chosen AS (SELECT stack, layer, x, max(c) AS c FROM (SELECT stack, layer, x, e, count(*) AS c FROM
                       (SELECT stack, layer, x, unnest(experts) AS e FROM t WHERE x IS NOT NULL) GROUP BY ALL)
                       GROUP BY ALL),
            best AS (SELECT n.stack, n.layer, n.occurrences, n.k, first.c / n.occurrences AS p_first,
                            chosen.c / n.occurrences AS p_chosen
                     FROM n JOIN first USING (stack, layer, x) JOIN chosen USING (stack, layer, x))
            SELECT stack, layer, '{kind}' AS token_kind, avg(p_first) AS first_choice, avg(p_chosen) AS chosen_set,
                   any_value(k) AS k, count(*) AS token_ids, sum(occurrences) AS tokens
            FROM best GROUP BY ALL ORDER BY ALL""").df())
    wide = pd.concat(parts, ignore_index=True)
    frame = wide.melt(id_vars=["stack", "layer", "token_kind", "k", "token_ids", "tokens"],
                      value_vars=["first_choice", "chosen_set"], var_name="counting", value_name="specialisation")
    frame["counting"] = frame.counting.map({"first_choice": FIRST_CHOICE, "chosen_set": CHOSEN_SET})
    frame["uniform"] = (frame.counting == CHOSEN_SET) * (frame.k - 1) / experts + 1 / experts
    frame["normalised"] = (frame.specialisation - frame.uniform) / (1 - frame.uniform)
    return frame.sort_values(["counting", "token_kind", "stack", "layer"], ignore_index=True)


def domain_specialisation(con, view: str, experts: int) -> pd.DataFrame:
    """Per stack, layer, domain and expert, both normalisations: `share_of_assignments` = N(D, e) / (k · N(D)), the
    share of the domain's k routed assignments that go to e (sums to 1 over experts; uniform 1/E), and
    `share_of_tokens` = N(D, e) / N(D), the share of the domain's tokens whose chosen set holds e (OLMoE's figure;
    uniform k/E). For top-1 models the two are the same."""
    frame = con.execute(f"""WITH d AS (SELECT stack, layer, domain, count(*) AS domain_tokens, any_value(k) AS k
                                      FROM {view} GROUP BY ALL),
        c AS (SELECT stack, layer, domain, unnest(experts) AS expert FROM {view})
        SELECT c.stack, c.layer, c.domain, c.expert, count(*) AS n, any_value(d.domain_tokens) AS domain_tokens,
               any_value(d.k) AS k
        FROM c JOIN d USING (stack, layer, domain) GROUP BY ALL ORDER BY ALL""").df()
    frame["share_of_assignments"] = frame.n / (frame.k * frame.domain_tokens)
    frame["uniform_assignments"] = 1 / experts
    frame["share_of_tokens"] = frame.n / frame.domain_tokens
    frame["uniform_tokens"] = frame.k / experts
    return frame
