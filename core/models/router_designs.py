"""Router designs for the routing lab (`python -m core lab`): the same MoE-fied MiniLM experts, routed five ways.

Every design's router is the module the tracer hooks. Its output is the *log* of the design's routing distribution
(up to a constant per token), so softmax(output) is what the analyses read, and `select(output)` gives the experts
the block runs — the block calls it on the (possibly intervened) output, so the trace and the computation agree:

- "softmax" — token choice, softmax then top-k (the `minilm-router-E` routers): a plain `nn.Linear`.
- "sigmoid-bias" — token choice with sigmoid scores and a selection bias balanced without an auxiliary loss
  (DeepSeek-V3, Liu et al. 2024, §2.1.2): scores s = σ(xW); the top-k of s + b are chosen, b only decides selection;
  the distribution is s / Σ s. During training b_e += γ·sign(mean load − load_e) after every step (`update_bias`).
- "expert-choice" — each expert takes its top-c tokens of the text by softmax affinity, c = ⌈k·T/E⌉ (capacity
  factor 1; Zhou et al. 2022). The batch is the text: tokens of other texts and padding never compete. A token may
  be processed by no expert (dropped) or by many; its distribution is its affinity over the experts that processed
  it (its affinity over all where none did).
- "hash" — the token id decides (Roller et al. 2021): a seeded random table gives each vocabulary id k distinct
  experts; the distribution is uniform over them. Context-free by construction: a control.
- top-1 against top-k at equal compute is the "softmax" design with E/k coarse experts and k = 1.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

Design = Literal["softmax", "sigmoid-bias", "expert-choice", "hash"]
DESIGNS: tuple[Design, ...] = ("softmax", "sigmoid-bias", "expert-choice", "hash")
OFF = 1.0e4  # subtracted from the log-distribution of experts a token does not go to (exp(−1e4) is 0 in float32)
BIAS_RATE = 0.01  # γ: DeepSeek-V3 uses 0.001 over 14.8 T tokens; the lab fits each router in 150 steps


class ContextRouter(nn.Module):
    """A router that also sees the forward pass's token ids and attention mask (set by `share_inputs`)."""

    def __init__(self) -> None:
        super().__init__()
        self.input_ids: torch.Tensor | None = None
        self.attention_mask: torch.Tensor | None = None

    def select(self, out: torch.Tensor) -> torch.Tensor:
        """The experts the output did not switch off (those a token does not go to sit OFF below)."""
        return out > -OFF / 2


class SigmoidBiasRouter(nn.Module):
    """σ scores, top-k of score + bias; the bias is a buffer updated outside the gradient (no auxiliary loss)."""

    def __init__(self, hidden: int, num_experts: int, top_k: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden, num_experts, bias=False)
        self.register_buffer("bias", torch.zeros(num_experts))
        self.top_k = top_k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.logsigmoid(self.linear(x))

    def select(self, out: torch.Tensor) -> torch.Tensor:
        """Top-k of score + bias; an expert whose output was set to −∞ (a ban) is never chosen."""
        scores = torch.where(torch.isneginf(out), float("-inf"), out.exp() + self.bias.to(out.dtype))
        chosen = scores.topk(self.top_k, dim=-1).indices
        return torch.zeros_like(out, dtype=torch.bool).scatter_(-1, chosen, True)


def update_bias(bias: torch.Tensor, chosen: torch.Tensor, rate: float = BIAS_RATE) -> torch.Tensor:
    """DeepSeek-V3's auxiliary-loss-free balancing step: raise the bias of every expert loaded below the mean, lower
    it above (by `rate`); `chosen` (T, E) bool is the batch's selection."""
    load = chosen.float().sum(0)
    return bias + rate * torch.sign(load.mean() - load)


