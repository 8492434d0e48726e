"""Decoder-only top-k MoE families (Mixtral, OLMoE, Qwen2/3-MoE, Qwen3-Next, GraniteMoE(-Shared), PhiMoE, Jamba,
DeepSeek-V2/V3, GLM-4.5, dots.llm1, gpt-oss, MiniMax(-M2), ERNIE-4.5-MoE, Hunyuan-MoE, Llama 4, LFM2-MoE): one causal
stack, named "decoder". `DECODER_FAMILIES` is the table to extend for a new family; its `scoring` says how the router
scores and chooses (core.models.adapters.scoring)."""
from __future__ import annotations

from typing import Any

import torch

from core.models.adapters.base import Captured, Converter, Copy, ModelAdapter, Routers, modules_by_class_suffix
from core.models.adapters.families import (  # noqa: F401 - re-exported: the family table's long-standing home
    DECODER_FAMILIES,
    MODEL_TYPE_FAMILY,
    ROUTER_CLASS_SUFFIXES,
    Family,
    config_value,
    generic_family,
)
from core.models.adapters.rerouting import rerun, weights_of_sets
from core.models.adapters.scoring import SOFTMAX_GROUP, SOFTMAX_TOPK, SPARSEMIXER, TOPK_SOFTMAX, Scoring
from core.errors import InputError, UnsupportedModelError
from core.types import DecoderRead, Stack

