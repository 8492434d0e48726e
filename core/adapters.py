"""Model families: where the routers are, how a hook output becomes routing probabilities, and how to
run the stacks. The tracer is family-agnostic; each family is one small adapter here.

- `SwitchAdapter`: Switch Transformers (encoder–decoder, top-1 routers; DESIGN §2).
- `MoefiedAdapter`: a dense BERT-style encoder MoE-fied after training (one stack): the FFN's
  intermediate neurons are clustered into experts, and a token's "routing" at a layer is the share of its
  positive FFN activation mass that falls in each cluster (MoEfication, Zhang et al. 2022).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

Routers = dict[str, list[tuple[int, torch.nn.Module]]]


class SwitchAdapter:
    family = "switch"
    label = "Switch Transformer (sparsely trained, top-1 routing)"

    def routers(self, model: torch.nn.Module) -> Routers:
        found: Routers = {}
        for name, module in model.named_modules():
            if type(module).__name__.endswith("Top1Router"):
                parts = name.split(".")
                found.setdefault(parts[0], []).append((int(parts[parts.index("block") + 1]), module))
        return {k: sorted(v, key=lambda bm: bm[0]) for k, v in found.items()}

    def converter(self, stack: str, block: int):
        return self.to_probs

    def to_probs(self, output) -> tuple[torch.Tensor, torch.Tensor]:
        """Router output (dispatch mask, top prob, logits) → float32 softmax and the dropped mask."""
        dispatch, _top_prob, logits = output
        return torch.softmax(logits.float(), dim=-1), dispatch.sum(dim=-1) == 0

    def run(self, model, ids: torch.Tensor, mask: torch.Tensor, stacks: tuple[str, ...], start_id: int) -> int:
        """Encoder, then (if asked) the decoder by teacher forcing on [start] + ids; no LM head.
        Returns how many leading positions of the decoder to discard (1: the start position)."""
        enc_out = model.encoder(input_ids=ids, attention_mask=mask, return_dict=True).last_hidden_state
        if "decoder" in stacks:
            # Position t+1 has token t as its input. Causality makes positions 0..n-1 identical to
            # shift_right(input_ids); the extra last position gives EOS a row.
            start = torch.full((ids.shape[0], 1), start_id, dtype=torch.long, device=ids.device)
            model.decoder(input_ids=torch.cat([start, ids], dim=1), attention_mask=torch.cat([torch.ones_like(start), mask], 1),
                          encoder_hidden_states=enc_out, encoder_attention_mask=mask, use_cache=False, return_dict=True)
        return 1


@dataclass
class MoefiedAdapter:
    """`partition[l][i]` = expert of intermediate neuron i at layer l."""

    partition: list[np.ndarray]
    num_experts: int
    family: str = "moefied"
    label: str = ("dense model MoE-fied after training; routing = activation mass per neuron cluster; "
                  "not a sparsely trained model")

    def __post_init__(self) -> None:
        self._onehots: dict[tuple[int, str, torch.dtype], torch.Tensor] = {}

    def routers(self, model: torch.nn.Module) -> Routers:
        layers = model.encoder.layer
        return {"encoder": [(i, layer.intermediate) for i, layer in enumerate(layers)]}

    def onehot(self, layer: int, device, dtype=torch.float32) -> torch.Tensor:
        key = (layer, str(device), dtype)
        if key not in self._onehots:
            labels = torch.as_tensor(self.partition[layer], dtype=torch.long)
            self._onehots[key] = torch.nn.functional.one_hot(labels, self.num_experts).to(device=device, dtype=dtype)
        return self._onehots[key]

    def mass_probs(self, activations: torch.Tensor, layer: int) -> torch.Tensor:
        """(B, S, N) FFN activations → (B, S, E) share of positive activation mass per expert (rows sum to 1)."""
        pos = activations.float().clamp_min(0)
        mass = pos @ self.onehot(layer, pos.device)
        total = mass.sum(dim=-1, keepdim=True)
        uniform = torch.full_like(mass, 1.0 / self.num_experts)
        return torch.where(total > 0, mass / total.clamp_min(1e-30), uniform)

    def converter(self, stack: str, layer: int):
        def to_probs(output) -> tuple[torch.Tensor, torch.Tensor]:
            probs = self.mass_probs(output, layer)
            return probs, torch.zeros(probs.shape[:2], dtype=torch.bool, device=probs.device)

        return to_probs

    def run(self, model, ids: torch.Tensor, mask: torch.Tensor, stacks: tuple[str, ...], start_id: int) -> int:
        model(input_ids=ids, attention_mask=mask, return_dict=True)
        return 0
