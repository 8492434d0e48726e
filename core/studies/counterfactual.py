"""Counterfactual routes (arXiv 2605.07260): was the router's choice for a token the best one? Alternative routes at
one sparse layer, each of the router's own size (equal compute), are scored by the loss on the next token(s) (a
teacher-forced Switch decoder: on its whole text), with the family's own weights for the new set:

- the *one-swap neighbourhood*: every other expert for a top-1 router; one chosen expert swapped for one unchosen for
  top-k (12 of the 27 other sets at E = 8, k = 2) — Routing Lens's exhaustive local check;
- *sampled routes*, as the paper draws them: expert sets sampled without replacement from the router's own
  distribution by Gumbel-top-k (seeded), over all sets of size k — those outside the neighbourhood kept, so
  far-away routes are scored too.

Alternatives run as one batch, and every block below the layer is taken from the intact pass (core.tracing.reuse),
not recomputed.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from core.errors import InputError
from core.measures.routing_stats import margins
from core.models.loading import LoadedModel
from core.studies.outcomes import log_probs
from core.tracing import reuse
from core.types import Stack

TIE = 1e-6  # relative floor of a tie; the measured noise of the batched scan against the intact pass widens it
NOISE_FACTOR = 4  # a loss within 4 × that noise of the router's (scanned) loss ties it


def alternatives(chosen: Sequence[int], experts: int) -> list[tuple[int, ...]]:
    """The router's own route first, then every route one swap away (top-1: every other expert)."""
    own = tuple(int(e) for e in chosen)
    others = [e for e in range(experts) if e not in own]
    return [own] + [tuple(sorted(own[:i] + (e,) + own[i + 1:])) for i in range(len(own)) for e in others]


def sampled_routes(logits: torch.Tensor, k: int, own: Sequence[int], samples: int, seed: int = 0,
                   exclude: Sequence[tuple[int, ...]] = ()) -> list[tuple[int, ...]]:
    """Up to `samples` distinct expert sets of size k, other than the router's own and those in `exclude` (the routes
    already scored), drawn by Gumbel-top-k from the softmax of `logits` (E,): each draw perturbs every logit with
    Gumbel noise and keeps the top k (a sample without replacement from the router's distribution, Kool et al.
    2019), seeded; at most 50 draws per route asked for."""
    gen = torch.Generator().manual_seed(seed)
    own_set, found = tuple(sorted(int(e) for e in own)), []
    skip = {tuple(sorted(r)) for r in exclude}
    tries = 0
    while len(found) < samples and tries < 50 * samples:
        noise = -torch.log(-torch.log(torch.rand(logits.shape, generator=gen).clamp(1e-12, 1 - 1e-12)))
        route = tuple(sorted(torch.topk(logits.float().cpu() + noise, k).indices.tolist()))
        tries += 1
        if route != own_set and route not in found and route not in skip:
            found.append(route)
    return found


def _scores(lp: torch.Tensor, gold: torch.Tensor) -> np.ndarray:
    """Each row's mean loss over the predictions computed (the horizon's, or the whole decoder's for Switch)."""
    loss = -lp.gather(-1, gold[:, :, None].expand(lp.shape[0], -1, 1))[..., 0]
    return loss.mean(-1).cpu().numpy()


