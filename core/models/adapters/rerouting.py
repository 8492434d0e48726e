"""A family's own routing rule, whatever it is: the router module re-run on its own inputs with its logits shifted
(−∞ bans an expert, +s steers it) and, for a new top-k, its `top_k` changed. The router's own code then chooses and
weights — softmax or sigmoid scores, selection biases, expert groups, scaling, renormalisation — so an intervention
never re-implements a family's rule. Works for every router that computes its logits with `F.linear` (or an
`nn.Linear`) and returns (logits, weights, experts); anything else is refused.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
import torch

Call = tuple[tuple, dict]  # a router's positional and keyword arguments, as its forward hook saw them


@contextlib.contextmanager
def _shifted(delta: torch.Tensor, experts: int, seen: list) -> Iterator[None]:
    linear = torch.nn.functional.linear

    def shifted(x, weight, bias=None):
        out = linear(x, weight, bias)
        if out.shape[-1] == experts and out.reshape(-1, experts).shape[0] == delta.shape[0]:
            seen.append(True)
            return (out.reshape(-1, experts).float() + delta).to(out.dtype).reshape(out.shape)
        return out

    torch.nn.functional.linear = shifted
    try:
        yield
    finally:
        torch.nn.functional.linear = linear


def _banned_everywhere(delta: torch.Tensor, experts: int) -> torch.Tensor:
    """(E,) bool: the experts at −∞ in every row of `delta` (a ban, as opposed to a per-row shift)."""
    return torch.isneginf(delta).all(0) if delta.numel() else torch.zeros(experts, dtype=torch.bool)


@contextlib.contextmanager
def _banned_in_selection(router: torch.nn.Module, banned: torch.Tensor, experts: int) -> Iterator[None]:
    """`banned` experts (−∞ in every row of the shift) are banned from the choice too: a selection bias
    (DeepSeek-V3's `e_score_correction_bias`, ERNIE's, GLM's, LFM2's `expert_bias` …) is added to the scores after the
    sigmoid or softmax, so a −∞ logit alone leaves the banned expert at 0 + its bias, and it can still win. Every
    floating tensor of the router with one value per expert and "bias" in its name is set to −∞ there for the re-run
    (restored after); an nn.Linear's own bias is left alone (its logits are shifted to −∞ already, as is a raw
    F.linear bias set here: the same ban twice)."""
    if not bool(banned.any()):
        yield
        return
    tensors = [t for name, t in [*router.named_parameters(), *router.named_buffers()]
               if "bias" in name.rsplit(".", 1)[-1] and t.is_floating_point() and t.numel() == experts]
    linear_biases = {id(m.bias) for m in router.modules() if isinstance(m, torch.nn.Linear) and m.bias is not None}
    tensors = [t for t in tensors if id(t) not in linear_biases]
    saved = [t.detach().clone() for t in tensors]
    try:
        with torch.no_grad():
            for t in tensors:
                t.view(-1)[banned.to(t.device)] = float("-inf")
        yield
    finally:
        with torch.no_grad():
            for t, old in zip(tensors, saved):
                t.copy_(old)


def _bias_arguments_banned(call: Call, banned: torch.Tensor, experts: int) -> Call:
    """The call with every selection bias handed to the router as an argument (LFM2's `expert_bias`, MiniMax-M2's
    `e_score_correction_bias`: held by the MoE block, passed in) copied with −∞ at the experts banned on every row.
    The hidden states (the first argument) are never touched."""
    if not bool(banned.any()):
        return call

    def masked(value):
        if torch.is_tensor(value) and value.is_floating_point() and value.numel() == experts:
            value = value.clone()
            value.view(-1)[banned.to(value.device)] = float("-inf")
        return value

    args, kwargs = call
    return (args[0], *map(masked, args[1:])), {key: masked(v) for key, v in kwargs.items()}


def rerun(router: torch.nn.Module, call: Call, delta: torch.Tensor, experts: int, k: int | None = None
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """(chosen experts, weights) of `router` on its own inputs with logits + `delta` (N, E), and `k` experts when
    given. Hooks do not run (the forward is called directly)."""
    args, kwargs = call
    seen: list = []
    saved = getattr(router, "top_k", None)
    try:
        if k is not None:
            if saved is None:
                raise NotImplementedError("this router has no top_k to change")
            router.top_k = k
        banned = _banned_everywhere(delta, experts)
        args, kwargs = _bias_arguments_banned((args, kwargs), banned, experts)
        with _shifted(delta.float(), experts, seen), _banned_in_selection(router, banned, experts), torch.no_grad():
            out = router.forward(*args, **kwargs)
    finally:
        if k is not None and saved is not None:
            router.top_k = saved
    if not seen or not (isinstance(out, tuple) and len(out) >= 3):
        raise NotImplementedError("its router does not compute its logits with a linear layer and return "
                                  "(logits, weights, experts)")
    return out[2], out[1]


def with_rows(call: Call, rows: torch.Tensor) -> Call:
    """The call on only the hidden states of `rows` (flattened tokens), in that order (rows may repeat)."""
    args, kwargs = call
    hidden = args[0]
    return (hidden.reshape(-1, hidden.shape[-1])[rows], *args[1:]), kwargs


def weights_of_sets(router: torch.nn.Module, call: Call, rows: torch.Tensor, chosen: torch.Tensor, experts: int
                    ) -> torch.Tensor:
    """The family's weights for the given sets (M, k) at the given token rows (M,): every other expert banned, the
    router re-run on those rows. Refused where the family's rule would not choose the set itself (a selection bias
    that favours a banned expert)."""
    keep = torch.zeros((len(rows), experts), dtype=torch.bool, device=chosen.device).scatter(1, chosen, True)
    delta = torch.zeros(keep.shape, device=chosen.device).masked_fill(~keep, float("-inf"))
    index, weights = rerun(router, with_rows(call, rows), delta, experts, k=chosen.shape[-1])
    if not torch.equal(index.sort(-1).values, chosen.sort(-1).values):
        raise NotImplementedError("its selection rule would not choose the forced experts by themselves")
    order = (chosen[:, :, None] == index[:, None, :]).float().argmax(-1)  # each forced expert's slot in the rerun
    return weights.gather(-1, order)

