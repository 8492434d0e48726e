"""The paper's measures, thin over scipy (docs/definitions.md)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

from core.types import Similarity


def jss(p: np.ndarray, q: np.ndarray, measure: Similarity = "1-JSD") -> np.ndarray:
    """Jensen–Shannon similarity 1 − JSD (base-2 logs) along the last axis; 1 = identical, 0 = disjoint.
    `measure="1-JS distance"` gives 1 − √JSD instead (the paper does not say which; the sensitivity table shows
    what the choice changes)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    distance = jensenshannon(p, q, base=2, axis=-1)  # scipy returns sqrt(JSD)
    # two (nearly) identical distributions: scipy's divergence can round to −1e−17, whose root is NaN; it is 0
    rounded = np.isnan(distance) & np.isfinite(p).all(axis=-1) & np.isfinite(q).all(axis=-1)
    distance = np.where(rounded, 0.0, distance)
    return np.clip(1.0 - (distance if measure == "1-JS distance" else np.square(distance)), 0.0, 1.0)


@dataclass(frozen=True)
class Correlation:
    """Spearman ρ with everything docs/definitions.md asks to report beside it."""

    rho: float
    p: float
    n: int
    ci_low: float
    ci_high: float


def spearman(x, y, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95) -> Correlation:
    """Spearman ρ, its p-value, n and a percentile bootstrap CI over pairs (NaN pairs dropped)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(len(x))
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Correlation(float("nan"), float("nan"), n, float("nan"), float("nan"))
    res = stats.spearmanr(x, y)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))
    boot = _spearman_along(x[idx], y[idx], axis=1)
    boot = boot[np.isfinite(boot)]
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha]) if boot.size else (np.nan, np.nan)
    return Correlation(float(res.statistic), float(res.pvalue), n, float(lo), float(hi))


def cohens_d(a, b) -> float:
    """(mean a − mean b) / pooled standard deviation (ddof 1)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return float("nan")
    pooled = np.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    return float((a.mean() - b.mean()) / pooled) if pooled > 0 else float("nan")


@dataclass(frozen=True)
class EffectSize:
    """Cohen's d with a bootstrap CI and Welch's t-test p-value (docs/definitions.md)."""

    d: float
    ci_low: float
    ci_high: float
    p: float