class ExpertChoiceRouter(ContextRouter):
    """Softmax affinity; each expert takes its top ⌈k·T/E⌉ real tokens of each text."""

    def __init__(self, hidden: int, num_experts: int, top_k: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden, num_experts, bias=False)
        self.top_k = top_k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        affinity = torch.log_softmax(self.linear(x).float(), dim=-1)
        taken = torch.zeros_like(affinity, dtype=torch.bool)
        mask = self.attention_mask
        if mask is None or mask.numel() != x.shape[0]:
            mask = torch.ones(1, x.shape[0], device=x.device)  # no mask handed over: one text
        mask = mask.reshape(-1, mask.shape[-1]).bool()  # (texts, positions), the order of x's rows
        per, experts = mask.shape[1], affinity.shape[-1]
        for r in range(mask.shape[0]):
            tokens = r * per + mask[r].nonzero().squeeze(-1)
            if not tokens.numel():
                continue
            capacity = min(tokens.numel(), math.ceil(self.top_k * tokens.numel() / experts))
            top = affinity[tokens].topk(capacity, dim=0).indices  # (c, E): each expert's tokens of this text
            taken[tokens] = torch.zeros(tokens.numel(), experts, dtype=torch.bool, device=x.device).scatter_(0, top, True)
        return torch.where(taken, affinity, affinity - OFF).to(x.dtype)


class HashRouter(ContextRouter):
    """A fixed random table: vocabulary id → k distinct experts (seeded). It has no weights to learn: it is balanced
    over the vocabulary, not over the text's token frequencies (Roller et al.'s "random hash")."""

    def __init__(self, vocab: int, num_experts: int, top_k: int, seed: int = 0) -> None:
        super().__init__()
        import numpy as np

        rows = np.random.default_rng(seed).permuted(np.tile(np.arange(num_experts), (vocab, 1)), axis=1)
        # rebuilt from the seed on load (numpy's PCG64 stream is stable), so never saved
        self.register_buffer("table", torch.as_tensor(rows[:, :top_k].copy()), persistent=False)
        self.num_experts, self.top_k = num_experts, top_k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_ids is None or self.input_ids.numel() != x.shape[0]:
            raise RuntimeError("Hash routing needs the token ids of the forward pass (share_inputs installs them).")
        out = torch.full((x.shape[0], self.num_experts), -OFF, dtype=x.dtype, device=x.device)
        return out.scatter_(-1, self.table[self.input_ids.reshape(-1)], 0.0)


LABELS: dict[str, str] = {
    "softmax": "token choice, softmax top-k",
    "sigmoid-bias": "token choice, sigmoid + balancing bias (no auxiliary loss)",
    "expert-choice": "expert choice (each expert takes its top tokens of the text)",
    "hash": "hash routing (the token id decides)",
}


def make_router(design: Design, hidden: int, num_experts: int, top_k: int, vocab: int, seed: int) -> nn.Module:
    if design == "softmax":
        return nn.Linear(hidden, num_experts, bias=False)
    if design == "sigmoid-bias":
        return SigmoidBiasRouter(hidden, num_experts, top_k)
    if design == "expert-choice":
        return ExpertChoiceRouter(hidden, num_experts, top_k)
    if design == "hash":
        return HashRouter(vocab, num_experts, top_k, seed)
    raise ValueError(f"unknown router design {design!r}; one of {', '.join(DESIGNS)}")


def fitted_linear(router: nn.Module) -> nn.Linear | None:
    """The learned linear map of a router (what the controls' random routers replace); None for hash routing."""
    if isinstance(router, nn.Linear):
        return router
    return getattr(router, "linear", None)


def share_inputs(model: nn.Module, routers: list[nn.Module]) -> None:
    """Every forward pass of `model` hands its input ids and attention mask to the routers that read them."""
    readers = [r for r in routers if isinstance(r, ContextRouter)]
    if not readers:
        return

    def hand(_module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        mask = kwargs.get("attention_mask")
        if mask is None and ids is not None:
            mask = torch.ones_like(ids)
        for r in readers:
            r.input_ids, r.attention_mask = ids, mask

    model.register_forward_pre_hook(hand, with_kwargs=True)