def scan(loaded: LoadedModel, text: str, token: int, layer: int, stack: Stack = "decoder", horizon: int = 1,
         reuse_below: bool = True, decoder_read: str = "input", samples: int = 0, seed: int = 0) -> pd.DataFrame:
    """The one-swap neighbourhood of the router's route for `token` at sparse block `layer`, and `samples` routes
    sampled from the router's distribution (Gumbel-top-k, seeded): each route's experts, weights, loss and rank, and
    `kind` ("router", "one-swap", "sampled"); the router's own route flagged (`is_router`), ties with it flagged
    (`ties_router`), and the decision's margin."""
    adapter, model = loaded.adapter, loaded.model
    found = dict(adapter.routers(model).get(stack, []))
    if layer not in found:
        raise InputError(f"{loaded.name} has no sparse {stack} block {layer} (sparse blocks: "
                         f"{', '.join(map(str, found)) or 'none'}).")
    ids = torch.tensor([loaded.tokenizer(text, truncation=True, max_length=512)["input_ids"]],
                       device=loaded.input_device)
    if not 0 <= token < ids.shape[1]:
        raise InputError(f"Token {token} is out of range: the text has {ids.shape[1]} tokens (counting from 0).")
    causal = adapter.objective == "next token"
    if causal and token >= ids.shape[1] - 1:
        raise InputError(f"Token {token} is the text's last: there is no next token to score a route by. Pick a token "
                         f"before it (0…{ids.shape[1] - 2}).")
    offset = adapter.decoder_offset(decoder_read) if stack == "decoder" else 0
    # a causal model's predictions before the token cannot move, nor those past the horizon: only these are computed
    needed = (token, min(token + horizon, ids.shape[1] - 1)) if causal else None
    seen: dict = {}
    hook = found[layer].register_forward_hook(lambda _m, args, kwargs, out: seen.update(
        route=adapter.route_of(out), call=(args, kwargs), output=out), with_kwargs=True)
    layer_blocks = reuse.blocks(model, adapter.stacks)
    try:
        with reuse.recording(layer_blocks) as record:
            base, gold = log_probs(loaded, ids, needed)
    finally:
        hook.remove()
    logits, index, _weights = seen["route"]
    row = token + offset
    dropped = bool(adapter.handed(seen["output"])[2][row])  # capacity gave the token no expert: no route of its own
    routes = alternatives(index[row].tolist(), adapter.num_experts)
    kinds = ["router"] + ["one-swap"] * (len(routes) - 1)
    drawn = sampled_routes(logits[row], len(routes[0]), routes[0], samples, seed, exclude=routes)
    routes, kinds = routes + drawn, kinds + ["sampled"] * len(drawn)
    width = logits.shape[0]
    try:
        weights = adapter.weights_for(seen["output"], found[layer], seen["call"],
                                      torch.full((len(routes),), row, device=logits.device),
                                      torch.tensor(routes, device=logits.device)).float()
    except NotImplementedError as err:
        raise InputError(str(err)) from None

    def rewrite(_m, _i, out):
        n = adapter.route_of(out)[0].shape[0]
        rows = torch.zeros(n, dtype=torch.bool, device=logits.device)
        chosen = torch.zeros((n, len(routes[0])), dtype=torch.long, device=logits.device)
        w = torch.zeros((n, len(routes[0])), dtype=torch.float32, device=logits.device)
        for a, route in enumerate(routes):
            rows[a * width + row] = True
            chosen[a * width + row] = torch.tensor(route)
            w[a * width + row] = weights[a]
        return adapter.with_route(out, rows, chosen, w)

    handle = found[layer].register_forward_hook(rewrite)
    names = reuse.reusable(layer_blocks, stack, layer) if reuse_below else []
    try:
        with reuse.reusing(layer_blocks, names, record, batch=len(routes)):
            lp, _ = log_probs(loaded, ids.repeat(len(routes), 1), needed)
    finally:
        handle.remove()
    loss = _scores(lp, gold.expand(len(routes), -1))
    own = float(_scores(base, gold)[0])
    margin = float(margins(torch.softmax(logits[row].float(), -1).cpu().numpy(), len(routes[0])))
    experts, weight_lists = [list(r) for r in routes], [list(map(float, w)) for w in weights.tolist()]
    is_router = np.arange(len(routes)) == 0
    # The router's own loss as the batched scan computes it: alternatives are compared in the same pass. Its gap to
    # the intact pass is the scan's float noise (~2e-6), and a tie is a loss within a few times that.
    router_loss = float(loss[0])
    if dropped:  # the router sent it nowhere: its route is the intact pass, and row 0 is one more alternative
        experts, weight_lists, loss = [[], *experts], [[], *weight_lists], np.concatenate([[own], loss])
        is_router, router_loss = np.arange(len(loss)) == 0, own
        kinds = ["router", "one-swap", *kinds[1:]]
    noise = 0.0 if dropped else abs(router_loss - own)
    tolerance = max(TIE * max(1.0, abs(own)), NOISE_FACTOR * noise)
    frame = pd.DataFrame({"experts": experts, "weights": weight_lists, "loss": loss})
    frame["route"] = ["dropped (no expert)" if dropped and r else " ".join(f"e{e}" for e in x)
                      for x, r in zip(experts, is_router)]
    frame["kind"] = kinds
    frame["is_router"] = is_router
    frame["ties_router"] = np.abs(frame.loss - router_loss) <= tolerance
    frame["tie_tolerance"] = tolerance
    frame["rank"] = frame.loss.rank(method="min").astype(int)
    frame["margin"] = margin
    frame.insert(0, "token", token)
    frame.insert(1, "layer", layer)
    return frame.sort_values(["loss", "is_router"], ascending=[True, False]).reset_index(drop=True)


