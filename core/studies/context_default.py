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

from core.measures.metrics import jss as similarity_of
from core.studies.targets import ProgressFactory, Target, no_progress, route_targets
from core.studies.wic import cohens_d_frame
from core.tracing.tracer import Tracer

SPLIT = "dev"


def wic_dev_effects(tracers: Sequence[Tracer], wic: pd.DataFrame, progress: ProgressFactory = no_progress
                    ) -> pd.DataFrame:
    """Per model and sparse layer: d, its CI and p (the paper's Fig. 2 numbers, `cohens_d_frame`), mean JSS of same /
    different pairs, n; `has_router` says whether the model is a candidate."""
    s1 = [Target(t, word_index=i) for t, i in zip(wic.sentence1, wic.idx1)]
    s2 = [Target(t, word_index=i) for t, i in zip(wic.sentence2, wic.idx2)]
    label = np.where(wic.label.to_numpy().astype(bool), "T", "F")
    pairs, has_router = [], {}
    for tracer in tracers:
        stack = tracer.loaded.stacks[0]
        routes = route_targets(tracer, s1 + s2, (stack,), f"WiC {SPLIT}", progress)[stack]
        jss = similarity_of(routes[: len(wic)], routes[len(wic):])  # (pairs, layers)
        has_router[tracer.loaded.name] = tracer.adapter.has_router
        for li, (block, _module) in enumerate(tracer.routers[stack]):
            pairs.append(pd.DataFrame({"model": tracer.loaded.name, "family": tracer.loaded.family, "stack": stack,
                                       "layer_pos": li, "layer": int(block), "label": label, "jss": jss[:, li]}))
    effects = cohens_d_frame(pd.concat(pairs, ignore_index=True))
    effects = effects[effects.model.isin(list(has_router))]  # per model, not the pooled scopes
    return pd.DataFrame({"model": effects.model, "has_router": effects.model.map(has_router), "stack": effects["stack"],
                         "layer": effects.layer, "d": effects.d, "ci_low": effects.ci_low, "ci_high": effects.ci_high,
                         "p": effects.p, "mean_same": effects.mean_T, "mean_different": effects.mean_F,
                         "n_same": effects.n_T, "n_different": effects.n_F}).reset_index(drop=True)


def choose(effects: pd.DataFrame) -> str:
    """The candidate (a trained router) with the largest mean d over its layers; ties to the one evaluated first (the
    registry lists them by expert count, so the fewer experts)."""
    candidates = effects[effects.has_router]
    if not len(candidates):
        raise ValueError("No candidate with a trained router was evaluated.")
    mean_d = candidates.groupby("model", sort=False).d.mean()
    best = mean_d.max()
    tied = [m for m, d in mean_d.items() if np.isclose(d, best)]
    return tied[0]
