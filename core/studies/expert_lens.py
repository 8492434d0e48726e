"""A per-expert logit lens (arXiv 2603.05806): what each chosen expert writes for one token, read through the model's
own final norm and LM head — the tokens its output alone would promote. The hidden state the experts module was
handed for the token is taken by a hook on the model's own module; each chosen expert is run on it alone through that
module (`run_one_expert`) and unembedded the family's way (`adapter.unembed`).
"""
from __future__ import annotations

import pandas as pd
import torch

from core.errors import InputError
from core.models.loading import LoadedModel
from core.tracing.encoding import token_names
from core.tracing.self_check import experts_beside
from core.types import Stack


def expert_logit_lens(loaded: LoadedModel, text: str, token: int, layer: int, stack: Stack = "decoder", top: int = 5
                      ) -> pd.DataFrame:
    """For token `token` (its index in the text's tokens, as a trace counts them) at sparse block `layer`: one row per
    chosen expert and promoted token — expert, its weight, rank, token, logit. `loaded` must carry its LM head
    (`load_model(..., lm_head=True)`)."""
    adapter, model = loaded.adapter, loaded.model
    routers = dict(adapter.routers(model).get(stack, []))
    if layer not in routers:
        raise InputError(f"{loaded.name} has no sparse {stack} block {layer} (sparse blocks: "
                         f"{', '.join(map(str, routers)) or 'none'}).")
    names = {id(m): n for n, m in model.named_modules()}
    experts = experts_beside(model, routers[layer], names)
    if experts is None:
        raise InputError(f"{loaded.name}: no experts module beside its router, so its experts cannot be read alone.")
    enc = loaded.tokenizer(text, return_tensors="pt", truncation=True, max_length=512)
    n_tokens = enc["input_ids"].shape[1]
    if not 0 <= token < n_tokens:
        raise InputError(f"Token {token} is out of range: the text has {n_tokens} tokens (counting from 0).")
    seen: dict[str, tuple] = {}
    handle = experts.register_forward_pre_hook(lambda _m, args: None if "args" in seen else seen.update(
        {"args": tuple(a.detach() if torch.is_tensor(a) else a for a in args)}))  # a hook that returns None
    device = loaded.input_device
    try:
        with torch.inference_mode():
            adapter.run(model, enc["input_ids"].to(device), enc["attention_mask"].to(device), adapter.stacks)
    finally:
        handle.remove()
    index, weights, dropped = adapter.dispatched(seen["args"])
    row = token + (adapter.decoder_offset() if stack == "decoder" else 0)
    hidden = seen["args"][0].reshape(index.shape[0], -1)[row : row + 1]
    rows = []
    if bool(dropped[row]):
        return pd.DataFrame(columns=["expert", "weight", "rank", "token", "logit"])
    with torch.inference_mode():
        for e, w in zip(index[row].tolist(), weights[row].tolist()):
            out = adapter.run_one_expert(experts, hidden, int(e)).reshape(1, -1)
            logits = adapter.unembed(model, out, stack).float().reshape(-1)
            values, ids = logits.topk(top)
            for rank, (v, i) in enumerate(zip(values.tolist(), ids.tolist()), 1):
                rows.append({"expert": int(e), "weight": float(w), "rank": rank,
                             "token": token_names(loaded.tokenizer, [int(i)])[0], "token_id": int(i), "logit": v})
    return pd.DataFrame(rows)
