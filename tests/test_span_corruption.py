"""T5 span corruption: sentinels, lengths, noise density, round trip."""
from __future__ import annotations

import numpy as np
import pytest

from core.data.span_corruption import corrupt, noise_mask, reconstruct

SENTINELS = list(range(1099, 999, -1))  # <extra_id_0> has the highest id, as in T5
EOS = 1


@pytest.mark.parametrize("length", [2, 5, 17, 64, 200])
def test_round_trip_reconstructs_the_text(length):
    rng = np.random.default_rng(length)
    ids = list(rng.integers(3, 999, size=length))
    inputs, targets = corrupt(ids, SENTINELS, EOS, rng)
    assert inputs[-1] == EOS and targets[-1] == EOS
    assert reconstruct(inputs, targets, SENTINELS, EOS) == ids


def test_sentinels_in_order_and_matching():
    rng = np.random.default_rng(0)
    inputs, targets = corrupt(list(range(10, 110)), SENTINELS, EOS, rng)
    in_s = [t for t in inputs if t in SENTINELS]
    tg_s = [t for t in targets if t in SENTINELS]
    assert in_s == tg_s == SENTINELS[: len(in_s)]
    assert len(inputs) + len(targets) == 100 + 2 * len(in_s) + 2


def test_noise_density_and_mean_span_within_tolerance():
    rng = np.random.default_rng(1)
    masks = [noise_mask(100, 0.15, 3.0, rng) for _ in range(500)]
    density = np.mean([m.mean() for m in masks])
    assert abs(density - 0.15) < 0.005
    spans = []
    for m in masks:
        edges = np.flatnonzero(np.diff(np.concatenate([[0], m.astype(int), [0]])))
        spans += list(edges[1::2] - edges[::2])
    assert abs(np.mean(spans) - 3.0) < 0.3
    assert not any(m[0] for m in masks)  # starts with a kept span, as T5 does


def test_deterministic_with_seed():
    a = corrupt(list(range(5, 60)), SENTINELS, EOS, np.random.default_rng(7))
    b = corrupt(list(range(5, 60)), SENTINELS, EOS, np.random.default_rng(7))
    assert a == b
