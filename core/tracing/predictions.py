"""The model's own next-token predictions, for OLMoE's vocabulary specialisation by *predicted* token
(`corpus --predictions`). Needs the language-model head (load_model(lm_head=True)); decoder-only models only."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from core.errors import InputError
from core.models.loading import LoadedModel
from core.tracing.encoding import right_padded

BATCH = 32


def next_token_predictions(loaded: LoadedModel, id_rows: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Per row of token ids, the argmax of the next-token logits at every position."""
    if not loaded.adapter.causal:
        raise InputError(f"{loaded.name} is not a decoder-only model: next-token predictions apply to decoder-only "
                         "families only (drop --predictions).")
    if not hasattr(loaded.model, "lm_head") and not hasattr(loaded.model, "get_output_embeddings"):
        raise InputError("Next-token predictions need the model's language-model head (load it with lm_head=True).")
    out: list[np.ndarray] = []
    device, pad = loaded.input_device, int(loaded.tokenizer.pad_token_id or 0)
    batch = 1 if loaded.adapter.one_text_per_forward else BATCH  # a batch-dependent family: each row alone
    for start in range(0, len(id_rows), batch):
        rows = id_rows[start:start + batch]
        ids, mask = right_padded(rows, pad)
        with torch.inference_mode():
            logits = loaded.model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False).logits
        best = logits.argmax(-1).cpu().numpy()
        out += [best[i, :len(r)].astype(np.int32) for i, r in enumerate(rows)]
    return out
