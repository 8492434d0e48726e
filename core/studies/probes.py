"""Affixal negation and multi-word expressions measured on any traced model (the items: core.studies.probe_sentences).

Both compare two routing similarities of one word slot per item, per model, stack and sparse layer (and the stack's
layer mean, layer_pos −1):

- negation: gap = JSS(base, negated form) − JSS(base, frequency-matched unrelated word), the three in the same
  context. gap > 0: the negated form routes more like its base than an unrelated word would (shared subword pieces
  or meaning); reported over all pairs and split by whether the negated form's tokens end with the base's pieces;
- multi-word expressions: gap = JSS(anchor inside the expression, anchor in a literal context) − JSS(anchor in two
  literal contexts). gap < 0: the expression moves the anchor's routing beyond what a change of literal context does.

Each row: the mean gap with its percentile bootstrap 95 % CI over items, and the paired effect size d = mean / SD.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from core.measures.metrics import jss
from core.studies.claims import verdict_of
from core.studies.targets import ProgressFactory, Target, no_progress, route_targets
from core.tracing.tracer import Tracer
from core.types import STACKS

NEGATION_CLAIM = "A negated form routes more like its base than a frequency-matched unrelated word (gap > 0)"
MWE_CLAIM = "A word routes differently inside a multi-word expression than in literal use (gap < 0)"
WHERE = "§5 (future work)"
N_RESAMPLES = 2000


def mean_ci(values: np.ndarray, seed: int = 0) -> tuple[float, float, float, float]:
    """Mean, its percentile bootstrap 95 % CI, and the paired d (mean / SD) of per-item gaps."""
    v = values[np.isfinite(values)]
    if len(v) < 3:
        return float("nan"), float("nan"), float("nan"), float("nan")
    ci = stats.bootstrap((v,), np.mean, n_resamples=N_RESAMPLES, method="percentile",
                         rng=np.random.default_rng(seed)).confidence_interval
    sd = v.std(ddof=1)
    return float(v.mean()), float(ci.low), float(ci.high), float(v.mean() / sd) if sd > 0 else float("nan")


def _gap_rows(meta: dict, study: str, subset: str, gap: dict[str, np.ndarray], routers: dict) -> list[dict]:
    rows = []
    for stack, g in gap.items():
        blocks = [int(b) for b, _ in routers[stack]]
        for li in [*range(g.shape[1]), -1]:
            values = g.mean(axis=1) if li == -1 else g[:, li]
            mean, low, high, d = mean_ci(values)
            rows.append({**meta, "study": study, "subset": subset, "stack": stack, "layer_pos": li,
                         "layer": -1 if li == -1 else blocks[li], "n": int(np.isfinite(values).sum()), "gap": mean,
                         "ci_low": low, "ci_high": high, "d": d})
    return rows


def _shares_pieces(tracer: Tracer, base: str, negated: str) -> bool:
    """Whether the negated form's subword tokens end with the base's (the tokenizer keeps the base intact)."""
    tok = tracer.loaded.tokenizer
    b, n = tok.tokenize(" " + base), tok.tokenize(" " + negated)
    strip = [t.lstrip("Ġ▁#") for t in b]
    return len(n) > len(b) and [t.lstrip("Ġ▁#") for t in n[-len(b):]] == strip


def negation_frame(tracer: Tracer, items: pd.DataFrame, progress: ProgressFactory = no_progress) -> pd.DataFrame:
    lm = tracer.loaded
    meta = {"model": lm.name, "family": lm.family, "experts": lm.num_experts}
    n = len(items)
    targets = [Target(t, word_index=int(i)) for col in ("text_base", "text_negated", "text_control")
               for t, i in zip(items[col], items["index"])]
    routes = route_targets(tracer, targets, STACKS, "negation pairs", progress)
    gap = {s: jss(v[:n], v[n : 2 * n]) - jss(v[:n], v[2 * n :]) for s, v in routes.items()}
    shared = np.array([_shares_pieces(tracer, b, g) for b, g in zip(items.base, items.negated)])
    rows = _gap_rows(meta, "negation", "all pairs", gap, tracer.routers)
    for name, mask in (("shared subword pieces", shared), ("no shared pieces", ~shared)):
        if mask.sum() >= 3:
            rows += _gap_rows(meta, "negation", name, {s: g[mask] for s, g in gap.items()}, tracer.routers)
    return pd.DataFrame(rows)


def mwe_frame(tracer: Tracer, items: pd.DataFrame, progress: ProgressFactory = no_progress) -> pd.DataFrame:
    lm = tracer.loaded
    meta = {"model": lm.name, "family": lm.family, "experts": lm.num_experts}
    n = len(items)
    targets = [Target(t, word_index=int(i)) for role in ("inside", "literal1", "literal2")
               for t, i in zip(items[f"text_{role}"], items[f"index_{role}"])]
    routes = route_targets(tracer, targets, STACKS, "multi-word expressions", progress)
    gap = {s: jss(v[:n], v[n : 2 * n]) - jss(v[n : 2 * n], v[2 * n :]) for s, v in routes.items()}
    return pd.DataFrame(_gap_rows(meta, "mwe", "all expressions", gap, tracer.routers))


def probe_claims(frame: pd.DataFrame) -> pd.DataFrame:
    """One claim row per model and stack for each study, on the layer-mean gap over all items."""
    rows = []
    for (study, subset), claim, direction in ((("negation", "all pairs"), NEGATION_CLAIM, 1),
                                              (("mwe", "all expressions"), MWE_CLAIM, -1)):
        g = frame[(frame.study == study) & (frame.subset == subset) & (frame.layer_pos == -1)]
        for r in g.itertuples():
            rows.append({"claim": claim, "paper": WHERE, "model": r.model, "stack": r.stack,
                         "verdict": verdict_of(r.ci_low, r.ci_high, direction), "value": r.gap, "ci_low": r.ci_low,
                         "ci_high": r.ci_high, "p": float("nan"),
                         "evidence": f"layer-mean gap {r.gap:+.4f} [95% CI {r.ci_low:+.4f}, {r.ci_high:+.4f}], "
                                     f"d {r.d:+.2f} over {r.n} items"})
    return pd.DataFrame(rows)
