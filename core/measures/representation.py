"""Yardsticks from the router's input (docs/definitions.md, "Router or representation?"): is routing's response to
context more than the response of the hidden state it reads, and more than any router of the same shape would give?

- cosine similarity of two router inputs (the representation's own similarity);
- random routers: the trained weight's shape and per-expert row norms, random directions;
- the ratio d(routing) / d(representation) with a bootstrap CI, and the partial point-biserial correlation of the
  label with routing JSS controlling for the inputs' cosine;
- the overlap of two chosen top-k expert sets, chance-normalised.
"""
from __future__ import annotations

import zlib

import numpy as np
from scipy import stats

from core.measures.claim_tests import Z95, Difference
from core.measures.metrics import cohens_d_along


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity along the last axis, in float64 (so ratios built on it, as retention, are exact to float64
    rounding), NaN where a vector is zero."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    num = (a * b).sum(axis=-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def router_seed(seed: int, model: str, stack: str, layer: int) -> list[int]:
    """An independent random-router seed per model, stack and layer (a SeedSequence entropy list): an encoder and a
    decoder router at the same position, or two models of the same shape, never share random directions."""
    return [int(seed), zlib.crc32(model.encode()), zlib.crc32(stack.encode()), int(layer)]


def random_routers(weight: np.ndarray, n: int, seed: int | list[int] | np.random.Generator = 0) -> np.ndarray:
    """(n, E, d) router weights with the trained `weight`'s shape and each expert row's norm, in random directions
    (Gaussian, normalised): a router that learned nothing about which direction goes to which expert, but whose
    logits have the trained scale."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    g = rng.standard_normal((n, *weight.shape))
    g /= np.linalg.norm(g, axis=-1, keepdims=True)
    return g * np.linalg.norm(weight, axis=-1)[None, :, None]


def softmax_probs(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """softmax(x · weightᵀ) over the last axis, in float64: the routing a router of `weight` gives inputs `x`."""
    logits = x.astype(np.float64) @ weight.T.astype(np.float64)
    logits -= logits.max(axis=-1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=-1, keepdims=True)


def partial_point_biserial(label: np.ndarray, y: np.ndarray, covariate: np.ndarray) -> Difference:
    """Correlation of a 0/1 label with y after both are regressed on the covariate (first order partial r), with a
    Fisher-z CI and p on n − 3 degrees (one covariate)."""
    ok = np.isfinite(y) & np.isfinite(covariate)
    label, y, covariate = label[ok].astype(float), y[ok], covariate[ok]
    n = len(y)
    if n < 5 or np.std(covariate) == 0 or np.std(label) == 0 or np.std(y) == 0:
        return Difference(float("nan"), float("nan"), float("nan"), float("nan"))
    design = np.column_stack([np.ones(n), covariate])
    res_y = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    res_l = label - design @ np.linalg.lstsq(design, label, rcond=None)[0]
    if np.std(res_y) <= 1e-9 * np.std(y) or np.std(res_l) <= 1e-9:  # y (or the label) is the covariate: undefined
        return Difference(float("nan"), float("nan"), float("nan"), float("nan"))
    r = float(np.corrcoef(res_l, res_y)[0, 1])
    z, half = np.arctanh(np.clip(r, -0.999999, 0.999999)), Z95 / np.sqrt(n - 4)
    p = float(2 * stats.norm.sf(abs(z) * np.sqrt(n - 4)))
    return Difference(r, float(np.tanh(z - half)), float(np.tanh(z + half)), p)


def retention(routing: np.ndarray, representation: np.ndarray, same: np.ndarray, n_resamples: int = 1000,
              seed: int = 0) -> Difference:
    """d(routing JSS) / d(inputs' cosine) between same- and different-meaning pairs, with a percentile bootstrap CI
    (pairs resampled within each label, the same resample for both). Undefined (NaN) when the representation's d is
    not clearly away from 0 (its own CI spans 0): a ratio over a denominator that may be 0 has no CI. p: none."""
    same = np.asarray(same, dtype=bool)
    ok = np.isfinite(routing) & np.isfinite(representation)
    routing, representation, same = routing[ok], representation[ok], same[ok]
    nan = Difference(float("nan"), float("nan"), float("nan"), float("nan"))
    if same.sum() < 2 or (~same).sum() < 2:
        return nan
    with np.errstate(invalid="ignore", divide="ignore"):  # a representation d of 0: the ratio is undefined (NaN/inf)
        value = float(cohens_d_along(routing[same], routing[~same])
                      / cohens_d_along(representation[same], representation[~same]))
    rng = np.random.default_rng(seed)
    t_idx = rng.integers(0, same.sum(), size=(n_resamples, same.sum()))
    f_idx = rng.integers(0, (~same).sum(), size=(n_resamples, (~same).sum()))
    d_rep = cohens_d_along(representation[same][t_idx], representation[~same][f_idx])
    if not (np.percentile(d_rep, 2.5) > 0 or np.percentile(d_rep, 97.5) < 0):
        return Difference(value, float("nan"), float("nan"), float("nan"))
    ratios = cohens_d_along(routing[same][t_idx], routing[~same][f_idx]) / d_rep
    low, high = np.percentile(ratios[np.isfinite(ratios)], [2.5, 97.5])
    return Difference(value, float(low), float(high), float("nan"))


def chosen_overlap(p: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """|A ∩ B| / k of the top-k experts of two routing distributions (last axis), chance-normalised as
    (overlap − k/E) / (1 − k/E): 0 = as two random k-sets overlap on average, 1 = the same set."""
    e = p.shape[-1]
    top_p = np.argsort(-p, axis=-1)[..., :k]
    top_q = np.argsort(-q, axis=-1)[..., :k]
    shared = (top_p[..., :, None] == top_q[..., None, :]).any(axis=-1).sum(axis=-1)
    overlap = shared / k
    return (overlap - k / e) / (1 - k / e)
