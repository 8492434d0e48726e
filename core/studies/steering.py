"""Steering as in SteerMoE (arXiv 2509.09660): find the experts that separate two sets of texts by the risk difference
of their activation rates, then raise or lower their router logits and measure each set's likelihood.

- `rank_experts`: per stack, layer and expert, the share of set A's tokens whose chosen set holds the expert minus set
  B's (risk difference), with a Wald 95 % CI on the two proportions; strongest first.
- `steer_effect`: the named experts' logits moved by `strength` at their layers (core.tracing.interventions, "steer"),
  and for each set the change in mean per-token log-likelihood (steered − intact) with a percentile bootstrap 95 % CI
  over its texts. Strength 0 is the identity.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from core.errors import InputError
from core.models.loading import LoadedModel
from core.studies.outcomes import log_probs
from core.tracing.interventions import Intervention, intervening
from core.tracing.tracer import Tracer
from core.types import Stack


def _rates(tracer: Tracer, texts: Sequence[str]) -> dict[tuple[Stack, int], tuple[np.ndarray, int]]:
    """Per (stack, layer): how many tokens chose each expert, and how many tokens were routed (dropped ones aside)."""
    counts: dict[tuple[Stack, int], tuple[np.ndarray, int]] = {}
    for trace in tracer.trace(list(texts)):
        for stack, s in trace.stacks.items():
            for li, block in enumerate(s.layers):
                chosen = s.selected[li][~s.dropped[li]]
                hit, n = counts.get((stack, int(block)), (np.zeros(trace.num_experts), 0))
                np.add.at(hit, chosen.reshape(-1).astype(np.int64), 1)  # a token's chosen experts are distinct
                counts[(stack, int(block))] = (hit, n + len(chosen))
    return counts


def rank_experts(tracer: Tracer, texts_a: Sequence[str], texts_b: Sequence[str]) -> pd.DataFrame:
    """Every (stack, layer, expert) by the risk difference of its activation rate, set A − set B."""
    if not texts_a or not texts_b:
        raise InputError("Steering needs two non-empty sets of texts.")
    a, b = _rates(tracer, texts_a), _rates(tracer, texts_b)
    rows = []
    for key, (hit_a, n_a) in a.items():
        hit_b, n_b = b[key]
        for e in range(len(hit_a)):
            pa, pb = hit_a[e] / n_a, hit_b[e] / n_b
            half = 1.96 * np.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
            rows.append({"stack": key[0], "layer": key[1], "expert": e, "rate_a": pa, "rate_b": pb,
                         "risk_difference": pa - pb, "ci_low": pa - pb - half, "ci_high": pa - pb + half})
    frame = pd.DataFrame(rows)
    return frame.reindex(frame.risk_difference.abs().sort_values(ascending=False).index).reset_index(drop=True)


def _likelihoods(loaded: LoadedModel, texts: Sequence[str], ivs: list[Intervention]) -> np.ndarray:
    out = []
    with intervening(loaded, ivs):
        for text in texts:
            ids = torch.tensor([loaded.tokenizer(text, truncation=True, max_length=512)["input_ids"]],
                               device=loaded.input_device)
            if ids.shape[1] < 2:
                continue
            lp, gold = log_probs(loaded, ids)
            out.append(float(lp.gather(-1, gold[..., None]).mean()))
    return np.array(out)


def steer_effect(loaded: LoadedModel, sets: dict[str, Sequence[str]], experts: Sequence[tuple[Stack, int, int]],
                 strength: float, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per set: mean log-likelihood per token intact and steered, their difference with a bootstrap CI."""
    groups: dict[tuple[Stack, int], list[int]] = {}
    for stack, layer, e in experts:
        groups.setdefault((stack, int(layer)), []).append(int(e))
    ivs = [Intervention("steer", stack, (layer,), None, tuple(es), strength=float(strength))
           for (stack, layer), es in groups.items()]
    rng = np.random.default_rng(seed)
    rows = []
    for name, texts in sets.items():
        base, steered = _likelihoods(loaded, texts, []), _likelihoods(loaded, texts, ivs)
        delta = steered - base
        idx = rng.integers(0, len(delta), size=(n_resamples, len(delta))) if len(delta) else np.zeros((0, 0), int)
        low, high = (np.percentile(delta[idx].mean(1), [2.5, 97.5]) if len(delta) > 1 else (np.nan, np.nan))
        rows.append({"set": name, "texts": len(delta), "strength": strength, "experts": " ".join(
            f"{s}:{layer}:e{e}" for s, layer, e in experts), "loglik_intact": float(base.mean()),
            "loglik_steered": float(steered.mean()), "delta": float(delta.mean()), "ci_low": float(low),
            "ci_high": float(high)})
    return pd.DataFrame(rows)
