"""How a family's router scores and chooses experts — a named property of every adapter.

Routers differ: softmax over all experts then top-k (Mixtral, OLMoE, Qwen-MoE); top-k of the logits then a softmax
over the chosen (GraniteMoE, gpt-oss); sigmoid scores with a selection-only bias, sometimes inside the best groups
(DeepSeek-V3, GLM-4.5, dots.llm1, MiniMax-M2, LFM2-MoE); SparseMixer (PhiMoE). The *routing distribution* — what
JSS, entropy and every study read — is defined per scoring (`definition`, and docs/definitions.md); the chosen
experts and their weights are always the model's own (the router's top-k index, what its experts module is handed).
`choice_may_differ`: the chosen set need not be the distribution's top-k (a selection bias, group limits, capacity).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


def softmax(logits: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits.float(), dim=-1)


def normalised_sigmoid(logits: torch.Tensor) -> torch.Tensor:
    """Sigmoid scores divided by their sum: the scores as a distribution over the experts."""
    scores = torch.sigmoid(logits.float())
    return scores / scores.sum(dim=-1, keepdim=True).clamp_min(1e-20)


@dataclass(frozen=True)
class Scoring:
    key: str
    name: str  # how the router scores and chooses, in a few words
    definition: str  # the routing distribution Routing Lens records for it
    distribution: Callable[[torch.Tensor], torch.Tensor]  # router logits (..., E) → distribution (..., E), float32
    choice_may_differ: bool = False  # the chosen set can differ from the distribution's top-k


SOFTMAX_TOPK = Scoring("softmax_topk", "softmax over all experts, then top-k",
                       "the softmax of the router logits over all experts", softmax)
TOPK_SOFTMAX = Scoring("topk_softmax", "top-k of the logits, then a softmax over the chosen",
                       "the softmax of the router logits over all experts (a definition: the model itself normalises "
                       "only the chosen k); the chosen weights are the model's", softmax)
SPARSEMIXER = Scoring("sparsemixer", "SparseMixer top-2 (at inference: the two largest logits, each weighted by a "
                                     "masked softmax)", "the softmax of the router logits over all experts", softmax)
ROUTER_PROBABILITIES = Scoring("router_probabilities", "softmax over all experts (the router returns the "
                                                       "probabilities), then top-k, renormalised",
                               "the probabilities the router itself returns (its softmax over all experts)",
                               lambda probs: probs.float())
SOFTMAX_GROUP = Scoring("softmax_group", "softmax, then top-k inside the best expert groups",
                        "the softmax of the router logits over all experts; the choice is limited to the chosen "
                        "groups, so it may skip a high-probability expert", softmax, choice_may_differ=True)
SOFTMAX_BIAS = Scoring("softmax_bias", "softmax, then top-k of the probabilities plus a selection-only bias",
                       "the softmax of the router logits over all experts; the bias moves the choice only",
                       softmax, choice_may_differ=True)
SIGMOID_BIAS = Scoring("sigmoid_bias", "sigmoid scores, then top-k of the scores plus a selection-only bias",
                       "the sigmoid scores normalised to sum to one; the bias moves the choice, not the distribution",
                       normalised_sigmoid, choice_may_differ=True)
SIGMOID_BIAS_GROUP = Scoring("sigmoid_bias_group", "sigmoid scores; top-k of the scores plus a selection-only bias "
                                                   "inside the best expert groups; chosen scores renormalised, scaled",
                             "the sigmoid scores normalised to sum to one; the bias and the group limit move the "
                             "choice, not the distribution", normalised_sigmoid, choice_may_differ=True)
SIGMOID = Scoring("sigmoid", "sigmoid scores, then top-k of the scores", "the sigmoid scores normalised to sum to one",
                  normalised_sigmoid)
SIGMOID_TOPK = Scoring("sigmoid_topk", "top-k of the logits, each chosen expert's input scaled by the sigmoid of its "
                                       "logit",
                       "the sigmoid scores normalised to sum to one", normalised_sigmoid)
TOP1_CAPACITY = Scoring("top1_capacity", "softmax, top-1, with an expert capacity (overflowing tokens are dropped)",
                        "the softmax of the router logits over all experts (a dropped token's too)", softmax,
                        choice_may_differ=True)
TOP2_CAPACITY = Scoring("top2_capacity", "softmax, top-2 (the second the best of the rest), the two weights "
                                         "renormalised, with an expert capacity",
                        "the softmax of the router logits over all experts (a dropped token's too)", softmax,
                        choice_may_differ=True)
ACTIVATION_MASS = Scoring("activation_mass", "no router: each neuron cluster's share of the FFN's activation mass",
                          "each expert's share of the positive activation mass (a dense model's, MoE-fied)", softmax)

SCORINGS: dict[str, Scoring] = {s.key: s for s in (SOFTMAX_TOPK, TOPK_SOFTMAX, ROUTER_PROBABILITIES, SPARSEMIXER,
                                                   SOFTMAX_GROUP, SOFTMAX_BIAS,
                                                   SIGMOID_BIAS, SIGMOID_BIAS_GROUP, SIGMOID, SIGMOID_TOPK, TOP1_CAPACITY,
                                                   TOP2_CAPACITY,
                                                   ACTIVATION_MASS)}


def scale_note(models: dict[str, Scoring]) -> str:
    """What a figure that sets these models side by side must say when their distributions are not on one scale
    ("" when they are): normalised sigmoid scores sit near uniform whatever the router's sharpness (256 experts,
    logits of spread 3: entropy 5.21 against 2.56 for a softmax of the same logits), so their JSS runs high."""
    definitions = {name: scoring.definition for name, scoring in models.items()}
    if len(set(definitions.values())) < 2:
        return ""
    listed = "; ".join(f"{name}: {definition}" for name, definition in definitions.items())
    sigmoid = any(s.distribution is normalised_sigmoid for s in models.values())
    return ("Their scales differ: " + listed + "." + (" Normalised sigmoid scores sit near uniform whatever the "
            "router's sharpness, so their similarities run higher; the sensitivity table's “distribution: softmax of "
            "the logits” sets them on one scale." if sigmoid else ""))
