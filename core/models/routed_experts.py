"""Sparse experts with a trained router over a dense BERT-style FFN (MoEfication, Zhang et al. 2022, both halves).

`RoutedExperts` replaces one layer's `BertIntermediate` (and the layer's `output.dense` becomes the identity): its
`router` (a linear layer, the module the tracer hooks) scores the FFN's input, the top-k experts are chosen, and only
their neurons are computed — tokens gathered per expert, one small GEMM pair each. An expert that does not run
contributes its `skip` vector (the mean output it gave, on training text, to the tokens that did not choose it), the
cheapest estimate of what was left out. With k = E every expert runs, nothing is estimated, and the block computes the
dense FFN exactly (up to float summation order), which the tests check.

Three execution modes: "sparse" (inference: only the chosen experts' neurons run; `ran` records which ran, read from
the loop itself), "masked" (training: every expert computed and the unchosen ones replaced by their skip vector —
the same function, differentiable and fast on a CPU), "dense" (every expert runs: the dense model's FFN).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import numpy as np
import torch
from torch import nn

Mode = Literal["sparse", "masked", "dense"]


class RoutedExperts(nn.Module):
    """One layer's FFN split into E experts of N/E neurons (a balanced partition), with a router and top-k."""

    def __init__(self, hidden: int, neurons: int, num_experts: int, top_k: int, act) -> None:
        super().__init__()
        if neurons % num_experts:
            raise ValueError(f"{neurons} neurons do not split into {num_experts} equal experts.")
        n = neurons // num_experts
        self.num_experts, self.top_k, self.act = num_experts, top_k, act
        self.router = nn.Linear(hidden, num_experts, bias=False)  # bias-free, as the controls' random routers
        self.w_in = nn.Parameter(torch.zeros(num_experts, n, hidden))
        self.b_in = nn.Parameter(torch.zeros(num_experts, n))
        self.w_out = nn.Parameter(torch.zeros(num_experts, hidden, n))
        self.b_out = nn.Parameter(torch.zeros(hidden))
        self.skip = nn.Parameter(torch.zeros(num_experts, hidden))
        self.register_buffer("neuron_ids", torch.zeros(num_experts, n, dtype=torch.long))  # original neuron index
        self.mode: Mode = "sparse"
        self.ran: torch.Tensor | None = None  # (tokens, E) bool: which experts' neurons ran, set by the sparse loop

    @classmethod
    def from_dense(cls, intermediate: nn.Module, output_dense: nn.Linear, partition: np.ndarray, top_k: int
                   ) -> RoutedExperts:
        """Split a dense FFN (BertIntermediate + BertOutput.dense) by `partition` (expert of every neuron)."""
        partition = np.asarray(partition)
        num_experts = int(partition.max()) + 1
        w1, b1 = intermediate.dense.weight.detach(), intermediate.dense.bias.detach()
        w2 = output_dense.weight.detach()
        block = cls(w1.shape[1], w1.shape[0], num_experts, top_k, intermediate.intermediate_act_fn)
        ids = torch.as_tensor(np.argsort(partition, kind="stable")).view(num_experts, -1).to(w1.device)
        if not bool((torch.as_tensor(partition)[ids.cpu()] == torch.arange(num_experts)[:, None]).all()):
            raise ValueError("The partition is not balanced: every expert needs the same number of neurons.")
        block = block.to(device=w1.device, dtype=w1.dtype)
        with torch.no_grad():
            block.neuron_ids.copy_(ids)
            block.w_in.copy_(w1[ids])
            block.b_in.copy_(b1[ids])
            block.w_out.copy_(w2[:, ids].permute(1, 0, 2))
            block.b_out.copy_(output_dense.bias.detach())
        return block

    def expert_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """(T, H) → (T, E, H): every expert's output (no bias), for training targets and the masked mode."""
        h = self.act(torch.einsum("th,enh->ten", x, self.w_in) + self.b_in)
        return torch.einsum("ten,ehn->teh", h, self.w_out)

    def activations(self, x: torch.Tensor) -> torch.Tensor:
        """(T, H) → (T, E, N/E) every neuron's activation, grouped by expert (the oracle's activation mass)."""
        return self.act(torch.einsum("th,enh->ten", x, self.w_in) + self.b_in)

    def chosen_mask(self, logits: torch.Tensor) -> torch.Tensor:
        """(T, E) router output → (T, E) bool: the top-k experts of each token, or the router design's own selection
        (core.models.router_designs) where it has one."""
        select = getattr(self.router, "select", None)
        if select is not None and self.top_k == getattr(self.router, "top_k", None):
            return select(logits)
        chosen = logits.topk(self.top_k, dim=-1).indices
        return torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, chosen, True)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        shape = hidden.shape
        x = hidden.reshape(-1, shape[-1])
        logits = self.router(x)  # the router's forward hook sees these
        if self.mode == "dense":
            return (self.expert_outputs(x).sum(1) + self.b_out).reshape(shape)
        mask = self.chosen_mask(logits)
        if self.mode == "masked":
            y = torch.where(mask.unsqueeze(-1), self.expert_outputs(x), self.skip)
            return (y.sum(1) + self.b_out).reshape(shape)
        y = (self.b_out + (~mask).to(x.dtype) @ self.skip).contiguous()
        ran = torch.zeros_like(mask)
        for e in range(self.num_experts):
            tokens = mask[:, e].nonzero().squeeze(-1)
            if tokens.numel():
                h = self.act(x[tokens] @ self.w_in[e].T + self.b_in[e])
                y.index_add_(0, tokens, h @ self.w_out[e].T)
                ran[tokens, e] = True
        self.ran = ran
        return y.reshape(shape)


def routed_blocks(model: nn.Module) -> list[RoutedExperts]:
    return [layer.intermediate for layer in model.encoder.layer if isinstance(layer.intermediate, RoutedExperts)]


def install(model: nn.Module, partitions: list[np.ndarray], top_k: int, design: str = "softmax", seed: int = 0
            ) -> list[RoutedExperts]:
    """Replace every layer's FFN of a BERT-style encoder by RoutedExperts (in place), routed by `design`
    (core.models.router_designs; the hash table is seeded per layer); returns the blocks."""
    from core.models.router_designs import make_router, share_inputs

    for i, (layer, part) in enumerate(zip(model.encoder.layer, partitions)):
        layer.intermediate = RoutedExperts.from_dense(layer.intermediate, layer.output.dense, part, top_k)
        layer.output.dense = nn.Identity()
        if design != "softmax":
            block = layer.intermediate
            router = make_router(design, block.w_in.shape[-1], block.num_experts, top_k,  # type: ignore[arg-type]
                                 model.config.vocab_size, seed * 1000 + i)
            block.router = router.to(device=block.w_in.device)
    blocks = routed_blocks(model)
    share_inputs(model, [b.router for b in blocks])
    return blocks


@contextmanager
def mode(model: nn.Module, new: Mode, top_k: int | None = None) -> Iterator[None]:
    """Every block in `new` mode (and top-k) while open; restored afterwards, also on error."""
    blocks = routed_blocks(model)
    saved = [(b.mode, b.top_k) for b in blocks]
    try:
        for b in blocks:
            b.mode = new
            b.top_k = top_k if top_k is not None else b.top_k
        yield
    finally:
        for b, (m, k) in zip(blocks, saved):
            b.mode, b.top_k = m, k
