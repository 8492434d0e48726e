"""Word frequency beside polysemy (the paper's §4.3: "factors besides the number of meanings, such as word frequency,
may determine the consistency of token-expert assignments"). Per model and stack, over the words of the polysemy
analysis (Figure 3's rows: each WiC lemma's same − different meaning JSS), the context effect is set against both the
word's WordNet sense count and its Zipf frequency (`wordfreq`, English, offline): the partial correlation of the
effect with each, the other held fixed, with percentile bootstrap 95 % CIs over words.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

N_RESAMPLES = 2000


def zipf(words: pd.Series) -> np.ndarray:
    """Each word's Zipf frequency in English (log10 of its frequency per billion words; 0 where unknown)."""
    from wordfreq import zipf_frequency

    return np.array([zipf_frequency(str(w), "en") for w in words], dtype=float)


def _partial(y: np.ndarray, x: np.ndarray, z: np.ndarray) -> float:
    """Pearson r of y and x with z regressed out of both (the partial correlation r(y, x | z))."""
    def residual(v: np.ndarray) -> np.ndarray:
        design = np.column_stack([np.ones_like(z), z])
        return v - design @ np.linalg.lstsq(design, v, rcond=None)[0]

    ry, rx = residual(y), residual(x)
    denom = np.sqrt((ry ** 2).sum() * (rx ** 2).sum())
    return float((ry * rx).sum() / denom) if denom > 0 else float("nan")


def partial_with_ci(y: np.ndarray, x: np.ndarray, z: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """r(y, x | z) and its percentile bootstrap 95 % CI (words resampled together)."""
    r = _partial(y, x, z)
    if not np.isfinite(r) or len(y) < 5:
        return r, float("nan"), float("nan")
    boot = stats.bootstrap((np.arange(len(y)),), lambda i: _partial(y[i], x[i], z[i]), n_resamples=N_RESAMPLES,
                           method="percentile", vectorized=False, rng=np.random.default_rng(seed))
    return r, float(boot.confidence_interval.low), float(boot.confidence_interval.high)


def frequency_effect(polysemy: pd.DataFrame) -> pd.DataFrame:
    """Per model and stack: n words, r(effect, Zipf | senses) and r(effect, senses | Zipf) with CIs, where the
    effect is the word's same − different meaning JSS (the `difference` column of the polysemy table)."""
    rows = []
    words = polysemy.dropna(subset=["difference"])
    freq = dict(zip(words.lemma.unique(), zipf(pd.Series(words.lemma.unique()))))
    for (model, stack), g in words.groupby(["model", "stack"], sort=True):
        y = g.difference.to_numpy(dtype=float)
        f = np.array([freq[w] for w in g.lemma], dtype=float)
        s = np.log(g.senses.to_numpy(dtype=float).clip(min=1))
        r_f, lo_f, hi_f = partial_with_ci(y, f, s)
        r_s, lo_s, hi_s = partial_with_ci(y, s, f)
        rows.append({"model": model, "stack": stack, "words": len(g), "r_frequency": r_f, "ci_low_frequency": lo_f,
                     "ci_high_frequency": hi_f, "r_senses": r_s, "ci_low_senses": lo_s, "ci_high_senses": hi_s,
                     "zipf_mean": float(f.mean())})
    return pd.DataFrame(rows)


def with_frequency(polysemy: pd.DataFrame) -> pd.DataFrame:
    """The polysemy rows with each lemma's Zipf frequency (Figure 3 coloured by frequency)."""
    lemmas = polysemy.lemma.unique()
    return polysemy.assign(zipf=polysemy.lemma.map(dict(zip(lemmas, zipf(pd.Series(lemmas))))))


FREQUENCY_CLAIM = "Word frequency explains the context effect beyond polysemy (partial r ≠ 0)"
FREQUENCY_WHERE = "§4.3 (an open question)"


def frequency_claims(frame: pd.DataFrame) -> pd.DataFrame:
    """One claim row per model and stack: supported when the partial correlation's CI excludes 0, contradicted when
    it lies within ±0.1 (no effect worth the name), inconclusive otherwise."""
    from core.studies.claims import EQUIVALENCE_R, change_verdict_of

    rows = []
    for r in frame.itertuples():
        low, high = r.ci_low_frequency, r.ci_high_frequency
        rows.append({"claim": FREQUENCY_CLAIM, "paper": FREQUENCY_WHERE, "model": r.model, "stack": r.stack,
                     "verdict": change_verdict_of(low, high), "value": r.r_frequency, "ci_low": low, "ci_high": high, "p": float("nan"),
                     "evidence": f"r(effect, Zipf | senses) {r.r_frequency:+.3f} [95% CI {low:+.3f}, {high:+.3f}] "
                                 f"over {r.words} words; 'none' needs the CI within ±{EQUIVALENCE_R}"})
    return pd.DataFrame(rows)
