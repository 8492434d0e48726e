"""T5 span corruption (Raffel et al. 2020), the objective the Switch models were trained with.

A fraction `noise_density` of the tokens, in spans of mean length `mean_span`, is replaced in the input by
sentinels `<extra_id_0>`, `<extra_id_1>`, …; the target lists each sentinel followed by the tokens it hid.
This follows `random_spans_noise_mask` of the T5 code base.
"""
from __future__ import annotations

import numpy as np


def _random_segmentation(num_items: int, num_segments: int, rng: np.random.Generator) -> np.ndarray:
    """Split `num_items` into `num_segments` non-empty parts of random lengths."""
    first_in_segment = np.zeros(num_items, dtype=np.int64)
    cut_points = rng.choice(np.arange(1, num_items), size=num_segments - 1, replace=False)
    first_in_segment[cut_points] = 1
    segment_id = np.cumsum(first_in_segment)
    return np.bincount(segment_id, minlength=num_segments)


def noise_mask(length: int, noise_density: float, mean_span: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of the tokens to hide; spans alternate keep/noise, starting with a kept span."""
    if length < 2:
        return np.zeros(length, dtype=bool)
    num_noise = int(round(length * noise_density))
    num_noise = min(max(num_noise, 1), length - 1)
    num_spans = max(int(round(num_noise / mean_span)), 1)
    num_spans = min(num_spans, num_noise, length - num_noise)
    noise_lengths = _random_segmentation(num_noise, num_spans, rng)
    keep_lengths = _random_segmentation(length - num_noise, num_spans, rng)
    interleaved = np.stack([keep_lengths, noise_lengths], axis=1).reshape(-1)
    span_of_token = np.repeat(np.arange(2 * num_spans), interleaved)
    return span_of_token % 2 == 1


def corrupt(
    ids: list[int] | np.ndarray, sentinel_ids: list[int], eos_id: int, rng: np.random.Generator,
    noise_density: float = 0.15, mean_span: float = 3.0,
) -> tuple[list[int], list[int]]:
    """(input ids, target ids) for one example; `sentinel_ids[k]` is the id of `<extra_id_k>`."""
    ids = np.asarray(ids)
    mask = noise_mask(len(ids), noise_density, mean_span, rng)
    inputs: list[int] = []
    targets: list[int] = []
    k = 0
    i = 0
    while i < len(ids):
        if mask[i]:
            j = i
            while j < len(ids) and mask[j]:
                j += 1
            inputs.append(sentinel_ids[k])
            targets.append(sentinel_ids[k])
            targets.extend(int(t) for t in ids[i:j])
            k += 1
            i = j
        else:
            inputs.append(int(ids[i]))
            i += 1
    return inputs + [eos_id], targets + [eos_id]


def reconstruct(inputs: list[int], targets: list[int], sentinel_ids: list[int], eos_id: int) -> list[int]:
    """Inverse of `corrupt`: put each hidden span back in place of its sentinel."""
    sentinels = {s: k for k, s in enumerate(sentinel_ids)}
    spans: dict[int, list[int]] = {}
    current = None
    for t in targets:
        if t == eos_id:
            break
        if t in sentinels:
            current = sentinels[t]
            spans[current] = []
        elif current is not None:
            spans[current].append(t)
    out: list[int] = []
    for t in inputs:
        if t == eos_id:
            break
        out.extend(spans[sentinels[t]] if t in sentinels else [t])
    return out
