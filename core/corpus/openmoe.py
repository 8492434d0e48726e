"""OpenMoE's routing analyses (Xue et al., arXiv 2402.01739), in DuckDB over a corpus run's rows (the token view of
core.corpus.field_studies): drops towards the end of a sequence, context-independent specialisation, early routing
learning across checkpoints."""
from __future__ import annotations

import pandas as pd

from core.corpus.stats import MIN_COUNT as MIN_OCCURRENCES  # a token or position id's floor for its shares
from core.measures.metrics import jss

OWN_CAPACITY = "the model's own capacity"
FIXED_TOKENS = 40  # the most frequent token ids whose early learning is kept one by one


MIN_CAPACITY = 4  # the floor the papers' code keeps (ColossalAI's OpenMoE port)


def simulated_label(factor: float) -> str:
    return (f"simulated capacity factor {factor:g} (capacity = max({MIN_CAPACITY}, ⌊k × {factor:g} × T / E⌋ rounded "
            "up to even) per expert and segment of T tokens)")


def capacity(factor: float, k: int, tokens: int, experts: int) -> int:
    """Assignments an expert takes per segment, as the papers' code has it: ⌊k · factor · T / E⌋, rounded up to an
    even number, at least MIN_CAPACITY (so a top-8 model is not made to drop 75 % by the definition alone, and a short
    segment does not drop everything)."""
    c = int(k * factor * tokens // experts)
    return max(MIN_CAPACITY, c + c % 2)


def drops_by_position(con, view: str, experts: int, capacity_factor: float, own: bool) -> pd.DataFrame:
    """Per stack, layer and position in the segment: the share of routed assignments dropped for lack of room. With
    `own` (a family with a capacity, e.g. Switch) the model's own drops; otherwise a simulated capacity: each expert
    takes at most `capacity(factor, k, T, E)` assignments of a T-token segment, first choices before second ones and,
    within a rank, earlier positions first (the GShard/Switch order that makes drops pile up at the end)."""
    if own:
        frame = con.execute(f"""SELECT stack, layer, position, sum(CASE WHEN dropped THEN 1 ELSE 0 END) AS dropped,
            count(*) AS assignments FROM {view} GROUP BY ALL ORDER BY ALL""").df()
        frame["capacity"] = OWN_CAPACITY
    else:
        f, e = float(capacity_factor), int(experts)
        frame = con.execute(f"""WITH a AS (SELECT doc, stack, layer, position, r, k, experts[r] AS e,
                    count(*) OVER (PARTITION BY doc, stack, layer) // k AS t
                FROM {view}, range(1, (SELECT max(k) FROM {view}) + 1) x(r) WHERE r <= k),
            c AS (SELECT *, CAST(floor(k * {f} * t / {e}) AS BIGINT) AS raw FROM a),
            ranked AS (SELECT stack, layer, position, greatest({MIN_CAPACITY}, raw + raw % 2) AS cap, row_number() OVER
                    (PARTITION BY doc, stack, layer, e ORDER BY r, position) AS slot FROM c)
            SELECT stack, layer, position, sum(CASE WHEN slot > cap THEN 1 ELSE 0 END) AS dropped,
                   count(*) AS assignments FROM ranked GROUP BY ALL ORDER BY ALL""").df()
        frame["capacity"] = simulated_label(capacity_factor)
    frame["drop_ratio"] = frame.dropped / frame.assignments
    return frame


def context_independence(con, view: str, experts: int) -> pd.DataFrame:
    """Per stack and layer, for grouping by token id and by position id: the population standard deviation across the ids
    (each seen ≥ 10 times) of an expert's routing share N(id, e) / (k · N(id)), averaged over all E experts (an expert no qualifying id reaches counts with SD 0, so a rare token never changes
    the average). A large spread
    across token ids beside a small one across positions means routing follows the token, not where it stands
    (OpenMoE's context-independent specialisation)."""
    parts = []
    for grouping, column in (("token id", "token_id"), ("position id", "position")):
        parts.append(con.execute(f"""WITH g AS (SELECT stack, layer, {column} AS g, count(*) AS n, any_value(k) AS k
                    FROM {view} GROUP BY ALL HAVING count(*) >= {MIN_OCCURRENCES}),
                c AS (SELECT stack, layer, {column} AS g, e, count(*) AS c FROM
                      (SELECT stack, layer, {column}, unnest(experts) AS e FROM {view}) GROUP BY ALL),
                s AS (SELECT c.stack, c.layer, c.e, c.c / (g.k * g.n) AS share FROM c JOIN g USING (stack, layer, g)),
                ids AS (SELECT stack, layer, count(*) AS ids FROM g GROUP BY ALL),
                experts AS (SELECT DISTINCT c.stack, c.layer, x.e FROM c, range({int(experts)}) x(e)),
                m AS (SELECT x.stack, x.layer, x.e, coalesce(sum(s.share), 0) AS s1, coalesce(sum(s.share * s.share), 0) AS s2
                      FROM experts x LEFT JOIN s USING (stack, layer, e) GROUP BY ALL)
            SELECT m.stack, m.layer, '{grouping}' AS grouping, any_value(ids.ids) AS ids,
                   avg(sqrt(greatest(m.s2 / ids.ids - (m.s1 / ids.ids) ^ 2, 0))) AS std_share
            FROM m JOIN ids USING (stack, layer) GROUP BY ALL ORDER BY ALL""").df())
    return pd.concat(parts, ignore_index=True)


def token_distributions(con, checkpoint: str, final: str) -> pd.DataFrame:
    """Counts of each (stack, layer, token id, expert) assignment in a checkpoint and in the final run, over the tokens
    both routed, for the token ids seen ≥ 10 times there."""
    return con.execute(f"""WITH j AS (SELECT f.stack, f.layer, f.token_id, c.experts AS ce, f.experts AS fe
                FROM {checkpoint} c JOIN {final} f USING (doc, position, stack, layer)),
            keep AS (SELECT stack, layer, token_id, count(*) AS occurrences FROM j GROUP BY ALL
                     HAVING count(*) >= {MIN_OCCURRENCES}),
            cc AS (SELECT stack, layer, token_id, e, count(*) AS checkpoint FROM
                   (SELECT stack, layer, token_id, unnest(ce) AS e FROM j) GROUP BY ALL),
            fc AS (SELECT stack, layer, token_id, e, count(*) AS final FROM
                   (SELECT stack, layer, token_id, unnest(fe) AS e FROM j) GROUP BY ALL)
        SELECT keep.stack, keep.layer, keep.token_id, keep.occurrences, x.e AS expert,
               coalesce(cc.checkpoint, 0) AS checkpoint, coalesce(fc.final, 0) AS final
        FROM keep JOIN (SELECT stack, layer, token_id, e FROM cc UNION SELECT stack, layer, token_id, e FROM fc) x
             USING (stack, layer, token_id)
        LEFT JOIN cc USING (stack, layer, token_id, e) LEFT JOIN fc USING (stack, layer, token_id, e)""").df()


def early_learning(counts: pd.DataFrame, experts: int) -> pd.DataFrame:
    """Per stack, layer and token id: the JSS between the token's routing distribution (the share of its assignments
    each expert takes) at the checkpoint and at the final model — 1 when the token is already routed as it will
    be at the end (OpenMoE's early routing learning)."""
    keys = ["stack", "layer", "token_id"]
    if counts.empty:
        return pd.DataFrame(columns=[*keys, "occurrences", "jss"])
    grids = {side: counts.pivot_table(index=keys, columns="expert", values=side, aggfunc="sum", fill_value=0)
             .reindex(columns=range(experts), fill_value=0) for side in ("checkpoint", "final")}
    a, b = grids["checkpoint"].to_numpy(float), grids["final"].loc[grids["checkpoint"].index].to_numpy(float)
    out = grids["checkpoint"].index.to_frame(index=False)
    out["occurrences"] = counts.groupby(keys).occurrences.first().loc[grids["checkpoint"].index].to_numpy()
    out["jss"] = jss(a / a.sum(1, keepdims=True), b / b.sum(1, keepdims=True))
    return out
