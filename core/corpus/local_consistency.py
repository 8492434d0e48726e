"""Local routing consistency as its authors compute it (arXiv 2505.16056; their code, ljcleo/moe-lrc: `30_srp_calc`,
`31_srp_refine`, `41_sch_calc`), beside Routing Lens's earlier fixed-segment variant (core/corpus/consistency.py):

- **SRP** (segment routing best performance) over *sliding* segments of m tokens — one starting at every position
  of a sequence. Predict that an expert serves a whole segment when it is chosen by at least t of its m tokens; each
  prediction covers the segment's m tokens. Matches M(t) = Σ over (segment, expert) with count c ≥ t of c; predictions
  P(t) = m × the number of such pairs; activations A = every segment's m·k choices. SRP is the best F1 over t,
  2 M(t) / (P(t) + A), pooled over the segments of all sequences.
- **SCH** (segment cache best hit rate) with a look-ahead of m tokens, for a cache of C experts: at each token, the
  experts seen so far are ranked by how often they are chosen in the next m tokens (this one included), then by how
  recently they were used; an access hits when its expert ranks among the first C. An expert's first access counts
  at the number of distinct experts seen before it (a cache that has only ever held those). The share of hits per
  sequence, averaged over sequences.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def srp_sliding(sequences: Sequence[np.ndarray], experts: int, m: int) -> tuple[float, int]:
    """(best F1, its threshold t) over every sliding segment of `m` tokens of `sequences` (each (T, k) chosen experts);
    (nan, 0) when no sequence is m tokens long."""
    hist = np.zeros(m + 1, dtype=np.int64)  # how many (segment, expert) pairs have each count 0…m
    for seq in sequences:
        seq = np.asarray(seq, dtype=np.int64)
        if len(seq) < m:
            continue
        chosen = np.zeros((len(seq), experts), dtype=np.int64)
        np.put_along_axis(chosen, seq, 1, axis=-1)
        cum = np.vstack([np.zeros((1, experts), dtype=np.int64), chosen.cumsum(0)])
        counts = cum[m:] - cum[:-m]  # (segments, E): each expert's count in each sliding segment
        hist += np.bincount(counts.reshape(-1), minlength=m + 1)[: m + 1]
    if not hist.any():
        return float("nan"), 0
    c = np.arange(m + 1)
    matches = np.cumsum((c * hist)[::-1])[::-1]  # M(t) = Σ_{c ≥ t} c·h(c)
    predictions = m * np.cumsum(hist[::-1])[::-1]  # P(t) = m · Σ_{c ≥ t} h(c)
    activations = matches[0]
    f1 = 2 * matches / np.maximum(predictions + activations, 1)
    best = int(np.argmax(f1))
    return float(f1[best]), best


def sch_lookahead(sequences: Sequence[np.ndarray], experts: int, m: int, caches: Sequence[int]) -> dict[int, float]:
    """Cache size → hit rate with a look-ahead of `m` tokens (the module's docstring), averaged over sequences."""
    rates: dict[int, list[float]] = {c: [] for c in caches}
    for seq in sequences:
        seq = np.asarray(seq, dtype=np.int64)
        if not len(seq):
            continue
        hits_at = np.zeros(experts + 1, dtype=np.int64)  # accesses per rank (the rank an access was served at)
        future = np.zeros(experts, dtype=np.int64)
        for row in seq[:m]:
            np.add.at(future, row, 1)
        last = np.full(experts, -1, dtype=np.int64)  # last use (-1: never seen)
        seen, clock = 0, 0
        for i, row in enumerate(seq):
            order = [e for e in np.lexsort((-last, -future)) if last[e] >= 0]  # future count, then recency
            rank = {int(e): r for r, e in enumerate(order)}
            for e in row.tolist():
                if e in rank:
                    hits_at[rank[e]] += 1
                else:
                    hits_at[seen] += 1  # a first access: at the number of distinct experts seen before it
                    seen += 1
                    rank[e] = experts  # a second access in the same token is not a first one
                future[e] -= 1
                clock += 1
                last[e] = clock
            if i + m < len(seq):
                np.add.at(future, seq[i + m], 1)
        served = np.cumsum(hits_at) / seq.size
        for c in caches:
            rates[c].append(float(served[min(c, experts) - 1]))
    return {c: float(np.mean(v)) if v else float("nan") for c, v in rates.items()}


SEGMENT_LENGTHS = (4, 8, 16, 32, 64)
CACHE_MULTIPLES = (1, 2, 4)
MAX_TOKENS = 20_000  # per stack and layer: SCH walks token by token (the authors subsample too: every 16th sequence)


def authors_consistency(con, view: str, experts: int, lengths: tuple[int, ...] = SEGMENT_LENGTHS,
                        multiples: tuple[int, ...] = CACHE_MULTIPLES, max_tokens: int = MAX_TOKENS):
    """Per stack, layer and segment length: SRP over sliding segments (best F1 and its threshold) and SCH with a
    look-ahead for caches of k, 2k, 4k experts, on each corpus segment's tokens in order (the first `max_tokens`
    tokens of each stack and layer)."""
    import pandas as pd

    rows = con.execute(f"""SELECT stack, layer, doc, list(experts ORDER BY position) AS seq FROM {view}
                           GROUP BY ALL ORDER BY stack, layer, doc""").df()
    out = []
    for (stack, layer), g in rows.groupby(["stack", "layer"], sort=True):
        seqs, total = [], 0
        for seq in g.seq:
            if total >= max_tokens:
                break
            arr = np.asarray([np.asarray(s, dtype=np.int64) for s in seq])
            seqs.append(arr)
            total += len(arr)
        k = seqs[0].shape[-1] if seqs else 1
        caches = sorted({min(mult * k, experts) for mult in multiples})
        for m in lengths:
            srp, threshold = srp_sliding(seqs, experts, m)
            out.append({"stack": stack, "layer": int(layer), "segment_length": m, "measure": "SRP", "cache": k,
                        "value": srp, "threshold": threshold, "tokens": total})
            for cache, rate in sch_lookahead(seqs, experts, m, caches).items():
                out.append({"stack": stack, "layer": int(layer), "segment_length": m, "measure": "SCH",
                            "cache": cache, "value": rate, "threshold": np.nan, "tokens": total})
    return pd.DataFrame(out, columns=["stack", "layer", "segment_length", "measure", "cache", "value", "threshold",
                                      "tokens"])
