"""Decoder-only top-k MoE families (Mixtral, OLMoE, Qwen2/3-MoE, Qwen3-Next, GraniteMoE(-Shared), PhiMoE, Jamba,
DeepSeek-V2/V3, GLM-4.5, dots.llm1, gpt-oss, MiniMax(-M2), ERNIE-4.5-MoE, Hunyuan-MoE, Llama 4, LFM2-MoE): one causal
stack, named "decoder". `DECODER_FAMILIES` is the table to extend for a new family; its `scoring` says how the router
scores and chooses (core.models.adapters.scoring)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from core.models.adapters.base import Captured, Converter, Copy, ModelAdapter, Routers, modules_by_class_suffix
from core.models.adapters.rerouting import rerun, weights_of_sets
from core.models.adapters.scoring import (
    SIGMOID_BIAS,
    SIGMOID_BIAS_GROUP,
    SIGMOID_TOPK,
    SOFTMAX_BIAS,
    SOFTMAX_GROUP,
    SOFTMAX_TOPK,
    SPARSEMIXER,
    TOPK_SOFTMAX,
    Scoring,
)
from core.errors import InputError
from core.types import DecoderRead, Stack

CAUSAL_NOTE = "Decoder-only: a token's routing depends only on the tokens to its left (causal attention)"
# Router classes in transformers >= 5: a module returning (router_logits, top_k_weights, top_k_index).
ROUTER_CLASS_SUFFIXES = ("TopKRouter", "TopkRouter", "MoEV1Gate")


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
    scoring: Scoring = SOFTMAX_TOPK
    shared: str = ""  # experts every token runs beside the routed ones ("" when none)
    dense_layers: str = ""  # which layers keep a dense MLP ("" when every layer is sparse)
    renormalises: bool | None = None  # the chosen weights divided by their sum: None = the config's norm_topk_prob

    @property
    def short_label(self) -> str:
        """"Mixtral" from "Mixtral (Mistral AI)": the architecture, not the vendor."""
        return self.label.split(" (")[0]


DECODER_FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("mixtral", "Mixtral (Mistral AI)", ("mixtral",), "num_local_experts", "mistralai/Mixtral-8x7B-v0.1",
           46_700_000_000, renormalises=True),
    Family("olmoe", "OLMoE (AI2)", ("olmoe",), "num_experts", "allenai/OLMoE-1B-7B-0924", 6_900_000_000),
    Family("qwen2_moe", "Qwen2-MoE / Qwen1.5-MoE", ("qwen2_moe",), "num_experts", "Qwen/Qwen1.5-MoE-A2.7B",
           14_300_000_000, note="a shared expert runs for every token beside the routed ones",
           shared="one shared expert, gated by a sigmoid", dense_layers="mlp_only_layers"),
    Family("qwen3_moe", "Qwen3-MoE", ("qwen3_moe",), "num_experts", "Qwen/Qwen3-30B-A3B", 30_500_000_000,
           dense_layers="mlp_only_layers"),
    Family("qwen3_next", "Qwen3-Next", ("qwen3_next",), "num_experts", "Qwen/Qwen3-Next-80B-A3B-Instruct",
           80_000_000_000, note="hybrid linear (Gated DeltaNet) and full attention; a gated shared expert",
           shared="one shared expert, gated by a sigmoid"),
    Family("granitemoe", "GraniteMoE (IBM)", ("granitemoe",), "num_local_experts",
           "ibm-granite/granite-3.0-1b-a400m-base", 1_300_000_000,
           note="top-k is taken on the logits; the recorded distribution is the softmax over all experts",
           scoring=TOPK_SOFTMAX),
    Family("granitemoeshared", "GraniteMoE-Shared (IBM)", ("granitemoeshared",), "num_local_experts",
           "ibm-research/moe-7b-1b-active-shared-experts", 7_000_000_000, scoring=TOPK_SOFTMAX,
           note="top-k is taken on the logits; a shared MLP runs for every token", shared="one shared MLP"),
    Family("phimoe", "PhiMoE (Microsoft)", ("phimoe",), "num_local_experts", "microsoft/Phi-3.5-MoE-instruct",
           41_900_000_000, note="SparseMixer top-2: at inference the two highest logits", scoring=SPARSEMIXER),
    Family("jamba", "Jamba (AI21)", ("jamba",), "num_experts", "ai21labs/AI21-Jamba-Mini-1.5", 51_600_000_000,
           note="hybrid Mamba–attention layers; experts in every other layer", dense_layers="every other layer"),
    Family("deepseek_v2", "DeepSeek-V2", ("deepseek_v2",), "n_routed_experts", "deepseek-ai/DeepSeek-V2-Lite",
           15_700_000_000, note="shared experts run for every token; group-limited routing may skip a "
                                "high-probability expert outside the chosen groups", scoring=SOFTMAX_GROUP,
           shared="n_shared_experts shared experts", dense_layers="the first first_k_dense_replace"),
    Family("deepseek_v3", "DeepSeek-V3 / Kimi K2", ("deepseek_v3",), "n_routed_experts", "deepseek-ai/DeepSeek-V3",
           671_000_000_000, scoring=SIGMOID_BIAS_GROUP, shared="n_shared_experts shared experts",
           dense_layers="the first first_k_dense_replace",
           note="sigmoid scores; the choice adds a selection-only bias inside the best groups, so it may differ from "
                "the distribution's top-k"),
    Family("glm4_moe", "GLM-4.5 (Z.ai)", ("glm4_moe",), "n_routed_experts", "zai-org/GLM-4.5-Air", 106_000_000_000,
           scoring=SIGMOID_BIAS_GROUP, shared="n_shared_experts shared experts",
           dense_layers="the first first_k_dense_replace",
           note="sigmoid scores with a selection-only bias inside the best groups (DeepSeek-V3's rule)"),
    Family("dots1", "dots.llm1 (rednote)", ("dots1",), "n_routed_experts", "rednote-hilab/dots.llm1.base",
           142_000_000_000, scoring=SIGMOID_BIAS_GROUP, shared="n_shared_experts shared experts",
           dense_layers="the first first_k_dense_replace", note="DeepSeek-V3's routing rule"),
    Family("gpt_oss", "gpt-oss (OpenAI)", ("gpt_oss",), "num_local_experts", "openai/gpt-oss-20b", 21_000_000_000,
           scoring=TOPK_SOFTMAX, note="a router with a bias; the softmax runs over the chosen top-k only"),
    Family("minimax", "MiniMax-Text-01", ("minimax",), "num_local_experts", "MiniMaxAI/MiniMax-Text-01",
           456_000_000_000, note="hybrid lightning (linear) and softmax attention", renormalises=True),
    Family("minimax_m2", "MiniMax-M2", ("minimax_m2",), "num_local_experts", "MiniMaxAI/MiniMax-M2", 230_000_000_000,
           scoring=SIGMOID_BIAS, note="sigmoid scores; the choice adds a selection-only bias"),
    Family("ernie4_5_moe", "ERNIE-4.5-MoE (Baidu)", ("ernie4_5_moe",), "moe_num_experts",
           "baidu/ERNIE-4.5-21B-A3B-PT", 21_000_000_000, scoring=SOFTMAX_BIAS, shared="moe_num_shared_experts",
           note="the choice adds a selection-only bias (moe_statics) to the softmax"),
    Family("hunyuan_v1_moe", "Hunyuan-MoE (Tencent)", ("hunyuan_v1_moe",), "num_experts",
           "tencent/Hunyuan-A13B-Instruct", 80_000_000_000, top_k_attr="moe_topk", shared="a shared MLP",
           renormalises=True),
    Family("llama4", "Llama 4 (Meta)", ("llama4", "llama4_text"), "num_local_experts",
           "meta-llama/Llama-4-Scout-17B-16E", 109_000_000_000, scoring=SIGMOID_TOPK, shared="one shared MLP",
           dense_layers="all but moe_layers", note="the router scales each chosen expert's input by the sigmoid of its "
                                                   "logit; multimodal checkpoints are traced through their text tower"),
    Family("lfm2_moe", "LFM2-MoE (Liquid AI)", ("lfm2_moe",), "num_experts", "LiquidAI/LFM2-8B-A1B", 8_300_000_000,
           scoring=SIGMOID_BIAS, dense_layers="the first num_dense_layers",
           note="hybrid convolution and attention layers; sigmoid scores with a selection-only expert bias"),
)}
MODEL_TYPE_FAMILY: dict[str, Family] = {t: f for f in DECODER_FAMILIES.values() for t in f.model_types}


def generic_family(config: Any) -> Family | None:
    """An unverified family for a decoder-only config that names an expert count and a top-k (adapters/generic.py);
    None otherwise."""
    from core.models.adapters.generic import generic_attrs

    found = generic_attrs(config)
    if found is None:
        return None
    experts, top_k = found
    model_type = str(config.model_type)
    return Family(model_type, f"{model_type} (unverified family)", (model_type,), experts, "", 0, top_k_attr=top_k,
                  note=("an unverified family: its router was found by its module names and its scoring is assumed to "
                        "be softmax then top-k; the self-check says whether the traced experts are the ones it "
                        "dispatched"))


class DecoderOnlyAdapter(ModelAdapter):
    """Every family's router in transformers >= 5 is a module returning (router_logits, top_k_weights,
    top_k_index) on flattened tokens, so one hook serves them all: the full softmax of the logits is the
    routing distribution and top_k_index the experts the model actually chose. Nothing is ever dropped
    (no expert capacity at inference)."""

    architecture = "decoder-only"
    stacks: tuple[Stack, ...] = ("decoder",)
    causal = True
    causal_stacks: tuple[Stack, ...] = ("decoder",)

    def __init__(self, family: Family, config: Any, verified: bool = True) -> None:
        self.verified = verified  # False: a family found by its module names (adapters/generic.py)
        self.family = family.name
        self.spec = family
        config = config.get_text_config() if hasattr(config, "get_text_config") else config  # a VLM's text tower
        self.top_k = int(getattr(config, family.top_k_attr))
        self.num_experts = int(getattr(config, family.experts_attr))
        self.shared = family.shared
        self.renormalises = (family.renormalises if family.renormalises is not None
                             else bool(getattr(config, "norm_topk_prob", False)))
        label = (f"{family.short_label} architecture{'' if verified else ' (unverified family)'}: decoder-only, "
                 f"top-{self.top_k} routing")
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

    @property
    def looked_for(self) -> str:
        """What an unverified family's routers were looked for as ("" for a known family)."""
        if self.verified:
            return ""
        from core.models.adapters.generic import LOOKED_FOR

        return LOOKED_FOR

    def sidebar_note(self) -> str:
        return (f"**{self.copy.label}.** One causal stack (shown as 'decoder'): routing sees left context only."
                + (f" Note: {self.spec.note}." if self.spec.note else ""))

    def context_note(self, word: str) -> str:
        return (f"Model: {self.copy.label}. {CAUSAL_NOTE}: here only the words before “{word}” can change its "
                "routing; words after it cannot.")

    def routers(self, model: torch.nn.Module) -> Routers:
        if not self.verified:  # any router-like module that sits beside an `experts` module
            from core.models.adapters.generic import GENERIC_ROUTER_SUFFIXES

            found = [(layer, module) for name, layer, module in
                     modules_by_class_suffix(model, GENERIC_ROUTER_SUFFIXES, "layers")
                     if isinstance(getattr(model.get_submodule(name.rpartition(".")[0]), "experts", None),
                                   torch.nn.Module)]
        else:
            found = [(layer, module) for _name, layer, module in
                     modules_by_class_suffix(model, ROUTER_CLASS_SUFFIXES, "layers")]
        return {"decoder": sorted(found, key=lambda bm: bm[0])} if found else {}

    @property
    def scoring(self) -> Scoring:
        return self.spec.scoring

    def converter(self, stack: Stack, block: int) -> Converter:
        return self.to_probs

    def to_probs(self, output) -> Captured:
        """(router logits, the chosen weights, the chosen experts) → the scoring's distribution and the model's own
        choice (what its experts module is handed)."""
        if not (isinstance(output, tuple) and len(output) >= 3 and all(isinstance(t, torch.Tensor) for t in output[:3])):
            raise InputError(f"{self.spec.label}: its router returns {type(output).__name__}, not the (logits, weights, "
                             "experts) of transformers' MoE routers; Routing Lens cannot read it.")
        logits, _weights, index = output[:3]
        probs = self.spec.scoring.distribution(logits)
        return probs, torch.zeros(probs.shape[:-1], dtype=torch.bool, device=probs.device), index

    objective = "next token"
    ablation_reroutes = True  # every family's own rule, its router re-run (core.tracing.interventions "ban")

    def lm_model_class(self):
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM

    def without_expert(self, output, expert: int):
        """Only the tokens that had chosen `expert` are routed again, by the family's own rule with that expert's
        logit masked: softmax then top-k (weights renormalised where the family renormalises: Mixtral always, OLMoE /
        Qwen-MoE by norm_topk_prob, Jamba never), or top-k of the logits then a softmax over the chosen (GraniteMoE,
        gpt-oss). Every other token keeps the router's own output bit for bit, so removing an expert no token chose
        changes nothing. Other scorings (groups, selection biases, sigmoids, SparseMixer) are refused rather than
        ablated under a wrong rule."""
        if self.spec.scoring not in (SOFTMAX_TOPK, TOPK_SOFTMAX):
            raise NotImplementedError(f"Removing an expert is implemented for routers that score by softmax then "
                                      f"top-k or top-k then softmax; {self.spec.short_label} scores by "
                                      f"{self.spec.scoring.name}.")
        logits, weights, index = output[:3]
        hit = (index == expert).any(-1, keepdim=True)
        if not bool(hit.any()):
            return output
        masked = logits.float().masked_fill(
            torch.arange(logits.shape[-1], device=logits.device) == expert, float("-inf"))
        if self.spec.scoring is SOFTMAX_TOPK:
            top, chosen = torch.topk(torch.softmax(masked, dim=-1), self.top_k, dim=-1)
            if self.renormalises:
                top = top / top.sum(dim=-1, keepdim=True)
        else:
            top, chosen = torch.topk(masked, self.top_k, dim=-1)
            top = torch.softmax(top, dim=-1)
        return (logits, torch.where(hit, top.to(weights.dtype), weights), torch.where(hit, chosen, index),
                *output[3:])

    def route_of(self, output) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, weights, index = output[:3]
        return logits, index, weights

    def reroute(self, output, router, call, delta, k=None):
        """The family's own choice under logits + `delta`: its router re-run (adapters/rerouting.py)."""
        return rerun(router, call, delta, self.num_experts, k)

    def weights_for(self, output, router, call, rows, chosen):
        """The router re-run with every other expert banned; where the family weights by the full softmax without
        renormalising (OLMoE, Qwen-MoE by default, Jamba, DeepSeek-V2), the ban's renormalisation is undone by the
        set's share of the full distribution."""
        if self.spec.scoring is SPARSEMIXER:
            raise NotImplementedError("SparseMixer's weights depend on the experts left out: a forced set has none.")
        weights = weights_of_sets(router, call, rows, chosen, self.num_experts)
        if self.spec.scoring in (SOFTMAX_TOPK, SOFTMAX_GROUP) and not self.renormalises:
            full = torch.softmax(output[0].reshape(-1, self.num_experts)[rows].float(), dim=-1)
            weights = weights * full.gather(-1, chosen).sum(-1, keepdim=True)
        return weights

    def with_route(self, output, rows: torch.Tensor, chosen: torch.Tensor, weights: torch.Tensor):
        logits, old_w, old_i = output[:3]
        k = max(old_i.shape[-1], chosen.shape[-1])

        def widened(index: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """Padded to k slots with the row's first expert at weight 0 (it adds nothing)."""
            extra = k - index.shape[-1]
            if extra == 0:
                return index, w
            return (torch.cat([index, index[:, :1].expand(-1, extra)], -1),
                    torch.cat([w, torch.zeros(w.shape[0], extra, dtype=w.dtype, device=w.device)], -1))

        new_i, new_w = widened(chosen.to(old_i.dtype), weights.to(old_w.dtype))
        base_i, base_w = widened(old_i, old_w)
        pick = rows[:, None]
        return (logits, torch.where(pick, new_w, base_w), torch.where(pick, new_i, base_i), *output[3:])

    def run(self, model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, stacks: tuple[Stack, ...],
            decoder_read: DecoderRead = "input", causal_width: int | None = None) -> None:
        """One causal pass of the base model (no LM head) over the first `causal_width` tokens; right padding leaves
        real positions untouched."""
        ids, mask = ids[:, :causal_width], mask[:, :causal_width]
        model(input_ids=ids, attention_mask=mask, use_cache=False, return_dict=True)