def sample_scans(loaded: LoadedModel, texts: Sequence[str], samples: int = 50, seed: int = 0, stack: Stack | None = None,
                 horizon: int = 1, routes: int = 8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Over `samples` (text, token, sparse layer) drawn at random (seeded): per draw the router's loss, the best
    alternative's in the one-swap neighbourhood and over it plus `routes` sampled routes, the gaps (`regret`,
    `regret_sampled`) and the decision's margin. The summary gives, per set of alternatives (`routes`: "one-swap",
    "one-swap + sampled"), how often the router's choice was the best (a Wilson 95 % CI), that share among near-ties
    and confident decisions, and Spearman ρ (CI) of the margin with the regret."""
    from scipy.stats import binomtest

    from core.measures.metrics import spearman
    from core.measures.routing_stats import near_tie_threshold
    from core.tracing.tracer import Tracer

    adapter = loaded.adapter
    stacks = [stack] if stack else list(adapter.routers(loaded.model))
    layers = [(s, int(b)) for s in stacks for b, _m in adapter.routers(loaded.model).get(s, [])]
    rng = np.random.default_rng(seed)
    traces = Tracer(loaded, cache=None).trace(list(texts))
    rows = []
    for draw in range(samples):
        i = int(rng.integers(len(texts)))
        s, block = layers[int(rng.integers(len(layers)))]
        last = len(traces[i].tokens) - (horizon + 1 if adapter.objective == "next token" else 0)
        if last < 1:
            continue
        frame = scan(loaded, texts[i], int(rng.integers(last)), block, s, horizon, samples=routes, seed=seed + draw)
        own, tol = float(frame.loss[frame.is_router].iloc[0]), float(frame.tie_tolerance.iloc[0])
        local = float(frame.loss[frame.kind != "sampled"].min())
        best = float(frame.loss.min())
        rows.append({"text": i, "token": int(frame.token.iloc[0]), "stack": s, "layer": block, "router_loss": own,
                     "best_loss": local, "regret": own - local, "router_best": own - local <= tol,
                     "best_loss_sampled": best, "regret_sampled": own - best, "router_best_sampled": own - best <= tol,
                     "margin": float(frame.margin.iloc[0]), "alternatives": int((frame.kind == "one-swap").sum()),
                     "sampled": int((frame.kind == "sampled").sum())})
    draws = pd.DataFrame(rows)
    if draws.empty:
        raise InputError("No token could be scanned: give texts with more than a few tokens.")
    summary = []
    tie = near_tie_threshold(adapter.num_experts)
    for scope, best_col, regret_col in (("one-swap", "router_best", "regret"),
                                        ("one-swap + sampled", "router_best_sampled", "regret_sampled")):
        for name, part in (("all", draws), ("near-ties", draws[draws.margin < tie]),
                           ("confident", draws[draws.margin >= tie])):
            k, n = int(part[best_col].sum()), len(part)
            ci = binomtest(k, n).proportion_ci(method="wilson") if n else None
            summary.append({"routes": scope, "decisions": name, "n": n, "router_best_share": k / n if n else np.nan,
                            "ci_low": ci.low if ci else np.nan, "ci_high": ci.high if ci else np.nan})
        corr = spearman(draws.margin, draws[regret_col])
        summary.append({"routes": scope, "decisions": "ρ(margin, regret)", "n": corr.n, "router_best_share": corr.rho,
                        "ci_low": corr.ci_low, "ci_high": corr.ci_high})
    return draws, pd.DataFrame(summary)
