"""A MoE family no adapter knows yet: traced when its blocks hold a recognisable router and experts, labelled an
*unverified family*, its scoring read off its router (`detected_scoring`; softmax then top-k where nothing else shows)
and the self-check's verdict shown beside it.

Recognised: a decoder-only config naming an expert count and a top-k under one of the usual attribute names, whose
model holds modules called *Router / *TopKRouter / *Gate beside a module named `experts`, the router returning
(logits, weights, experts) as transformers 5's MoE blocks do. The tool refuses only when it finds none of that, and
then says what it looked for.
"""
from __future__ import annotations

import inspect
from typing import Any

import torch

from core.models.adapters.scoring import (
    SIGMOID,
    SIGMOID_BIAS,
    SIGMOID_BIAS_GROUP,
    SOFTMAX_BIAS,
    SOFTMAX_GROUP,
    Scoring,
)


EXPERT_COUNT_ATTRS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
TOP_K_ATTRS = ("num_experts_per_tok", "moe_topk", "top_k", "moe_k")
GENERIC_ROUTER_SUFFIXES = ("Router", "Gate", "Gating")
LOOKED_FOR = ("an expert count (one of " + ", ".join(EXPERT_COUNT_ATTRS) + ") and a top-k (one of "
              + ", ".join(TOP_K_ATTRS) + ") in its config, and router modules (class names ending in Router, Gate or "
              "Gating) beside a module named `experts`")


def _int_attr(config: Any, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return name
    return None


def generic_attrs(config: Any) -> tuple[str, str] | None:
    """(expert-count attribute, top-k attribute) of a decoder-only config that names both; None otherwise."""
    if getattr(config, "is_encoder_decoder", False):
        return None
    config = config.get_text_config() if hasattr(config, "get_text_config") else config  # a VLM's text tower
    experts, top_k = _int_attr(config, EXPERT_COUNT_ATTRS), _int_attr(config, TOP_K_ATTRS)
    if experts is None or top_k is None or getattr(config, experts) < 2:
        return None
    return experts, top_k


def _router_source(router: torch.nn.Module) -> str:
    try:
        return inspect.getsource(type(router))
    except (OSError, TypeError):
        return ""


def detected_scoring(router: torch.nn.Module, experts: int, config: Any) -> Scoring | None:
    """An unverified family's scoring, from its router's own attributes: a per-expert selection bias (a floating
    tensor of one value per expert with "bias" in its name, not a linear layer's bias), sigmoid scores (the config's
    `scoring_func`, or a sigmoid in the router's code), expert groups (`n_group` > 1). None: the softmax stand-in."""
    linear = {id(m.bias) for m in router.modules() if isinstance(m, torch.nn.Linear) and m.bias is not None}
    bias = any("bias" in name.rsplit(".", 1)[-1] and t.is_floating_point() and t.numel() == experts
               and id(t) not in linear for name, t in [*router.named_parameters(), *router.named_buffers()])
    declared = str(getattr(config, "scoring_func", "") or getattr(config, "score_function", "") or "").lower()
    sigmoid = declared == "sigmoid" or (not declared and "sigmoid" in _router_source(router))
    groups = int(getattr(router, "n_group", None) or getattr(config, "n_group", None) or 1) > 1
    if sigmoid:
        return SIGMOID_BIAS_GROUP if bias and groups else SIGMOID_BIAS if bias else SIGMOID
    if bias:
        return SOFTMAX_BIAS
    return SOFTMAX_GROUP if groups else None
