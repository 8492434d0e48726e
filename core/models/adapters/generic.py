"""A MoE family no adapter knows yet: traced when its blocks hold a recognisable router and experts, labelled an
*unverified family*, its scoring assumed (softmax then top-k) and the self-check's verdict shown beside it.

Recognised: a decoder-only config naming an expert count and a top-k under one of the usual attribute names, whose
model holds modules called *Router / *TopKRouter / *Gate beside a module named `experts`, the router returning
(logits, weights, experts) as transformers 5's MoE blocks do. The tool refuses only when it finds none of that, and
then says what it looked for.
"""
from __future__ import annotations

from typing import Any


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
