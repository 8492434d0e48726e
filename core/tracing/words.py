"""Subword → word alignment and pooling (docs/definitions.md: a word's routing = mean of its subwords' rows)."""
from __future__ import annotations

import re

import numpy as np

WORD_RE = re.compile(r"\S+")


TOKEN_PREFIXES = "▁Ġ "  # word-start marks of SentencePiece and byte-level BPE, stripped to name a token's word


def word_spans(text: str) -> np.ndarray:
    """Character spans (start, end) of the whitespace-delimited words of `text`, shape (W, 2)."""
    spans = [(m.start(), m.end()) for m in WORD_RE.finditer(text)]
    return np.asarray(spans, dtype=np.int32).reshape(-1, 2)


def assign_tokens(token_spans: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """For each token, the index of the span it overlaps (first one), or -1 (special tokens, bare '▁'). `spans` are
    sorted and disjoint (word_spans), so the first span ending after a token's start is the only candidate: one
    searchsorted for all tokens instead of a scan per token."""
    token_spans = np.asarray(token_spans).reshape(-1, 2)
    out = np.full(len(token_spans), -1, dtype=np.int32)
    if not len(spans) or not len(token_spans):
        return out
    start, end = token_spans[:, 0], token_spans[:, 1]
    first = np.searchsorted(spans[:, 1], start, side="right")
    hit = (end > start) & (first < len(spans))
    hit &= spans[np.minimum(first, len(spans) - 1), 0] < end
    out[hit] = first[hit]
    return out


def pooling_matrix(token_word: np.ndarray, n_words: int) -> np.ndarray:
    """(W, T) matrix whose rows average the tokens of each word; a word with no token gets a zero row."""
    m = np.zeros((n_words, len(token_word)), dtype=np.float32)
    tokens = np.flatnonzero(np.asarray(token_word) >= 0)
    m[np.asarray(token_word)[tokens], tokens] = 1.0
    counts = m.sum(axis=1, keepdims=True)
    return np.divide(m, counts, out=np.zeros_like(m), where=counts > 0)


def pool(token_probs: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(L, T, E) token rows → (L, W, E) word rows."""
    return np.einsum("wt,lte->lwe", matrix, token_probs).astype(np.float32)


def tokens_in_span(token_spans: np.ndarray, start: int, end: int) -> np.ndarray:
    """Indices of the tokens that overlap the character span [start, end)."""
    s, e = token_spans[:, 0], token_spans[:, 1]
    return np.nonzero((e > s) & (s < end) & (e > start))[0]


def find_word(text: str, word: str) -> list[tuple[int, int]]:
    """Character spans of `word` in `text` as a whole word (case-insensitive; punctuation may touch it)."""
    word = word.strip()
    if not word:
        return []
    pattern = re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)", re.IGNORECASE)
    return [(m.start(), m.end()) for m in pattern.finditer(text)]
