"""The Learn page's walkthrough of one token through a router, from a trace's real numbers: logits → softmax →
top-1 (top-k) → the chosen expert's capacity queue → dropped or processed; and the sentence's load balance.

The capacity rule mirrors transformers' Switch router: priority = cumsum over the one-hot top-1 choices in token
order, and a token is kept while its priority is `<= expert_capacity`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import InputError
from core.tracing.routing_trace import RoutingTrace
from core.types import Stack


def capacity_drops(top1: np.ndarray, capacity: int) -> np.ndarray:
    """Which tokens are dropped when each expert has room for `capacity` tokens of the sequence: transformers'
    rule, `cumsum(one_hot(top1), tokens) <= capacity` read at each token's own expert."""
    if capacity < 0:
        raise InputError("Capacity must be zero or more.")
    top1 = np.asarray(top1, dtype=np.int64)
    if top1.size == 0:
        return np.zeros(0, dtype=bool)
    priority = np.cumsum(np.eye(int(top1.max()) + 1, dtype=np.int64)[top1], axis=0)
    return priority[np.arange(len(top1)), top1] > capacity


@dataclass
class RouterStep:
    """One token at one sparse layer, each stage of its routing."""

    token: str
    position: int
    layer: int
    logits: np.ndarray  # (E,) the router's scores up to a constant (softmax ignores a shift): log p − mean(log p)
    probs: np.ndarray  # (E,) softmax
    chosen: np.ndarray  # the experts the model selected (k of them; Switch: the top-1)
    expert: int  # the top-1 expert, whose queue the token joins
    queue: pd.DataFrame  # every token choosing `expert`, in order: position, token, priority, kept
    capacity: int
    dropped: bool

    @property
    def queue_rank(self) -> int:
        """The token's place in its expert's queue, from 1 (it is dropped when this exceeds the capacity)."""
        return int(self.queue.position.tolist().index(self.position)) + 1


def router_step(trace: RoutingTrace, stack: Stack, layer_pos: int, position: int, capacity: int) -> RouterStep:
    s = trace.stack(stack)
    if not 0 <= position < len(trace.tokens):
        raise InputError(f"Token {position} is outside this text's {len(trace.tokens)} tokens.")
    probs = s.token_probs[layer_pos, position].astype(np.float64)
    logits = np.log(np.clip(probs, 1e-30, None))
    top1 = s.top1[layer_pos].astype(np.int64)
    expert = int(top1[position])
    dropped = capacity_drops(top1, capacity)
    mine = np.flatnonzero(top1 == expert)
    queue = pd.DataFrame({"position": mine, "token": [trace.tokens[i] for i in mine],
                          "priority": np.arange(1, len(mine) + 1), "kept": ~dropped[mine]})
    return RouterStep(trace.tokens[position], position, int(s.layers[layer_pos]), logits - logits.mean(), probs,
                      np.asarray(s.selected[layer_pos, position], dtype=np.int64), expert, queue, capacity,
                      bool(dropped[position]))


def teaching_capacity(top1: np.ndarray, tokens: list[str] | None = None) -> int:
    """The page's default capacity, so the walkthrough reaches a drop of one of the sentence's own words: one below
    the deepest queue place a word token takes (a word that is, say, third to choose its expert is dropped at
    capacity 2). Markers such as [SEP] are not counted when `tokens` are given; at least 1."""
    top1 = np.asarray(top1, dtype=np.int64)
    ranks = np.array([int((top1[: i + 1] == e).sum()) for i, e in enumerate(top1)])
    words = [i for i, t in enumerate(tokens) if is_word(t)] if tokens is not None else list(range(len(top1)))
    deepest = int(ranks[words].max()) if words else int(ranks.max(initial=1))
    return max(1, deepest - 1)


def is_word(token: str) -> bool:
    """A token of the sentence's own text: it holds a letter or digit and is not a marker ([SEP], </s>, <pad>)."""
    return any(ch.isalnum() for ch in token) and not re.fullmatch(r"\[[A-Z]+\]|<[^>]*>", token)


def teaching_token(tokens: list[str], dropped: np.ndarray) -> int:
    """The token the walkthrough follows first: a dropped token of the sentence's own words (never a marker such as
    [SEP] or </s>), else its first word token, else the first token."""
    words = [i for i, t in enumerate(tokens) if is_word(t)]
    return next((i for i in words if dropped[i]), words[0] if words else 0)


@dataclass
class LoadBalance:
    load: np.ndarray  # (E,) f_i: share of the tokens whose top-1 is expert i
    mean_prob: np.ndarray  # (E,) P_i: mean router probability of expert i over the tokens
    aux_loss: float  # E · Σ f_i · P_i (Switch's load-balancing loss; 1.0 when perfectly uniform)


def load_balance(trace: RoutingTrace, stack: Stack, layer_pos: int) -> LoadBalance:
    """The auxiliary loss transformers' `load_balancing_loss_func` computes for this sequence at this layer."""
    s = trace.stack(stack)
    probs = s.token_probs[layer_pos].astype(np.float64)
    n_exp = probs.shape[-1]
    load = np.bincount(s.top1[layer_pos].astype(np.int64), minlength=n_exp) / probs.shape[0]
    mean_prob = probs.mean(axis=0)
    return LoadBalance(load, mean_prob, float(n_exp * np.sum(load * mean_prob)))