CAUSAL_NOTE = "Decoder-only: a token's routing depends only on the tokens to its left (causal attention)"


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
        self._config = config
        top_k, experts = config_value(config, family.top_k_attr), config_value(config, family.experts_attr)
        if not isinstance(top_k, int) or not isinstance(experts, int) or experts < 2:
            raise UnsupportedModelError(f"This {family.short_label} checkpoint has no routed experts (its config gives "
                                        f"{family.experts_attr}={experts!r}, {family.top_k_attr}={top_k!r}): it is a "
                                        "dense model, with no routing to trace.")
        self.top_k = top_k
        self.routed_experts = experts  # the experts that compute; columns after them are `extra_columns`
        extra = (int(config_value(config, family.extra_count_attr) or 0) if family.extra_count_attr
                 else int(bool(family.extra_label)))
        self.extra_columns = {experts + i: family.extra_label for i in range(extra)}
        self.num_experts = experts + extra  # the routing distribution's columns
        self.shared = family.shared
        self.renormalises = (family.renormalises if family.renormalises is not None
                             else bool(getattr(config, "norm_topk_prob", False)))
        if getattr(config, "index_topk", None):  # DeepSeek sparse attention (DeepSeek-V3.2, GLM-5, Mistral Large 4 …)
            self.one_text_per_forward = ("its sparse attention's indexer picks the keys each token attends to "
                                         "(index_topk) over the padded batch, so a text's routing would depend on what "
                                         "it is batched with")
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
        extra = sorted(set(self.extra_columns.values()))
        columns = (f" Its routing has {len(self.extra_columns)} column{'s' if len(self.extra_columns) > 1 else ''} "
                   f"after its {self.routed_experts} experts that {'is' if len(self.extra_columns) == 1 else 'are'} "
                   f"not an expert: {', '.join(f'“{x}”' for x in extra)}." if extra else "")
        return (f"**{self.copy.label}.** One causal stack (shown as 'decoder'): routing sees left context only."
                + (f" Note: {self.spec.note}." if self.spec.note else "") + columns)

    def context_note(self, word: str) -> str:
        return (f"Model: {self.copy.label}. {CAUSAL_NOTE}: here only the words before “{word}” can change its "
                "routing; words after it cannot.")

    def routers(self, model: torch.nn.Module) -> Routers:
        if not self.verified:  # any router-like module that sits beside an `experts` module
            from core.models.adapters.generic import GENERIC_ROUTER_SUFFIXES, detected_scoring

            found = [(layer, module) for name, layer, module in
                     modules_by_class_suffix(model, GENERIC_ROUTER_SUFFIXES, "layers")
                     if isinstance(getattr(model.get_submodule(name.rpartition(".")[0]), "experts", None),
                                   torch.nn.Module)]
            if found:
                self._detected = detected_scoring(found[0][1], self.num_experts, self._config)
        else:
            found = [(layer, module) for _name, layer, module in
                     modules_by_class_suffix(model, self.spec.router_classes, self.spec.layer_list)]
        if self.spec.block_rule:  # the block beside each router chooses: kept for its converter
            names = {id(m): n for n, m in model.named_modules()}
            self._blocks = {layer: model.get_submodule(names[id(m)].rpartition(".")[0]) for layer, m in found}
        return {"decoder": sorted(found, key=lambda bm: bm[0])} if found else {}

    @property
    def scoring(self) -> Scoring:
        """The family's scoring; for an unverified family, the one its routers show (adapters/generic.py), once
        found."""
        return getattr(self, "_detected", None) or self.spec.scoring

    def converter(self, stack: Stack, block: int) -> Converter:
        if self.spec.block_rule:  # DBRX: the router returns logits; its block's own method chooses, in its dtype
            choose = getattr(self._blocks[block], self.spec.block_rule)
            return lambda logits: self.to_probs((logits, *choose(logits)))
        return self.to_probs

    def to_probs(self, output) -> Captured:
        """(router logits, the chosen weights, the chosen experts) → the scoring's distribution and the model's own
        choice (what its experts module is handed)."""
        if not (isinstance(output, tuple) and len(output) >= 3 and all(isinstance(t, torch.Tensor) for t in output[:3])):
            raise InputError(f"{self.spec.label}: its router returns {type(output).__name__}, not the (logits, weights, "
                             "experts) of transformers' MoE routers; Routing Lens cannot read it.")
        logits, weights, index = output[:3]
        probs = self.scoring.distribution(logits)
        return probs, torch.zeros(probs.shape[:-1], dtype=torch.bool, device=probs.device), self._skips(index, weights)

    def dispatched(self, args: tuple) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index, weights, dropped = super().dispatched(args)
        return self._skips(index, weights), weights, dropped

    def _skips(self, index: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """A skip (ZAYA) reaches the experts as expert 0 at weight 0: read back as its own column, after the experts."""
        if not self.spec.skip_slot:
            return index
        return torch.where((index == 0) & (weights == 0), self.routed_experts, index)

    def run_one_expert(self, experts: torch.nn.Module, hidden: torch.Tensor, expert: int) -> torch.Tensor:
        """`expert` alone, handed as the block hands experts: k slots, the first at weight 1, the others the same expert
        at weight 0 (some experts modules only take k slots)."""
        if expert >= self.routed_experts and self.spec.skip_slot:  # the skip computes nothing
            return torch.zeros_like(hidden)
        n = hidden.numel() // hidden.shape[-1]  # token rows: a block may hand its experts (batch, width, d)
        index = torch.full((n, self.top_k), expert, dtype=torch.long, device=hidden.device)
        weights = torch.zeros((n, self.top_k), dtype=hidden.dtype, device=hidden.device)
        weights[:, 0] = 1
        return experts(hidden, index, weights)

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
        if self.spec.block_rule:
            raise NotImplementedError(f"{self.spec.short_label}'s router returns logits only and its block chooses: "
                                      "removing an expert is not written for it.")
        if self.scoring not in (SOFTMAX_TOPK, TOPK_SOFTMAX):
            raise NotImplementedError(f"Removing an expert is implemented for routers that score by softmax then "
                                      f"top-k or top-k then softmax; {self.spec.short_label} scores by "
                                      f"{self.scoring.name}.")
        logits, weights, index = output[:3]
        hit = (index == expert).any(-1, keepdim=True)
        if not bool(hit.any()):
            return output
        masked = logits.float().masked_fill(
            torch.arange(logits.shape[-1], device=logits.device) == expert, float("-inf"))
        if self.scoring is SOFTMAX_TOPK:
            top, chosen = torch.topk(torch.softmax(masked, dim=-1), self.top_k, dim=-1)
            if self.renormalises:
                top = top / top.sum(dim=-1, keepdim=True)
        else:
            top, chosen = torch.topk(masked, self.top_k, dim=-1)
            top = torch.softmax(top, dim=-1)
        return (logits, torch.where(hit, top.to(weights.dtype), weights), torch.where(hit, chosen, index),
                *output[3:])

    def route_of(self, output) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.spec.block_rule or not isinstance(output, tuple):
            raise NotImplementedError(f"{self.spec.short_label}'s router returns logits only and its block chooses: "
                                      "its routing is not written.")
        logits, weights, index = output[:3]
        return logits, index, weights

    def reroute(self, output, router, call, delta, k=None):
        """The family's own choice under logits + `delta`: its router re-run (adapters/rerouting.py)."""
        return rerun(router, call, delta, self.num_experts, k)

    def weights_for(self, output, router, call, rows, chosen):
        """The router re-run with every other expert banned; where the family weights by the full softmax without
        renormalising (OLMoE, Qwen-MoE by default, Jamba, DeepSeek-V2), the ban's renormalisation is undone by the
        set's share of the full distribution."""
        if self.scoring is SPARSEMIXER:
            raise NotImplementedError("SparseMixer's weights depend on the experts left out: a forced set has none.")
        weights = weights_of_sets(router, call, rows, chosen, self.num_experts)
        if self.scoring in (SOFTMAX_TOPK, SOFTMAX_GROUP) and not self.renormalises:
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
