"""Local routing consistency (arXiv 2505.16056), in DuckDB over a corpus run's rows: does a short stretch of text keep
using the same few experts? It decides whether a model suits expert offloading (a cache of experts on the GPU).

For a segment of m consecutive tokens (non-overlapping, inside one corpus segment; a shorter tail is left out), count
how often each expert is chosen. Then:

- **SRP** (segment routing best performance): the share of the segment's m·k assignments that the best fixed group of
  k experts would serve — the k largest counts over m·k. 1 when every token of the segment chooses the same k experts;
  about k/E for routing with no local consistency and long segments.
- **SCH** (segment cache best hit rate) for a cache of C experts: the C largest counts over m·k — the hit rate of the
  best cache held fixed for the segment. SRP is SCH at C = k.

Both are averaged over the segments of each stack and layer, for every segment length and cache size in the grid.
"""
from __future__ import annotations

import pandas as pd

SEGMENT_LENGTHS = (4, 8, 16, 32, 64)
CACHE_MULTIPLES = (1, 2, 4)  # cache sizes C = multiple × k (capped at E); C = k gives SRP


def consistency(con, view: str, experts: int, lengths: tuple[int, ...] = SEGMENT_LENGTHS,
                multiples: tuple[int, ...] = CACHE_MULTIPLES) -> pd.DataFrame:
    """Per stack, layer, segment length m and cache size C: SCH (and SRP where C = k), with the segments counted."""
    parts = []
    for m in lengths:
        counts = f"""c AS (SELECT doc, stack, layer, position // {int(m)} AS seg, e, count(*) AS n,
                        any_value(k) AS k FROM (SELECT doc, stack, layer, position, k, unnest(experts) AS e FROM {view})
                    GROUP BY ALL),
            whole AS (SELECT doc, stack, layer, position // {int(m)} AS seg FROM {view}
                     GROUP BY ALL HAVING count(*) = {int(m)}),
            r AS (SELECT c.*, row_number() OVER (PARTITION BY c.doc, c.stack, c.layer, c.seg ORDER BY n DESC, e)
                  AS rank FROM c JOIN whole USING (doc, stack, layer, seg))"""
        for mult in multiples:
            parts.append(con.execute(f"""WITH {counts},
                hit AS (SELECT doc, stack, layer, seg, any_value(k) AS k,
                               sum(CASE WHEN rank <= least({int(mult)} * k, {int(experts)}) THEN n ELSE 0 END)
                               / ({int(m)} * any_value(k)) AS sch
                        FROM r GROUP BY ALL)
                SELECT stack, layer, {int(m)} AS segment_length, least({int(mult)} * any_value(k), {int(experts)})
                       AS cache, {int(mult)} AS cache_multiple, avg(sch) AS sch, count(*) AS segments
                FROM hit GROUP BY stack, layer ORDER BY ALL""").df())
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if frame.empty:
        return pd.DataFrame(columns=["stack", "layer", "segment_length", "cache", "cache_multiple", "sch", "segments",
                                     "is_srp"])
    frame["is_srp"] = frame.cache_multiple == 1
    return frame
