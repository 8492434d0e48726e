"""Decoder-only top-k MoE families (Mixtral, OLMoE, Qwen2/3-MoE, GraniteMoE, PhiMoE, Jamba, DeepSeek-V2): one causal
stack, named "decoder". `DECODER_FAMILIES` is the table to extend for a new family."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from core.models.adapters.base import Captured, Converter, Copy, ModelAdapter, Routers, modules_by_class_suffix
from core.types import DecoderRead, Stack

CAUSAL_NOTE = "Decoder-only: a token's routing depends only on the tokens to its left (causal attention)"
# Router classes in transformers >= 5: a module returning (router_logits, top_k_weights, top_k_index).
ROUTER_CLASS_SUFFIXES = ("TopKRouter", "TopkRouter")


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

    @property
    def short_label(self) -> str:
        """"Mixtral" from "Mixtral (Mistral AI)": the architecture, not the vendor."""
        return self.label.split(" (")[0]


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
MODEL_TYPE_FAMILY: dict[str, Family] = {t: f for f in DECODER_FAMILIES.values() for t in f.model_types}


class DecoderOnlyAdapter(ModelAdapter):
    """Every family's router in transformers >= 5 is a module returning (router_logits, top_k_weights,
    top_k_index) on flattened tokens, so one hook serves them all: the full softmax of the logits is the
    routing distribution and top_k_index the experts the model actually chose. Nothing is ever dropped
    (no expert capacity at inference)."""

    architecture = "decoder-only"
    stacks: tuple[Stack, ...] = ("decoder",)
    causal = True
    causal_stacks: tuple[Stack, ...] = ("decoder",)

    def __init__(self, family: Family, config: Any) -> None:
        self.family = family.name
        self.spec = family
        self.top_k = int(getattr(config, family.top_k_attr))
        self.num_experts = int(getattr(config, family.experts_attr))
        label = f"{family.short_label} architecture: decoder-only, top-{self.top_k} routing"
        self.copy = Copy(
            label=label,
            caveat=("Decoder-only models: one causal stack, reported as 'decoder'. A token's routing depends only on "
                    "the tokens to its left, so 'with context' means left context; words traced alone have none. "
                    "Published values are the Switch paper's and are not set beside other families."),
            stack_notes={"decoder": CAUSAL_NOTE},
            learn_note=(f"**The model in use is decoder-only** ({label}). It has one causal stack, sends each token to "
                        f"its top-{self.top_k} of {self.num_experts} experts, and has no capacity limit, so the capacity "
                        "demo below is hypothetical. Its routing of a word can only respond to the words *before* it."),
            demo_hint="Its Switch counterpart (same text, same tokenizer) is demo-switch-8.",
        )

    def sidebar_note(self) -> str:
        return (f"**{self.copy.label}.** One causal stack (shown as 'decoder'): routing sees left context only."
                + (f" Note: {self.spec.note}." if self.spec.note else ""))

    def context_note(self, word: str) -> str:
        return (f"Model: {self.copy.label}. {CAUSAL_NOTE}: here only the words before “{word}” can change its "
                "routing; words after it cannot.")

    def routers(self, model: torch.nn.Module) -> Routers:
        found = [(layer, module) for _name, layer, module in modules_by_class_suffix(model, ROUTER_CLASS_SUFFIXES, "layers")]
        return {"decoder": sorted(found, key=lambda bm: bm[0])} if found else {}

    def converter(self, stack: Stack, block: int) -> Converter:
        return self.to_probs

    @staticmethod
    def to_probs(output) -> Captured:
        logits, _weights, index = output[:3]
        probs = torch.softmax(logits.float(), dim=-1)
        return probs, torch.zeros(probs.shape[:-1], dtype=torch.bool, device=probs.device), index

    objective = "next token"

    def lm_model_class(self):
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM

    def without_expert(self, output, expert: int):
        """The expert's logit masked, the top-k chosen again from the rest and their weights renormalised."""
        logits, scores, _indices = output
        masked = logits.clone()
        masked[..., expert] = float("-inf")
        probs = torch.softmax(masked.float(), dim=-1)
        top, chosen = torch.topk(probs, self.top_k, dim=-1)
        top = top / top.sum(dim=-1, keepdim=True)
        return masked, top.to(scores.dtype), chosen

    def run(self, model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, stacks: tuple[Stack, ...],
            decoder_read: DecoderRead = "input", causal_width: int | None = None) -> None:
        """One causal pass of the base model (no LM head) over the first `causal_width` tokens; right padding leaves
        real positions untouched."""
        ids, mask = ids[:, :causal_width], mask[:, :causal_width]
        model(input_ids=ids, attention_mask=mask, use_cache=False, return_dict=True)
