"""The paper's WiC analysis on expert ids alone (a serving engine's routes: no weights, no distributions, so no JSS).

A word's routing at a layer becomes the share of its tokens' chosen slots each expert holds (for a one-token word:
its chosen set, each expert 1/k); two occurrences are compared by the weighted Jaccard Σ min / Σ max of those shares
(the plain Jaccard of the two chosen sets for one-token words). Per stack and layer: Cohen's d of that overlap
between same- and different-meaning WiC pairs with its bootstrap 95 % CI — every row says *IDs only*.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.measures.metrics import effect_size
from core.tracing.portable import id_arrays
from core.tracing.words import tokens_in_span, word_spans

LABEL = "IDs only"
ID_CLAIM = "Same-meaning WiC pairs choose more alike experts (IDs only: d of the chosen-set overlap > 0)"


def word_shares(ids: np.ndarray, tokens: np.ndarray, num_experts: int) -> np.ndarray:
    """(L, E) each expert's share of the word's chosen slots at every layer; ids (T, L, k), −1 = no expert."""
    chosen = ids[tokens]  # (t, L, k)
    out = np.zeros((ids.shape[1], num_experts))
    for li in range(ids.shape[1]):
        real = chosen[:, li][chosen[:, li] >= 0]
        if real.size:
            out[li] = np.bincount(real, minlength=num_experts)[:num_experts] / real.size
    return out


def weighted_jaccard(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(…, E) × (…, E) → (…): Σ min / Σ max (NaN where both are empty)."""
    hi = np.maximum(p, q).sum(-1)
    return np.divide(np.minimum(p, q).sum(-1), hi, out=np.full(hi.shape, np.nan), where=hi > 0)


def target_shares(arrays: dict[int, np.ndarray], texts: list[str], tokenizer, num_experts: int,
                  targets: list[tuple[str, int]]) -> np.ndarray:
    """(N, L, E) shares of each (text, whitespace word index) target, from one stack's ids of a portable trace of
    `texts` (`id_arrays`)."""
    index = {t: i for i, t in enumerate(texts)}
    out = []
    for text, word in targets:
        ids = arrays[index[text]]
        enc = tokenizer(text, return_offsets_mapping=True)
        spans = np.asarray(enc["offset_mapping"]).reshape(-1, 2)[: len(ids)]
        start, end = word_spans(text)[word]
        out.append(word_shares(ids, tokens_in_span(spans, int(start), int(end)), num_experts))
    return np.stack(out)


def wic_overlap(frame: pd.DataFrame, texts: list[str], tokenizer, num_experts: int, wic: pd.DataFrame,
                model: str) -> pd.DataFrame:
    """Per stack and layer: WiC Cohen's d of the chosen-set overlap with its CI, labelled IDs only."""
    same = wic.label.to_numpy().astype(bool)
    rows = []
    for stack in sorted(set(frame["stack"])):
        arrays = id_arrays(frame, stack)  # once per stack, for both sentences of every pair
        a = target_shares(arrays, texts, tokenizer, num_experts, list(zip(wic.sentence1, wic.idx1)))
        b = target_shares(arrays, texts, tokenizer, num_experts, list(zip(wic.sentence2, wic.idx2)))
        overlap = weighted_jaccard(a, b)  # (pairs, L)
        for li in [*range(overlap.shape[1]), -1]:
            v = overlap.mean(axis=1) if li == -1 else overlap[:, li]
            e = effect_size(v[same], v[~same])
            rows.append({"model": model, "stack": stack, "layer_pos": li, "measure": "chosen-set overlap",
                         "basis": LABEL, "d": e.d, "ci_low": e.ci_low, "ci_high": e.ci_high, "p": e.p,
                         "mean_T": float(np.nanmean(v[same])), "mean_F": float(np.nanmean(v[~same])),
                         "n": int(len(v))})
    return pd.DataFrame(rows)


def id_claims(frame: pd.DataFrame) -> pd.DataFrame:
    from core.studies.claims import verdict_of

    rows = []
    for r in frame[frame.layer_pos == -1].itertuples():
        rows.append({"claim": ID_CLAIM, "paper": "§4.2, Fig. 2 (on expert ids)", "model": r.model, "stack": r.stack,
                     "verdict": verdict_of(r.ci_low, r.ci_high), "value": r.d, "ci_low": r.ci_low,
                     "ci_high": r.ci_high, "p": r.p,
                     "evidence": f"IDs only: d of the layer-mean chosen-set overlap {r.d:+.3f} [95% CI "
                                 f"{r.ci_low:+.3f}, {r.ci_high:+.3f}] over {r.n:,} WiC pairs"})
    return pd.DataFrame(rows)
