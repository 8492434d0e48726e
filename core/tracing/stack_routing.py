"""One stack's captured router outputs for one text → `StackRouting`, including a causal stack traced for a prefix."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from core.tracing.routing_trace import StackRouting
from core.tracing.words import pool


def prefix_tokens(token_spans: np.ndarray, until: int | None) -> int | None:
    """How many leading tokens cover every token that starts before character `until` (None: all are needed)."""
    if until is None:
        return None
    s, t = token_spans[:, 0], token_spans[:, 1]
    needed = np.flatnonzero((t > s) & (s < until))
    return int(needed[-1]) + 1 if needed.size else None


def stack_routing(blocks: Sequence[int], captured: Sequence[tuple[np.ndarray, ...]], row: int, n: int, m: int,
                  pooling: np.ndarray, token_word: np.ndarray) -> StackRouting:
    """Row `row` of each sparse layer's (probs, dropped, selected) batch arrays, for a text of `n` tokens of which the
    first `m` were traced. Untraced tokens (m < n) get NaN probabilities, expert -1 and no drop, and every word with
    an untraced token a NaN routing: nothing pretends to a value that was not computed."""
    probs = np.stack([c[0][row, :m] for c in captured]).astype(np.float32)
    dropped = np.stack([c[1][row, :m] for c in captured]).astype(bool)
    selected = np.stack([c[2][row, :m] for c in captured]).astype(np.int16)
    word_probs = pool(probs, pooling[:, :m])
    if m < n:
        rest = token_word[m:]
        word_probs[:, np.unique(rest[rest >= 0])] = np.nan
        n_layers, missing = len(blocks), n - m
        probs = np.concatenate([probs, np.full((n_layers, missing, probs.shape[-1]), np.nan, np.float32)], axis=1)
        dropped = np.concatenate([dropped, np.zeros((n_layers, missing), bool)], axis=1)
        selected = np.concatenate([selected, np.full((n_layers, missing, selected.shape[-1]), -1, np.int16)], axis=1)
    top1 = np.where(np.isnan(probs[..., 0]), -1, np.nan_to_num(probs).argmax(axis=-1)).astype(np.int16)
    return StackRouting(layers=np.asarray(blocks, dtype=np.int32), token_probs=probs, top1=top1, dropped=dropped,
                        word_probs=word_probs, selected=selected)


def rows_per_text(captured: dict, inputs: dict, n_rows: int, skip: int, causal_width: int | None,
                  causal_stacks: tuple[str, ...]) -> dict[tuple[str, int], tuple[np.ndarray, ...]]:
    """Per router, its hook's output as (B, S, …) numpy rows — probabilities (B,S,E) float32, dropped (B,S), the
    selected experts (B,S,k) and, when captured, the router's inputs (B,S,d) float32. Routers that see flattened
    tokens are reshaped back to (B,S); the decoder's first `skip` rows (the start token) go; causal stacks keep the
    first `causal_width` tokens."""
    out = {}
    for key, (probs, dropped, selected) in captured.items():
        parts = [probs.reshape(n_rows, -1, probs.shape[-1]), dropped.reshape(n_rows, -1),
                 selected.reshape(n_rows, -1, selected.shape[-1])]
        if key in inputs:
            parts.append(inputs[key].reshape(n_rows, -1, inputs[key].shape[-1]).float())
        if key[0] == "decoder" and skip:
            parts = [p[:, skip:] for p in parts]
        if causal_width is not None and key[0] in causal_stacks:
            parts = [p[:, :causal_width] for p in parts]
        parts[2] = parts[2].to(torch.int16)
        out[key] = tuple(p.cpu().numpy() for p in parts)
    return out


def text_rows(x: np.ndarray, n: int) -> np.ndarray:
    """The first n token rows of one text's router inputs; rows a causal prefix did not reach are NaN."""
    out = np.full((n, x.shape[-1]), np.nan, dtype=np.float32)
    out[: min(n, len(x))] = x[:n]
    return out


