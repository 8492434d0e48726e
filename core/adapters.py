"""Model families: where the routers are, how a hook output becomes routing probabilities, and how to
run the stacks. The tracer is family-agnostic; each family is one small adapter here.

- `SwitchAdapter`: Switch Transformers (encoder–decoder, top-1 routers; DESIGN §2).
- `DecoderOnlyAdapter`: decoder-only top-k MoE families (Mixtral, OLMoE, Qwen2/3-MoE, GraniteMoE, PhiMoE,
  Jamba, DeepSeek-V2), one causal stack named "decoder"; `DECODER_FAMILIES` lists them.
- `MoefiedAdapter`: a dense BERT-style encoder MoE-fied after training (one stack): the FFN's
  intermediate neurons are clustered into experts, and a token's "routing" at a layer is the share of its
  positive FFN activation mass that falls in each cluster (MoEfication, Zhang et al. 2022).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

Routers = dict[str, list[tuple[int, torch.nn.Module]]]
# What a hook yields per router: probabilities (..., E) float32, dropped (...) bool, selected experts (..., k).
Captured = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class SwitchAdapter:
    family = "switch"
    label = "Switch Transformer (sparsely trained, top-1 routing)"
    top_k = 1
    stacks = ("encoder", "decoder")

    def routers(self, model: torch.nn.Module) -> Routers:
        found: Routers = {}
        for name, module in model.named_modules():
            if type(module).__name__.endswith("Top1Router"):
                parts = name.split(".")
                found.setdefault(parts[0], []).append((int(parts[parts.index("block") + 1]), module))
        return {k: sorted(v, key=lambda bm: bm[0]) for k, v in found.items()}

    def converter(self, stack: str, block: int):
        return self.to_probs

    def to_probs(self, output) -> Captured:
        """Router output (dispatch mask, top prob, logits) → float32 softmax, dropped mask, chosen expert."""
        dispatch, _top_prob, logits = output
        probs = torch.softmax(logits.float(), dim=-1)
        return probs, dispatch.sum(dim=-1) == 0, probs.argmax(dim=-1, keepdim=True)

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
    top_k: int = 1
    stacks: tuple[str, ...] = ("encoder",)
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
        def to_probs(output) -> Captured:
            probs = self.mass_probs(output, layer)
            dropped = torch.zeros(probs.shape[:2], dtype=torch.bool, device=probs.device)
            return probs, dropped, probs.argmax(dim=-1, keepdim=True)

        return to_probs

    def run(self, model, ids: torch.Tensor, mask: torch.Tensor, stacks: tuple[str, ...], start_id: int) -> int:
        model(input_ids=ids, attention_mask=mask, return_dict=True)
        return 0


@dataclass(frozen=True)
class Family:
    """A decoder-only MoE family: what to look for in its config and its smallest public checkpoint."""

    name: str
    label: str
    model_types: tuple[str, ...]
    experts_attr: str  # config attribute holding the routed-expert count
    smallest: str  # smallest public checkpoint (Hub id)
    smallest_params: int  # its total parameter count, rounded as its model card gives it
    top_k_attr: str = "num_experts_per_tok"
    note: str = ""


DECODER_FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("mixtral", "Mixtral (Mistral AI)", ("mixtral",), "num_local_experts", "mistralai/Mixtral-8x7B-v0.1",
           46_700_000_000),
    Family("olmoe", "OLMoE (AI2)", ("olmoe",), "num_experts", "allenai/OLMoE-1B-7B-0924", 6_900_000_000),
    Family("qwen2_moe", "Qwen2-MoE / Qwen1.5-MoE", ("qwen2_moe",), "num_experts", "Qwen/Qwen1.5-MoE-A2.7B",
           14_300_000_000, note="a shared expert runs for every token beside the routed ones"),
    Family("qwen3_moe", "Qwen3-MoE", ("qwen3_moe",), "num_experts", "Qwen/Qwen3-30B-A3B", 30_500_000_000),
    Family("granitemoe", "GraniteMoE (IBM)", ("granitemoe",), "num_local_experts",
           "ibm-granite/granite-3.0-1b-a400m-base", 1_300_000_000,
           note="top-k is taken on the logits; the recorded distribution is the softmax over all experts"),
    Family("phimoe", "PhiMoE (Microsoft)", ("phimoe",), "num_local_experts", "microsoft/Phi-3.5-MoE-instruct",
           41_900_000_000, note="SparseMixer top-2: at inference the two highest logits"),
    Family("jamba", "Jamba (AI21)", ("jamba",), "num_experts", "ai21labs/AI21-Jamba-Mini-1.5", 51_600_000_000,
           note="hybrid Mamba–attention layers; experts in every other layer"),
    Family("deepseek_v2", "DeepSeek-V2", ("deepseek_v2",), "n_routed_experts", "deepseek-ai/DeepSeek-V2-Lite",
           15_700_000_000, note="shared experts run for every token; group-limited routing may skip a "
                                "high-probability expert outside the chosen groups"),
)}
MODEL_TYPE_FAMILY = {t: f for f in DECODER_FAMILIES.values() for t in f.model_types}
# Router classes in transformers >= 5: a module returning (router_logits, top_k_weights, top_k_index).
ROUTER_CLASS_SUFFIXES = ("TopKRouter", "TopkRouter")


class DecoderOnlyAdapter:
    """Decoder-only top-k MoE (Mixtral, OLMoE, Qwen-MoE, GraniteMoE, PhiMoE, Jamba, DeepSeek-V2): one causal stack.

    Every family's router in transformers >= 5 is a module returning (router_logits, top_k_weights,
    top_k_index) on flattened tokens, so one hook serves them all: the full softmax of the logits is the
    routing distribution and top_k_index the experts the model actually chose. Nothing is ever dropped
    (no expert capacity at inference)."""

    stacks = ("decoder",)

    def __init__(self, family: Family, config) -> None:
        self.family = family.name
        self.spec = family
        self.top_k = int(getattr(config, family.top_k_attr))
        self.num_experts = int(getattr(config, family.experts_attr))
        self.label = f"{family.label.split(' (')[0]} architecture: decoder-only, top-{self.top_k} routing"

    def routers(self, model: torch.nn.Module) -> Routers:
        found = []
        for name, module in model.named_modules():
            if type(module).__name__.endswith(ROUTER_CLASS_SUFFIXES):
                parts = name.split(".")
                found.append((int(parts[parts.index("layers") + 1]), module))
        return {"decoder": sorted(found, key=lambda bm: bm[0])} if found else {}

    def converter(self, stack: str, block: int):
        return self.to_probs

    @staticmethod
    def to_probs(output) -> Captured:
        logits, _weights, index = output[:3]
        probs = torch.softmax(logits.float(), dim=-1)
        return probs, torch.zeros(probs.shape[:-1], dtype=torch.bool, device=probs.device), index

    def run(self, model, ids: torch.Tensor, mask: torch.Tensor, stacks: tuple[str, ...], start_id: int) -> int:
        """One causal pass of the base model (no LM head); right padding leaves real positions untouched."""
        model(input_ids=ids, attention_mask=mask, use_cache=False, return_dict=True)
        return 0


def family_of(config) -> str:
    """The adapter family of a config's model_type ("switch", a decoder family), or "" when unsupported."""
    if config.model_type == "switch_transformers":
        return "switch"
    family = MODEL_TYPE_FAMILY.get(config.model_type)
    return family.name if family else ""
