"""NLLB-MoE: an encoder–decoder like Switch (both stacks, the decoder read by teacher forcing), with top-2 routers
and an expert capacity.

Its router returns (top-1 mask (N, E) 0/1, combine weights (N, E), logits (N, E)). The routing distribution is the
softmax of the logits; the chosen experts are the router's top-2 (the best, then the best of the rest), and a token
is dropped when its combine weights are all zero (capacity or padding). Under transformers 5.23 the experts module
builds its dispatch from a one-hot of the 0/1 top-1 mask, so experts 0 and 1 run for every token whatever the router
chose: the self-check reports the fault (docs/models.md), and the trace shows the router's decision.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from core.models.adapters.base import Captured, Copy, ModelAdapter, Routers, modules_by_class_suffix
from core.models.adapters.scoring import TOP2_CAPACITY
from core.models.adapters.switch import DECODER_NOTE, SwitchAdapter
from core.types import ExpertsKernel, Stack

UPSTREAM_FAULT = ("in transformers 5.23 NLLB-MoE's experts module builds its dispatch from a one-hot of the router's "
                  "0/1 mask, so experts 0 and 1 run for every token whatever the router chose; the trace shows the "
                  "router's decision, which the model does not carry out")


class NllbMoeAdapter(SwitchAdapter):
    scoring = TOP2_CAPACITY
    family = "nllb_moe"
    top_k = 2
    compares_with_paper = False
    copy = Copy(
        label="NLLB-MoE (encoder–decoder, top-2 routing)",
        caveat=("NLLB-MoE is a translation model: its decoder routing is read by teacher forcing on the same text. "
                "Published values are the Switch paper's and are not set beside other families."),
        stack_notes={"decoder": DECODER_NOTE},
        demo_hint="Its Switch counterpart is demo-switch-8.",
    )

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        fraction = float(getattr(config, "moe_eval_capacity_token_fraction", 1.0) or 0.0)
        # At inference the capacity is that fraction of the batch's tokens: at 1.0 (the default) nothing is dropped.
        self.capacity = None if fraction >= 1.0 else self.capacity
        self.sampled = str(getattr(config, "second_expert_policy", "all")) in ("sampling", "random")
        if self.sampled:
            self.one_text_per_forward = ("its second expert is drawn at random (second_expert_policy "
                                         f"'{config.second_expert_policy}', even in eval): each text is traced alone, "
                                         "with the draw seeded, so a trace is reproducible")
        elif fraction < 1.0:
            self.one_text_per_forward = ("its capacity at inference is a fraction of the batch's tokens (padding "
                                         "included), so a text's drops would depend on what it is batched with")

    SEED = 0  # the draw of a sampled second expert, per forward

    def run(self, model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, stacks: tuple[Stack, ...],
            decoder_read="input", causal_width: int | None = None) -> None:
        """As Switch's; under a sampled second-expert policy, each forward draws from a fixed seed (the caller's
        random state untouched), so the same text is traced the same way every time."""
        if not self.sampled:
            return super().run(model, ids, mask, stacks, decoder_read, causal_width)
        devices = [ids.device] if ids.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.SEED)
            return super().run(model, ids, mask, stacks, decoder_read, causal_width)

    def routers(self, model: torch.nn.Module) -> Routers:
        found: Routers = {}
        for name, layer, module in modules_by_class_suffix(model, ("Top2Router",), "layers"):
            stack: Stack = "decoder" if ".decoder." in f".{name}" else "encoder"
            found.setdefault(stack, []).append((layer, module))
        return {k: sorted(v, key=lambda bm: bm[0]) for k, v in found.items()}

    def sidebar_note(self) -> str:
        return f"**{self.copy.label}.** Note: {UPSTREAM_FAULT}."

    @staticmethod
    def to_probs(output) -> Captured:
        """(top-1 mask, combine weights, logits) → softmax, dropped (no expert got the token), the router's top-2 —
        where capacity dropped one of the two, the one kept stands in both slots (the token went to it alone)."""
        _top1, gates, logits = output
        probs = torch.softmax(logits.float(), dim=-1)
        return probs, gates.sum(dim=-1) == 0, NllbMoeAdapter._kept(probs.topk(2, dim=-1).indices, gates)

    @staticmethod
    def _kept(chosen: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
        """Each token's two experts with a slot whose expert capacity dropped replaced by the other (kept) one; a token
        that lost both keeps its two (it is recorded as dropped)."""
        live = gates.reshape(-1, gates.shape[-1]).gather(-1, chosen.reshape(-1, 2)).reshape(chosen.shape) > 0
        one = live.sum(-1, keepdim=True) == 1
        only = torch.where(live[..., :1], chosen[..., :1], chosen[..., 1:])
        return torch.where(one, only.expand_as(chosen), chosen)

    def chosen_weights(self, output: Any) -> torch.Tensor:
        """The combine weights of the router's top-2 (zero where capacity dropped one)."""
        _top1, gates, logits = output
        return gates.gather(-1, logits.float().topk(2, dim=-1).indices)

    def dispatched(self, args: tuple) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """What the sparse block means its experts to run: the experts with a non-zero combine weight (its third
        argument), not the 0/1 mask it passes as the index."""
        gates = args[2].reshape(-1, args[2].shape[-1])
        weights, index = gates.topk(2, dim=-1)
        single = weights[:, 1:] == 0  # one expert kept: it stands in both slots (as the trace reads it), once weighted
        return torch.where(single, index[:, :1], index), weights, gates.sum(-1) == 0

    def run_one_expert(self, experts: torch.nn.Module, hidden: torch.Tensor, expert: int) -> torch.Tensor:
        return ModelAdapter.run_one_expert(self, experts, hidden, expert)  # its module takes an index, as it should

    def without_expert(self, output, expert: int):
        raise NotImplementedError(f"Removing an expert is not measured on NLLB-MoE: {UPSTREAM_FAULT}.")

    def unembed(self, lm_model: torch.nn.Module, hidden: torch.Tensor, stack: Stack = "decoder") -> torch.Tensor:
        """The decoder's final layer norm, then the LM head (no rescaling)."""
        if stack != "decoder" or not hasattr(lm_model, "lm_head"):
            raise NotImplementedError("The logit lens reads the decoder's experts of a model loaded with its LM head.")
        return lm_model.lm_head(lm_model.get_decoder().layer_norm(hidden))

    def route_of(self, output):
        raise NotImplementedError(f"Routing is not written on NLLB-MoE: {UPSTREAM_FAULT}.")

    def with_route(self, output, rows, chosen, weights):
        raise NotImplementedError(f"Routing is not written on NLLB-MoE: {UPSTREAM_FAULT}.")

    def set_experts_kernel(self, model: torch.nn.Module, kernel: ExpertsKernel) -> str:
        return "library"

    @contextlib.contextmanager
    def without_capacity(self, model: torch.nn.Module) -> Iterator[None]:
        """The eval capacity (a fraction of the batch's tokens) and the fixed one both lifted, restored afterwards."""
        routers = [module for found in self.routers(model).values() for _block, module in found]
        saved = [(r.expert_capacity, r.moe_eval_capacity_token_fraction) for r in routers]
        try:
            for r in routers:
                r.expert_capacity, r.moe_eval_capacity_token_fraction = 2**31 - 1, 0.0
            yield
        finally:
            for r, (capacity, fraction) in zip(routers, saved):
                r.expert_capacity, r.moe_eval_capacity_token_fraction = capacity, fraction
