"""Llama 4 (and its multimodal checkpoints, traced through their text tower).

Its router returns (scores, logits): the top-k of the logits, each chosen expert's score the sigmoid of its logit
(0 elsewhere). The block does not hand its experts an index: every expert gets every token, its *input* scaled by
that score (so an unchosen expert sees zeros and, having no bias, outputs zeros), and a shared MLP runs beside them.
The self-check therefore reads the dispatch off the experts' inputs: a token goes to the experts whose input for it
is not zero, and each expert's output for it must be that expert run on its scaled input alone.
"""
from __future__ import annotations

import torch

from core.models.adapters.base import Captured, Routers, modules_by_class_suffix
from core.models.adapters.decoder_only import DecoderOnlyAdapter

LLAMA4_ROUTER_SUFFIXES = ("Llama4Router",)


class Llama4Adapter(DecoderOnlyAdapter):
    ablation_reroutes = False  # its routing cannot be written (route_of): removal is refused
    def routers(self, model: torch.nn.Module) -> Routers:
        found = [(layer, module) for _name, layer, module in
                 modules_by_class_suffix(model, LLAMA4_ROUTER_SUFFIXES, "layers")]
        return {"decoder": sorted(found, key=lambda bm: bm[0])} if found else {}

    def to_probs(self, output) -> Captured:
        """(scores, logits) → the normalised sigmoid scores of all experts and the router's top-k of the logits."""
        _scores, logits = output[:2]
        probs = self.scoring.distribution(logits)
        return (probs, torch.zeros(probs.shape[:-1], dtype=torch.bool, device=probs.device),
                logits.float().topk(self.top_k, dim=-1).indices)

    def chosen_weights(self, output) -> torch.Tensor:
        scores, logits = output[:2]
        return scores.gather(-1, logits.float().topk(self.top_k, dim=-1).indices)

    def dispatched(self, args: tuple) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The experts whose input for a token is not zero (weight 1: the score is already in the input)."""
        routed_in = args[0]
        n = routed_in.shape[0] // self.num_experts
        live = routed_in.reshape(self.num_experts, n, -1).abs().amax(-1).T > 0  # (N, E)
        index = live.float().topk(self.top_k, dim=-1).indices
        return index, torch.ones(index.shape, dtype=routed_in.dtype, device=index.device), ~live.any(-1)

    def run_one_expert(self, experts: torch.nn.Module, hidden: torch.Tensor, expert: int) -> torch.Tensor:
        """`expert` alone on its own (scaled) inputs, token by token (N, E·d): its block filled, the others zero."""
        x = hidden.reshape(self.num_experts, -1, hidden.shape[-1])
        only = torch.zeros_like(x)
        only[expert] = x[expert]
        return self.experts_rows(experts(only.reshape(-1, hidden.shape[-1])), x.shape[1])

    def experts_rows(self, out: torch.Tensor, n: int) -> torch.Tensor:
        """The experts' output (E·N, d), expert-major → token by token (N, E·d)."""
        return out.reshape(self.num_experts, n, -1).transpose(0, 1).reshape(n, -1)

    def route_of(self, output):
        raise NotImplementedError("Llama 4's blocks hand their experts scaled inputs, not an index: its routing is "
                                  "not written yet.")

    def without_expert(self, output, expert: int):
        raise NotImplementedError("Removing an expert is implemented for routers that score by softmax then top-k; "
                                  f"{self.spec.short_label} scores by {self.scoring.name}.")
