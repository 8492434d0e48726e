"""Train a SentencePiece-style Unigram tokenizer with T5's special-token layout.

`<pad>`=0, `</s>`=1, `<unk>`=2, then the learned pieces, then `<extra_id_99>` … `<extra_id_0>` (the
sentinels at the end of the vocabulary, as in T5), so `AutoTokenizer.from_pretrained(folder)` gives a
tokenizer that behaves like the google/switch-base ones.
"""
from __future__ import annotations

import json
from collections.abc import Iterable

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import T5Tokenizer

SPECIAL = ["<pad>", "</s>", "<unk>"]


def train_t5_tokenizer(texts: Iterable[str], vocab_size: int, extra_ids: int = 100) -> T5Tokenizer:
    """`vocab_size` counts every id, sentinels included (like T5's 32,100)."""
    learned = vocab_size - extra_ids
    if learned < len(SPECIAL) + 10:
        raise ValueError(f"vocab_size {vocab_size} leaves too few pieces after {extra_ids} sentinels.")
    raw = Tokenizer(models.Unigram())
    raw.normalizer = normalizers.Sequence([normalizers.NFKC()])
    raw.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)]
    )
    trainer = trainers.UnigramTrainer(
        vocab_size=learned, special_tokens=SPECIAL, unk_token="<unk>", shrinking_factor=0.75, max_piece_length=16,
        show_progress=False,
    )
    raw.train_from_iterator(texts, trainer=trainer)
    # Scores are rounded to 0.01 and ties ordered by piece: the trainer iterates hash maps, so equally
    # frequent pieces get slightly different scores from run to run. Rounding makes the vocabulary reproducible.
    pieces = [(p, round(float(s), 2)) for p, s in json.loads(raw.to_str())["model"]["vocab"]]
    assert [p for p, _ in pieces[:3]] == SPECIAL, pieces[:3]
    pieces = pieces[:3] + sorted(pieces[3:], key=lambda ps: (-ps[1], ps[0]))  # ties in a stable order
    vocab = pieces + [(f"<extra_id_{i}>", 0.0) for i in range(extra_ids - 1, -1, -1)]
    return T5Tokenizer(vocab=vocab, extra_ids=extra_ids)
