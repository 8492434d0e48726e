"""The tests the claims need beyond one number's own CI (docs/definitions.md, "How each claim is judged"):

- two correlations from different pairs (WordSim353 vs SimLex-999): Zou's (2007) CI for the difference of two
  independent correlations, built from each correlation's own CI, and a Fisher-z p with the Bonett–Wright (2000)
  standard error for Spearman's ρ;
- one effect in two stacks on the same pairs (encoder vs decoder d): a paired bootstrap that resamples WiC pairs,
  the same resample in both stacks and every layer;
- a correlation's Fisher-z CI and the smallest correlation its n detects with 80 % power (the "no trend" claim).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from core.measures.metrics import cohens_d_along

Z95 = float(stats.norm.ppf(0.975))
CHUNK = 100


@dataclass(frozen=True)
class Difference:
    value: float
    ci_low: float
    ci_high: float
    p: float


def independent_correlations(r1: float, ci1: tuple[float, float], n1: int, r2: float, ci2: tuple[float, float],
                             n2: int) -> Difference:
    """r1 − r2 for correlations of two independent samples. CI: Zou (2007), eq. 13 — each bound combines the
    distances of r1 and r2 to their own CI bounds, so whatever CI each ρ has (bootstrap here) carries over. p: the
    two-sided Fisher-z test, z = (atanh r1 − atanh r2) / √(v1 + v2), v = (1 + r²/2)/(n − 3) for Spearman's ρ."""
    (l1, u1), (l2, u2) = ci1, ci2
    diff = r1 - r2
    low = diff - np.sqrt((r1 - l1) ** 2 + (u2 - r2) ** 2)
    high = diff + np.sqrt((u1 - r1) ** 2 + (r2 - l2) ** 2)
    if min(n1, n2) <= 3:
        return Difference(float(diff), float(low), float(high), float("nan"))
    var = (1 + r1**2 / 2) / (n1 - 3) + (1 + r2**2 / 2) / (n2 - 3)
    z = (np.arctanh(np.clip(r1, -0.999999, 0.999999)) - np.arctanh(np.clip(r2, -0.999999, 0.999999))) / np.sqrt(var)
    return Difference(float(diff), float(low), float(high), float(2 * stats.norm.sf(abs(z))))


def _d_rows(jss: np.ndarray, same: np.ndarray, rows_same: np.ndarray, rows_diff: np.ndarray) -> np.ndarray:
    """Cohen's d per layer (rows of `jss`) for each resample: `rows_*` are (B, n) pair indices into each group."""
    return cohens_d_along(jss[:, same][:, rows_same], jss[:, ~same][:, rows_diff])  # (layers, B)


def paired_d_difference(first: np.ndarray, second: np.ndarray, same: np.ndarray, n_resamples: int = 1000,
                        seed: int = 0) -> Difference:
    """mean over layers of d(first) − mean over layers of d(second), where `first` and `second` are (layers, pairs)
    JSS of the same pairs and `same` marks same-meaning pairs. The bootstrap resamples pairs within each label (as
    the per-layer d's CI does) and applies one resample to every layer of both stacks, so what the two stacks share
    cancels. CI: percentiles; p: twice the smaller tail of the resampled differences around 0."""
    same = np.asarray(same, dtype=bool)
    if same.sum() < 2 or (~same).sum() < 2:
        return Difference(float("nan"), float("nan"), float("nan"), float("nan"))
    whole_t, whole_f = np.arange(same.sum())[None], np.arange((~same).sum())[None]
    value = float(np.nanmean(_d_rows(first, same, whole_t, whole_f)) - np.nanmean(_d_rows(second, same, whole_t,
                                                                                          whole_f)))
    rng = np.random.default_rng(seed)
    boot = []
    for start in range(0, n_resamples, CHUNK):  # chunks bound memory: layers × CHUNK × pairs floats at a time
        b = min(CHUNK, n_resamples - start)
        rows_t = rng.integers(0, same.sum(), size=(b, same.sum()))
        rows_f = rng.integers(0, (~same).sum(), size=(b, (~same).sum()))
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a layer with no spread: NaN d, left out of the mean
            boot.append(np.nanmean(_d_rows(first, same, rows_t, rows_f), axis=0)
                        - np.nanmean(_d_rows(second, same, rows_t, rows_f), axis=0))
    boot = np.concatenate(boot)
    boot = boot[np.isfinite(boot)]
    if not len(boot):
        return Difference(value, float("nan"), float("nan"), float("nan"))
    low, high = np.percentile(boot, [2.5, 97.5])
    p = min(1.0, 2 * min((boot <= 0).mean(), (boot >= 0).mean()))
    return Difference(value, float(low), float(high), float(max(p, 1 / (len(boot) + 1))))


def correlation_ci(r: float, n: int) -> tuple[float, float]:
    """Fisher-z 95 % CI of a Pearson r from n points (NaN below 4 points)."""
    if n <= 3 or not np.isfinite(r):
        return float("nan"), float("nan")
    z, half = np.arctanh(np.clip(r, -0.999999, 0.999999)), Z95 / np.sqrt(n - 3)
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def detectable_r(n: int, power: float = 0.8, alpha: float = 0.05) -> float:
    """The smallest |r| a two-sided test at `alpha` detects with `power` from n points (Fisher z)."""
    if n <= 3:
        return float("nan")
    return float(np.tanh((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) / np.sqrt(n - 3)))
