"""Regenerate the table of every transformers model type with routed experts in docs/models.md: each type built as
a tiny random model of its own config class, loaded, traced and self-checked (core.tracing.model_types).

    python scripts/model_types.py            # rewrite the table (a few minutes)
    python scripts/model_types.py afmoe dbrx # print the rows of some types only
"""
from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TOKENIZER_TEXT = ["I sat on the river bank and watched the water flow.", "The bank raised its interest rates again.",
                  "A bat flew out of the cave at dusk.", "He swung the bat and hit the ball over the fence."]


def tokenizer():
    """A small tokenizer trained here (every tiny model shares it; no download)."""
    from core.training.tokenizer_train import train_t5_tokenizer

    return train_t5_tokenizer(TOKENIZER_TEXT * 50, vocab_size=260, extra_ids=0)


def main(argv: list[str]) -> int:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    from tqdm import tqdm

    from core.models.tiny import routed_expert_folders
    from core.tracing.model_types import classify, with_table

    types = argv or routed_expert_folders()
    tok = tokenizer()
    rows = [classify(t, tok) for t in tqdm(types, desc="model types", unit="type")]
    if argv:
        print("\n".join(r.markdown() for r in rows))
        return 0
    doc = ROOT / "docs" / "models.md"
    doc.write_text(with_table(doc.read_text(), rows))
    counts = {s: sum(r.status == s for r in rows) for s in ("known", "unverified", "refused", "not measured here")}
    print(f"{len(rows)} model types: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
