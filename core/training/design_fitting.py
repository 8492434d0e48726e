"""Fitting one layer's router for each router design of the routing lab (core.models.router_designs), on the same
FFN inputs and oracle (the experts' share of the token's positive activation mass) as `train-router`:

- softmax and expert choice: the softmax of the linear map fitted to the oracle distribution (cross-entropy) — expert
  choice differs only in who picks whom at inference;
- sigmoid + bias: each expert's sigmoid fitted to whether it is in the oracle's top-k (binary cross-entropy, the
  independent scores DeepSeek-V3 uses), with the selection bias updated after every step, no auxiliary loss;
- hash: nothing to fit (the table is fixed by the seed).
"""
from __future__ import annotations

import torch
from torch import nn

from core.models.router_designs import ExpertChoiceRouter, HashRouter, SigmoidBiasRouter, update_bias

BATCH_TOKENS = 4096


def fit_design(block, x: torch.Tensor, target: torch.Tensor, steps: int, generator: torch.Generator) -> float:
    """Fit `block.router` (whatever its design) to the oracle `target` (T, E) on inputs `x` (T, H); the last loss."""
    router = block.router
    if isinstance(router, HashRouter):
        return float("nan")
    linear = router if isinstance(router, nn.Linear) else router.linear
    opt = torch.optim.Adam(linear.parameters(), lr=1e-2)
    member = torch.zeros_like(target).scatter_(-1, target.topk(block.top_k, -1).indices, 1.0)
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        rows = torch.randint(0, x.shape[0], (min(BATCH_TOKENS, x.shape[0]),), generator=generator)
        logits = linear(x[rows])
        if isinstance(router, SigmoidBiasRouter):
            loss = nn.functional.binary_cross_entropy_with_logits(logits, member[rows])
        else:
            loss = -(target[rows] * torch.log_softmax(logits, -1)).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if isinstance(router, SigmoidBiasRouter):
            with torch.no_grad():
                router.bias.copy_(update_bias(router.bias, router.select(router(x[rows]))))
    return float(loss.detach())


def needs_text(block) -> bool:
    """Whether the router's choice depends on the text's token ids or its other tokens (so its chosen experts come
    from a forward pass, not from the FFN inputs alone)."""
    return isinstance(block.router, (ExpertChoiceRouter, HashRouter))


def routed_in_pass(model: nn.Module, batches, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens, E) router output and (tokens, E) chosen experts of `layer` for every real token of `batches` (in the
    order of core.training.router_training.ffn_inputs), read from forward passes as the block selects them."""
    block = model.encoder.layer[layer].intermediate
    got: list[tuple[torch.Tensor, torch.Tensor]] = []
    handle = block.router.register_forward_hook(lambda _m, _i, out: got.append((out, block.chosen_mask(out))))
    try:
        with torch.inference_mode():
            masks = []
            for enc in batches:
                model(**enc)
                masks.append(enc["attention_mask"].bool().reshape(-1))
    finally:
        handle.remove()
    return (torch.cat([o[m] for (o, _c), m in zip(got, masks)]).float(),
            torch.cat([c[m] for (_o, c), m in zip(got, masks)]))
