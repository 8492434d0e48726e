"""Writing to routing: force, ban, set top-k, steer, or copy a route onto chosen tokens, at chosen sparse layers —
one mechanism for every family the adapters can write (`route_of`, `choose`, `weights_for`, `with_route`).

An `Intervention` is applied by a forward hook on each router it names, registered before any tracing hook, so the
routing downstream is traced as usual (a change at layer 2 moves layer 3's). Tokens are numbered as a trace numbers
them (row t of the stack); every token an intervention does not touch keeps the router's own output bit for bit.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch

from core.errors import InputError
from core.types import Stack

Kind = Literal["force", "ban", "top_k", "steer", "route"]


@dataclass(frozen=True)
class Intervention:
    """kind: "force" (send the tokens to `experts`, with the family's own weights unless `weights` are given), "ban"
    (never choose `experts`; tokens that had chosen one are routed again by the family's rule), "top_k" (choose `k`
    experts by the family's rule), "steer" (add `strength` to `experts`' router logits and choose again), "route"
    (per token, an explicit route: `routes[t] = (experts, weights)` — a swap copies one occurrence's onto another).
    layers: sparse blocks (None: every sparse layer of `stack`); tokens: token rows (None: every token)."""

    kind: Kind
    stack: Stack = "decoder"
    layers: tuple[int, ...] | None = None
    tokens: tuple[int, ...] | None = None
    experts: tuple[int, ...] = ()
    weights: tuple[float, ...] | None = None
    k: int | None = None
    strength: float = 0.0
    routes: dict[int, tuple[tuple[int, ...], tuple[float, ...]]] = field(default_factory=dict)
    decoder_read: str = "input"  # how a teacher-forced decoder's tokens are numbered, as in the trace being acted on

    def describe(self) -> str:
        """How it is stated on screen, in files and in titles."""
        where = (f"{self.stack} block{'s' if len(self.layers) > 1 else ''} {', '.join(map(str, self.layers))}"
                 if self.layers is not None else f"every sparse {self.stack} layer")
        touched = tuple(sorted(self.routes)) if self.kind == "route" else self.tokens  # a route names its tokens
        who = "every token" if touched is None else f"token{'s' if len(touched) > 1 else ''} " + ", ".join(
            map(str, touched))
        what = {"force": f"forced to {', '.join(f'e{e}' for e in self.experts)}",
                "ban": f"{', '.join(f'e{e}' for e in self.experts)} banned",
                "top_k": f"top-{self.k}",
                "steer": f"{', '.join(f'e{e}' for e in self.experts)} steered by {self.strength:+g}",
                "route": "routed as given (a swap)"}[self.kind]
        return f"intervened: {what} at {where}, {who}"


def _rows(n_rows: int, batch: int, offset: int, tokens: tuple[int, ...] | None, device) -> torch.Tensor:
    """Which flattened rows (batch × width) an intervention touches: token t of every batch item is row b·W + offset
    + t. A token outside the text is an error, never a silent no-op."""
    if tokens is None:
        return torch.ones(n_rows, dtype=torch.bool, device=device)
    width = n_rows // batch
    outside = [t for t in tokens if not 0 <= t + offset < width or t < 0]
    if outside:
        raise InputError(f"Token {outside[0]} is out of range: the text has {width - offset} tokens here "
                         f"(0…{width - offset - 1}).")
    rows = torch.zeros(n_rows, dtype=torch.bool, device=device)
    for b in range(batch):
        for t in tokens:
            rows[b * width + t + offset] = True
    return rows


def _handed_mask(index: torch.Tensor, weights: torch.Tensor, dropped: torch.Tensor, experts: int) -> torch.Tensor:
    """(N, E) bool: the experts each token is sent to with a non-zero weight (a padding slot has weight 0; a dropped
    token is sent nowhere)."""
    index = index.reshape(-1, index.shape[-1]).long()
    live = ((weights.reshape(index.shape) != 0) & ~dropped.reshape(-1, 1).to(index.device)).int()
    return torch.zeros((index.shape[0], experts), dtype=torch.int, device=index.device).scatter_add(1, index, live) > 0


def rewrite(adapter, router, call, output, iv: Intervention, batch: int, offset: int):
    """One router's output under one intervention, by the family's own rule (the adapter re-runs its router)."""
    logits, index, weights = adapter.route_of(output)
    n, e = logits.shape
    rows = _rows(n, batch, offset, iv.tokens, logits.device)
    k = index.shape[-1]
    if iv.kind == "force":
        chosen = torch.tensor(iv.experts, device=logits.device).expand(n, -1)
        handed, _w, dropped = adapter.handed(output)
        same = (((chosen.sort(-1).values == handed.sort(-1).values).all(-1) & ~dropped.to(chosen.device))
                if chosen.shape[-1] == handed.shape[-1] else torch.zeros(n, dtype=torch.bool, device=chosen.device))
        if iv.weights is None:  # forcing the route a (kept) token already takes, by its own weights: nothing changes
            rows = rows & ~same
        if not bool(rows.any()):
            return output
        at = rows.nonzero()[:, 0]
        w = torch.zeros(chosen.shape, dtype=torch.float32, device=logits.device)
        w[at] = (torch.tensor(iv.weights, device=logits.device, dtype=torch.float32).expand(len(at), -1)
                 if iv.weights is not None else adapter.weights_for(output, router, call, at, chosen[at]).float())
    elif iv.kind == "ban":
        banned = torch.tensor(iv.experts, device=logits.device)
        rows = rows & torch.isin(index, banned).any(-1)
        if not bool(rows.any()):
            return output
        delta = torch.zeros((n, e), device=logits.device)
        delta[:, banned] = float("-inf")
        chosen, w = adapter.reroute(output, router, call, delta)
        if bool(torch.isin(chosen[rows], banned).any()):  # never report a ban that did not happen
            raise InputError(f"{adapter.family}: its routing rule still chose a banned expert (a selection rule "
                             "Routing Lens cannot reach), so this ban is refused rather than reported.")
    elif iv.kind == "top_k":
        chosen, w = adapter.reroute(output, router, call, torch.zeros((n, e), device=logits.device), int(iv.k or k))
        if chosen.shape[-1] != int(iv.k or k):  # a router that ignores its top_k (SparseMixer) must not be reported
            raise InputError(f"{adapter.family}: its router chose {chosen.shape[-1]} experts when asked for "
                             f"{int(iv.k or k)}; its routing rule fixes how many it chooses, so this top-k is refused.")
    elif iv.kind == "steer":
        if iv.strength == 0:
            return output
        delta = torch.zeros((n, e), device=logits.device)
        delta[:, list(iv.experts)] = float(iv.strength)
        chosen, w = adapter.reroute(output, router, call, delta)
    else:  # route: an explicit route per token
        chosen, w = index.clone(), weights.float().clone()
        width = logits.shape[0] // batch
        wide = max(len(r[0]) for r in iv.routes.values()) if iv.routes else k
        if wide != k:
            raise InputError("A copied route must have the model's own top-k.")
        rows = torch.zeros_like(rows)
        for t, (experts, ws) in iv.routes.items():
            for b in range(batch):
                r = b * width + t + offset
                if 0 <= t + offset < width:
                    chosen[r] = torch.tensor(experts, device=chosen.device)
                    w[r] = torch.tensor(ws, device=w.device)
                    rows[r] = True
    if not bool(rows.any()):
        return output
    return adapter.with_route(output, rows, chosen, w)


@contextlib.contextmanager
def intervening(loaded, interventions: Sequence[Intervention], batch: int = 1) -> Iterator[None]:
    """While open, every named router's output is rewritten (hooks registered first, removed on exit, also on
    error). `batch`: how many texts each pass carries (they share the token numbering, right-padded)."""
    adapter, model = loaded.adapter, loaded.model
    routers = adapter.routers(model)
    handles = []
    asked: dict[int, torch.Tensor] = {}  # per rewritten router: the experts its experts module must be handed
    names = {id(m): n for n, m in model.named_modules()}
    try:
        for iv in interventions:
            found = dict(routers.get(iv.stack, []))
            layers = iv.layers if iv.layers is not None else tuple(found)
            missing = [b for b in layers if b not in found]
            if missing:
                raise InputError(f"{loaded.name} has no sparse {iv.stack} block {missing[0]} (sparse blocks: "
                                 f"{', '.join(map(str, found)) or 'none'}).")
            bad = [e for e in iv.experts if not 0 <= e < adapter.num_experts]
            if bad:
                raise InputError(f"Expert {bad[0]} does not exist: {loaded.name} has experts 0…{adapter.num_experts - 1}.")
            _validate(iv, adapter.num_experts, adapter.top_k)
            offset = adapter.decoder_offset(iv.decoder_read) if iv.stack == "decoder" else 0
            for block in layers:
                handles.append(found[block].register_forward_hook(
                    lambda m, args, kwargs, out, iv=iv, offset=offset: _expecting(
                        adapter, m, rewrite(adapter, m, (args, kwargs), out, iv, batch, offset), out, asked),
                    with_kwargs=True))
                handles += _verifying(adapter, model, found[block], asked, names)
        yield
    except NotImplementedError as err:
        raise InputError(str(err)) from None
    finally:
        for h in handles:
            h.remove()


def _expecting(adapter, router, new, old, asked: dict[int, torch.Tensor]):
    """Note what the experts beside `router` must now be handed (only where the intervention changed the route)."""
    if new is not old:
        asked[id(router)] = _handed_mask(*adapter.handed(new), adapter.num_experts)
    return new


def _verifying(adapter, model, router, asked: dict[int, torch.Tensor], names: dict[int, str]) -> list:
    """A pre-hook on the experts module beside `router` that refuses the pass when the module is not handed what
    the intervention asked: a family whose block re-derives its choice after the router (or ignores part of it)
    must never be reported as intervened on."""
    from core.tracing.self_check import experts_beside

    experts = experts_beside(model, router, names)
    if experts is None:
        return []

    def check(_module, args):
        want = asked.pop(id(router), None)
        if want is None:
            return
        got = _handed_mask(*adapter.dispatched(args), adapter.num_experts)
        if got.shape != want.shape or not torch.equal(got.cpu(), want.cpu()):
            raise InputError(f"{adapter.family}: its experts were not handed the route this intervention wrote (its "
                             "block chooses again after the router), so the intervention is refused rather than "
                             "reported.")

    return [experts.register_forward_pre_hook(check)]


def _validate(iv: Intervention, experts: int, top_k: int) -> None:
    """Options that could only fail deep inside a forward pass, or do nothing silently, refused up front."""
    if iv.kind in ("force", "ban", "steer") and not iv.experts:
        raise InputError(f"Name the experts to {iv.kind}.")
    if len(set(iv.experts)) != len(iv.experts):
        raise InputError(f"An expert is named twice in {', '.join(map(str, iv.experts))}.")
    if iv.kind == "ban" and len(iv.experts) > experts - top_k:
        raise InputError(f"Banning {len(iv.experts)} of {experts} experts leaves fewer than the {top_k} each token "
                         "needs.")
    if iv.kind == "force" and len(iv.experts) > top_k:
        raise InputError(f"A forced set holds at most the model's {top_k} experts per token (asked: "
                         f"{len(iv.experts)}).")
    if iv.kind == "force" and iv.weights is not None and len(iv.weights) != len(iv.experts):
        raise InputError(f"Give one weight per forced expert ({len(iv.experts)} experts, {len(iv.weights)} weights).")
    if iv.kind == "top_k" and (iv.k is None or not 1 <= iv.k <= experts):
        raise InputError(f"top-k must be between 1 and the {experts} experts (asked: {iv.k}).")
