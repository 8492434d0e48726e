"""Tokenisation with character offsets, truncation and token → word alignment, for a batch of texts at once."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.errors import InputError
from core.tracing.words import assign_tokens, word_spans


@dataclass
class Encoded:
    """One text after tokenisation and word alignment, before the forward pass."""

    text: str
    ids: list[int]
    tokens: list[str]
    token_spans: np.ndarray
    token_word: np.ndarray
    word_spans: np.ndarray
    word_source: np.ndarray  # index of each kept word among all whitespace words of the text
    truncated: bool
    n_input_tokens: int


def encode_texts(tokenizer: Any, texts: Sequence[str], max_tokens: int, eos_id: int | None) -> list[Encoded]:
    """One tokenizer call for all `texts` (a fast tokenizer batches them in Rust), then per text: truncation to
    `max_tokens` keeping EOS, and the token → word alignment. Not thread-safe (the tokenizer is not)."""
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            raise InputError("The text is empty. Type a sentence to trace.")
    if not texts:
        return []
    enc = tokenizer(list(texts), return_offsets_mapping=True, add_special_tokens=True, verbose=False)
    return [_align(tokenizer, t, list(i), o, max_tokens, eos_id)
            for t, i, o in zip(texts, enc["input_ids"], enc["offset_mapping"])]


def _align(tokenizer: Any, text: str, ids: list[int], offsets, max_tokens: int, eos_id: int | None) -> Encoded:
    if not ids:
        raise InputError("The tokenizer produced no tokens for this text. Type a sentence with words in it.")
    spans = np.asarray(offsets, dtype=np.int32).reshape(-1, 2)
    n_input = len(ids)
    truncated = n_input > max_tokens
    if truncated:  # keep the end-of-sequence token where the tokenizer adds one (T5 does; most causal LMs do not)
        ends_with_eos = eos_id is not None and ids[-1] == eos_id
        keep = max_tokens - (1 if ends_with_eos else 0)
        ids = ids[:keep] + ([eos_id] if ends_with_eos else [])
        spans = np.concatenate([spans[:keep], np.zeros((len(ids) - keep, 2), np.int32)])
    all_words = word_spans(text)
    token_word_all = assign_tokens(spans, all_words)
    kept = np.unique(token_word_all[token_word_all >= 0])  # words that have at least one token
    remap = np.full(len(all_words), -1, dtype=np.int32)
    remap[kept] = np.arange(len(kept), dtype=np.int32)
    token_word = np.where(token_word_all >= 0, remap[np.maximum(token_word_all, 0)], -1).astype(np.int32)
    tokens = tokenizer.convert_ids_to_tokens(ids)
    return Encoded(text, ids, tokens, spans, token_word, all_words[kept], kept.astype(np.int32), truncated, n_input)


def length_buckets(lengths: list[int], batch_tokens: int, batch_size: int) -> list[list[int]]:
    """Indices sorted by length (longest first), cut so that padded tokens per batch stay within `batch_tokens`."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = lengths[current[0]] if current else lengths[i]
        if current and ((len(current) + 1) * width > batch_tokens or len(current) >= batch_size):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def right_padded(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id rows as one right-padded batch and its attention mask (1 on real tokens): right padding leaves the
    real positions of a causal model untouched."""
    width = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), max(width, 1)), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.as_tensor(list(r), dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids, mask


def token_names(tokenizer, ids: Sequence[int]) -> list[str]:
    """The tokenizer's name of each id; an id the tokenizer has no token for (a model's vocabulary padded past its
    tokenizer's, as real checkpoints often are: OLMoE's 50,304 rows for 50,280 tokens) is named "<id N>"."""
    names = tokenizer.convert_ids_to_tokens([int(i) for i in ids])
    return [n if isinstance(n, str) else f"<id {int(i)}>" for n, i in zip(names, ids)]
