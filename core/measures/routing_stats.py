"""What the field measures of routing beyond the paper, on plain arrays (the corpus studies count the same in SQL):

- the *decision margin* of a top-k choice (Megatron-Core's router diagnostics): how far the lowest chosen probability
  sits above the highest unchosen one, absolute and relative to the lowest chosen — 0 at a tie, so a "re-route" with a
  margin near 0 may be a near-tie flip, not context; a near-tie is a margin below NEAR_TIE_FRACTION / E;
- *balance indices* of an expert load (NeMo AutoModel, MoEWatch): coefficient of variation, exp(entropy)/E,
  max/mean, the share of dead experts, and the top-N experts' share against the uniform N/E;
- *pathways* across layers (arXiv 2412.16971; Megatron's routing tools): Jaccard of consecutive layers' chosen sets,
  and how well layer L's choice predicts layer L+1's (the best mapping's accuracy and the mutual information), each
  with its chance level.
"""
from __future__ import annotations

from math import ceil, comb

import numpy as np

NEAR_TIE_FRACTION = 0.4  # a decision margin below this fraction of 1/E is a near-tie (E = 8: 0.05)
NEAR_TIE = NEAR_TIE_FRACTION / 8  # the threshold at 8 experts, for captions that name one number
NEAR_TIE_RELATIVE = 0.25  # a relative margin below this is a near-tie (the k-th expert's lead, as a share of it)


def near_tie_threshold(experts) -> np.ndarray | float:
    """The absolute margin below which a decision over `experts` is a near-tie: NEAR_TIE_FRACTION / E. A fixed 0.05
    would call nearly every decision over 64 experts a near-tie, where every probability is small."""
    return NEAR_TIE_FRACTION / np.asarray(experts, dtype=np.float64) if np.ndim(experts) else NEAR_TIE_FRACTION / experts


def decision_margins(probs: np.ndarray, selected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(absolute, relative) margins of the decision actually made (Megatron-Core's router diagnostics): the lowest
    chosen expert's probability − the highest unchosen one's, and that gap as a share of the lowest chosen
    (TOPK_BOUNDARY_RELATIVE_MARGIN). Negative where a selection bias or group limit chose past a more probable expert;
    for a plain top-k choice the absolute form is p_(k) − p_(k+1)."""
    probs = np.asarray(probs, dtype=np.float64)
    chosen = np.zeros(probs.shape, dtype=bool)
    np.put_along_axis(chosen, np.asarray(selected, dtype=np.int64), True, axis=-1)
    low = np.where(chosen, probs, np.inf).min(-1)
    high = np.where(chosen, -np.inf, probs).max(-1)
    high = np.where(np.isfinite(high), high, 0.0)  # every expert chosen: no runner-up
    gap = low - high
    with np.errstate(invalid="ignore", divide="ignore"):
        return gap, np.where(low > 0, gap / low, np.nan)


def margins(probs: np.ndarray, k: int) -> np.ndarray:
    """(...) p_(k) − p_(k+1) of each distribution (..., E), sorted descending: the top-k boundary's margin. NaN rows
    stay NaN; with k = E there is no runner-up and the margin is the k-th probability."""
    probs = np.asarray(probs, dtype=np.float64)
    ordered = -np.sort(-probs, axis=-1)
    if k >= probs.shape[-1]:
        return ordered[..., -1]
    return ordered[..., k - 1] - ordered[..., k]


def top_n(experts: int) -> int:
    """N of the top-N coverage: a quarter of the experts (at least one)."""
    return max(1, ceil(experts / 4))


def balance(load: np.ndarray) -> dict[str, float]:
    """Balance indices of one layer's expert load (assignments per expert, all E of them): `cv` (population SD / mean;
    0 when balanced), `effective_share` (exp(H of the load shares) / E; 1 when balanced), `max_over_mean`, `dead_share`
    (experts with no assignment), `top_n_share` (the N = E/4 busiest experts' share) and `uniform_top_n` (N / E)."""
    load = np.asarray(load, dtype=np.float64)
    e, total = len(load), float(load.sum())
    n = top_n(e)
    if total <= 0:
        return {"cv": np.nan, "effective_share": np.nan, "max_over_mean": np.nan, "dead_share": 1.0,
                "top_n": n, "top_n_share": np.nan, "uniform_top_n": n / e}
    share = load / total
    nz = share[share > 0]
    return {"cv": float(load.std() / load.mean()), "effective_share": float(np.exp(-(nz * np.log(nz)).sum()) / e),
            "max_over_mean": float(load.max() / load.mean()), "dead_share": float((load == 0).mean()), "top_n": n,
            "top_n_share": float(np.sort(share)[::-1][:n].sum()), "uniform_top_n": n / e}


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) |A ∩ B| / |A ∪ B| of each row's chosen sets (N, k) at two layers."""
    a, b = np.asarray(a), np.asarray(b)
    inter = (a[:, :, None] == b[:, None, :]).any(-1).sum(-1)
    return inter / (a.shape[1] + b.shape[1] - inter)


def jaccard_chance(experts: int, k: int) -> float:
    """E[|A ∩ B| / |A ∪ B|] of two chosen sets drawn uniformly at random (k of E each): hypergeometric overlap."""
    total = comb(experts, k)
    return sum(comb(k, i) * comb(experts - k, k - i) / total * i / (2 * k - i) for i in range(0, k + 1)
               if 0 <= k - i <= experts - k)


def predictability(x: np.ndarray, y: np.ndarray, experts: int) -> dict[str, float]:
    """How well one layer's first choice `x` predicts the next layer's `y` (N,): `accuracy` of the best mapping (each
    x to its most frequent y), `chance_accuracy` (always the most frequent y), `mi_bits` (mutual information, plug-in)
    and `max_mi_bits` (the entropy of y: the MI when y is a function of x)."""
    counts = np.zeros((experts, experts))
    np.add.at(counts, (np.asarray(x, dtype=np.int64), np.asarray(y, dtype=np.int64)), 1)
    n = counts.sum()
    if n == 0:
        return {"accuracy": np.nan, "chance_accuracy": np.nan, "mi_bits": np.nan, "max_mi_bits": np.nan}
    joint = counts / n
    px, py = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    mi = float((joint[nz] * np.log2(joint[nz] / (px @ py)[nz])).sum())
    pyv = py[py > 0]
    return {"accuracy": float(counts.max(1).sum() / n), "chance_accuracy": float(py.max()), "mi_bits": mi,
            "max_mi_bits": float(-(pyv * np.log2(pyv)).sum())}