def cohens_d_along(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """Cohen's d along `axis` (vectorised for scipy.stats.bootstrap)."""
    na, nb = a.shape[axis], b.shape[axis]
    pooled = np.sqrt(((na - 1) * a.var(axis=axis, ddof=1) + (nb - 1) * b.var(axis=axis, ddof=1)) / (na + nb - 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a.mean(axis=axis) - b.mean(axis=axis)) / pooled


def effect_size(a, b, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95) -> EffectSize:
    """Cohen's d of a − b, its percentile bootstrap CI (each group resampled on its own, scipy.stats.bootstrap) and
    the two-sided p of Welch's t-test (scipy.stats.ttest_ind, unequal variances)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = cohens_d(a, b)
    if not np.isfinite(d):
        return EffectSize(d, float("nan"), float("nan"), float("nan"))
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")  # tiny or near-constant groups: degenerate resamples give NaN, said so
        boot = stats.bootstrap((a, b), cohens_d_along, n_resamples=n_resamples, confidence_level=confidence,
                               method="percentile", vectorized=True, rng=np.random.default_rng(seed))
        p = stats.ttest_ind(a, b, equal_var=False).pvalue  # near-constant groups warn of precision loss
    return EffectSize(d, float(boot.confidence_interval.low), float(boot.confidence_interval.high), float(p))


@dataclass(frozen=True)
class CorrelationGain:
    """ρ(with) − ρ(without) on the same pairs, with a paired bootstrap CI and p (docs/definitions.md)."""

    rho_without: float
    rho_with: float
    gain: float
    ci_low: float
    ci_high: float
    p: float
    n: int
    williams_t: float = float("nan")  # analytic test of the same difference (see williams_test)
    williams_p: float = float("nan")


@dataclass(frozen=True)
class DependentTest:
    """Williams's t for r12 − r13 (two correlations sharing variable 1), df = n − 3, two-sided p."""

    t: float
    df: int
    p: float


def williams_test(r12: float, r13: float, r23: float, n: int) -> DependentTest:
    """Williams's (1959) t for the difference of two dependent correlations with one variable in common
    (Steiger 1980, eq. 7 — the test Steiger recommends): here r12 = ρ(ratings, JSS with context), r13 = ρ(ratings,
    JSS without), r23 = ρ(JSS with, JSS without) on the same pairs. Checked against the worked example of Howell,
    Statistical Methods for Psychology (r12 .80, r13 .72, r23 .89, n 26 → t 1.361, df 23, p .187). Applied to
    Spearman ρ it is an approximation (the paired bootstrap beside it makes no normality assumption)."""
    if n <= 3 or not all(np.isfinite([r12, r13, r23])):
        return DependentTest(float("nan"), max(n - 3, 0), float("nan"))
    det = 1 - r12**2 - r13**2 - r23**2 + 2 * r12 * r13 * r23  # |R|, the determinant of the 3×3 correlation matrix
    mean = (r12 + r13) / 2
    denom = 2 * (n - 1) / (n - 3) * det + mean**2 * (1 - r23) ** 3
    if denom <= 0:
        return DependentTest(float("nan"), n - 3, float("nan"))
    t = (r12 - r13) * np.sqrt((n - 1) * (1 + r23) / denom)
    return DependentTest(float(t), n - 3, float(2 * stats.t.sf(abs(t), n - 3)))


def _spearman_along(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    rx = stats.rankdata(x, axis=axis)
    ry = stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(axis=axis) / np.sqrt((rx**2).sum(axis=axis) * (ry**2).sum(axis=axis))


def correlation_gain(without, with_, y, n_resamples: int = 1000, seed: int = 0,
                     confidence: float = 0.95) -> CorrelationGain:
    """Context gain of Table 2: Spearman ρ(with, y) − ρ(without, y). Pairs are resampled together (both ρ from the
    same resample: the correlations are dependent), percentile CI by scipy.stats.bootstrap; p two-sided from the
    bootstrap distribution of the gain shifted to zero (the share of shifted gains at least as far from 0). Williams's
    analytic t for dependent correlations is reported beside it."""
    x0, x1, y = (np.asarray(v, dtype=np.float64) for v in (without, with_, y))
    ok = np.isfinite(x0) & np.isfinite(x1) & np.isfinite(y)
    x0, x1, y = x0[ok], x1[ok], y[ok]
    n = int(len(y))
    if n < 3:
        return CorrelationGain(*([float("nan")] * 6), n)
    r0, r1 = float(_spearman_along(x0, y)), float(_spearman_along(x1, y))

    def gain(a, b, c, axis=-1):
        return _spearman_along(b, c, axis) - _spearman_along(a, c, axis)

    boot = stats.bootstrap((x0, x1, y), gain, paired=True, vectorized=True, n_resamples=n_resamples,
                           confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed))
    dist = boot.bootstrap_distribution[np.isfinite(boot.bootstrap_distribution)]
    observed = r1 - r0
    p = float((np.abs(dist - observed) >= abs(observed)).mean()) if dist.size else float("nan")
    analytic = williams_test(r1, r0, float(_spearman_along(x1, x0)), n)
    return CorrelationGain(r0, r1, observed, float(boot.confidence_interval.low), float(boot.confidence_interval.high),
                           max(p, 1.0 / (dist.size + 1)) if dist.size else p, n, analytic.t, analytic.p)


def kde(values, grid, bounds: tuple[float, float] | None = None) -> np.ndarray:
    """Gaussian KDE (scipy, Scott's bandwidth) of `values` evaluated on `grid`. With `bounds`, boundary-corrected
    by reflection: the mass a kernel puts beyond a bound is folded back inside (JSS cannot exceed 1, and WiC pairs
    pile up just below it), so the density integrates to 1 over the bounds instead of losing that mass."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 2 or np.ptp(values) == 0:
        return np.full(len(grid), np.nan)
    density = stats.gaussian_kde(values)
    x = np.asarray(grid, dtype=np.float64)
    if bounds is None:
        return density(x)
    low, high = bounds
    inside = (x >= low) & (x <= high)
    return np.where(inside, density(x) + density(2 * low - x) + density(2 * high - x), 0.0)


def entropy_bits(p: np.ndarray) -> np.ndarray:
    """Shannon entropy (bits) along the last axis: how spread a router's choice is."""
    return stats.entropy(np.asarray(p, dtype=np.float64), base=2, axis=-1)
