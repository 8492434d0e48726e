"""Which offline model Compare and Learn open on: the one whose router responds to context best on WiC dev.

A documented, seeded evaluation instead of hand-picked examples: for every candidate with a trained router (and,
beside them, the activation-mass MoE-fied models for reference), the target word's routing JSS between the two
sentences of each WiC dev pair, Cohen's d (same − different meaning) per sparse layer with its bootstrap CI (seed 0),
and the mean of d over the layers. The candidate with the largest mean d wins; ties go to fewer experts.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.measures.metrics import effect_size
from core.measures.metrics import jss as similarity_of
from core.studies.targets import ProgressFactory, Target, no_progress, route_targets
from core.tracing.tracer import Tracer

SPLIT = "dev"


def wic_dev_effects(tracers: Sequence[Tracer], wic: pd.DataFrame, progress: ProgressFactory = no_progress,
                    seed: int = 0) -> pd.DataFrame:
    """Per model and sparse layer: d, its CI and p, mean JSS of same / different pairs, n; `has_router` says whether
    the model is a candidate."""
    rows = []
    same = wic.label.to_numpy().astype(bool)
    for tracer in tracers:
        s1 = [Target(t, word_index=i) for t, i in zip(wic.sentence1, wic.idx1)]
        s2 = [Target(t, word_index=i) for t, i in zip(wic.sentence2, wic.idx2)]
        stack = tracer.loaded.stacks[0]
        routes = route_targets(tracer, s1 + s2, (stack,), f"WiC {SPLIT}", progress)[stack]
        m = len(wic)
        jss = similarity_of(routes[:m], routes[m:])  # (pairs, layers)
        for li, (block, _module) in enumerate(tracer.routers[stack]):
            e = effect_size(jss[same, li], jss[~same, li], seed=seed)
            rows.append({"model": tracer.loaded.name, "has_router": tracer.adapter.has_router, "stack": stack,
                         "layer": int(block), "d": e.d, "ci_low": e.ci_low, "ci_high": e.ci_high, "p": e.p,
                         "mean_same": float(jss[same, li].mean()), "mean_different": float(jss[~same, li].mean()),
                         "n_same": int(same.sum()), "n_different": int((~same).sum())})
    return pd.DataFrame(rows)


def choose(effects: pd.DataFrame) -> str:
    """The candidate (a trained router) with the largest mean d over its layers; ties to the fewer experts."""
    candidates = effects[effects.has_router]
    if not len(candidates):
        raise ValueError("No candidate with a trained router was evaluated.")
    mean_d = candidates.groupby("model", sort=False).d.mean()
    best = mean_d.max()
    tied = [m for m, d in mean_d.items() if np.isclose(d, best)]
    return tied[0]
