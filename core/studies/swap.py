"""Does context-dependent routing matter? Route the target word of a WiC pair's sentence 2 as it was routed in
sentence 1 — its chosen experts and their weights copied token by token — and measure how much sentence 2's output
moves (the mean KL of its predictions from the word on; a teacher-forced decoder's over the whole text). Different-
meaning pairs (the context changed the word's routing for a reason) against same-meaning pairs (the control swap):
Cohen's d with its CI, for the swap at every sparse layer at once and at one layer at a time (docs/definitions.md,
*The swap study*)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from core.errors import InputError
from core.measures.metrics import effect_size
from core.models.loading import LoadedModel
from core.studies.claims import verdict_of
from core.studies.outcomes import Outcome, log_probs, outcome
from core.tracing.interventions import Intervention, intervening
from core.tracing.tracer import Tracer
from core.types import Stack

SWAP_CLAIM = "Routing differences change the output (swapping a word's routes moves the output more for "\
             "different-meaning pairs)"
SWAP_CLAIM_PAPER = "beyond the paper (an intervention)"
ALL_LAYERS = -1

Routes = dict[Stack, dict[int, list[tuple[tuple[int, ...], tuple[float, ...]]]]]


def word_routes(loaded: LoadedModel, text: str, tokens: list[int]) -> Routes:
    """Per stack and sparse block, the route (experts, weights) of each of `tokens` in `text`, read off the router."""
    adapter, model = loaded.adapter, loaded.model
    seen: dict[tuple[Stack, int], tuple] = {}
    handles = [module.register_forward_hook(lambda _m, _i, out, key=(stack, int(block)): None if key in seen else
                                            seen.update({key: adapter.route_of(out)[1:]}))
               for stack, found in adapter.routers(model).items() for block, module in found]
    try:
        log_probs(loaded, torch.tensor([loaded.tokenizer(text, truncation=True, max_length=512)["input_ids"]],
                                       device=loaded.input_device))
    finally:
        for h in handles:
            h.remove()
    routes: Routes = {}
    for (stack, block), (index, weights) in seen.items():
        offset = adapter.decoder_offset() if stack == "decoder" else 0
        routes.setdefault(stack, {})[block] = [
            (tuple(int(e) for e in index[t + offset].tolist()), tuple(float(w) for w in weights[t + offset].tolist()))
            for t in tokens if t + offset < index.shape[0]]
    return routes


def swap_interventions(routes: Routes, tokens: list[int], layer: tuple[Stack, int] | None = None
                       ) -> list[Intervention]:
    """Copy `routes` (one occurrence's) onto `tokens` (the other's), token by token (a longer word reuses the last
    route), at every sparse layer or only at `layer`."""
    out = []
    for stack, blocks in routes.items():
        for block, rs in blocks.items():
            if not rs or (layer is not None and layer != (stack, block)):
                continue
            out.append(Intervention("route", stack, (block,), routes={t: rs[min(i, len(rs) - 1)]
                                                                        for i, t in enumerate(tokens)}))
    return out


def _tokens(loaded: LoadedModel, texts: tuple[str, str], spans: tuple[tuple[int, int], tuple[int, int]] | None = None,
            words: tuple[int, int] | None = None) -> tuple[list[int], list[int]]:
    """The word's token rows in each text: by character span, or by whitespace word index (as WiC counts)."""
    traces = Tracer(loaded, cache=None).trace(list(texts))
    if words is not None:
        return tuple(list(map(int, t.target_tokens(word_index=w))) for t, w in zip(traces, words))  # type: ignore
    return tuple(list(map(int, t.target_tokens(start=s, end=e))) for t, (s, e) in zip(traces, spans))  # type: ignore


def swap_outcome(loaded: LoadedModel, sentence1: str, sentence2: str, span1: tuple[int, int], span2: tuple[int, int],
                 layer: tuple[Stack, int] | None = None) -> Outcome:
    """Sentence 2 with its word (characters span2) routed as sentence 1's (span1): the outcome, per position."""
    t1, t2 = _tokens(loaded, (sentence1, sentence2), (span1, span2))
    return outcome(loaded, sentence2, swap_interventions(word_routes(loaded, sentence1, t1), t2, layer))


def _moved(loaded: LoadedModel, ids: torch.Tensor, base: torch.Tensor, ivs: list[Intervention], first: int) -> float:
    """Mean KL of the intervened predictions from `base`, over positions from `first` on."""
    with intervening(loaded, ivs):
        after, _ = log_probs(loaded, ids)
    kl = (base.exp() * (base - after)).sum(-1)[0].clamp_min(0)
    return float(kl[first:].mean()) if kl[first:].numel() else float("nan")


def swap_study(loaded: LoadedModel, wic: pd.DataFrame, progress: Callable[[int, int], None] | None = None
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every WiC pair (sentence1, sentence2, idx1, idx2, label): per pair the output change under the swap at every
    sparse layer and at each one alone (`swap_pairs`), and per model, stack and layer Cohen's d of different- vs
    same-meaning pairs with its CI (`swap`)."""
    rows = []
    causal = loaded.adapter.objective == "next token"
    layers = [(s, int(b)) for s, found in loaded.adapter.routers(loaded.model).items() for b, _m in found]
    for i, r in enumerate(wic.itertuples()):
        try:
            t1, t2 = _tokens(loaded, (r.sentence1, r.sentence2), words=(int(r.idx1), int(r.idx2)))
        except InputError:  # the word was cut by truncation: no route to copy
            continue
        ids = torch.tensor([loaded.tokenizer(r.sentence2, truncation=True, max_length=512)["input_ids"]],
                           device=loaded.input_device)
        base, _ = log_probs(loaded, ids)
        first = t2[0] if causal else 0  # row t predicts token t + 1 from tokens ≤ t: rows before the word cannot move
        routes = word_routes(loaded, r.sentence1, t1)
        label = "T" if bool(r.label) else "F"
        rows.append({"pair": i, "label": label, "stack": "all", "layer": ALL_LAYERS,
                     "kl": _moved(loaded, ids, base, swap_interventions(routes, t2), first)})
        for stack, block in layers:
            rows.append({"pair": i, "label": label, "stack": stack, "layer": block,
                         "kl": _moved(loaded, ids, base, swap_interventions(routes, t2, (stack, block)), first)})
        if progress:
            progress(i + 1, len(wic))
    pairs = pd.DataFrame(rows)
    pairs.insert(0, "model", loaded.name)
    summary = []
    for (stack, layer), g in pairs.groupby(["stack", "layer"], sort=False):
        f, t = g.kl[g.label == "F"].to_numpy(), g.kl[g.label == "T"].to_numpy()
        d = effect_size(f, t)
        summary.append({"model": loaded.name, "stack": stack, "layer": int(layer), "d": d.d, "ci_low": d.ci_low,
                        "ci_high": d.ci_high, "p": d.p, "mean_kl_F": float(np.mean(f)) if len(f) else np.nan,
                        "mean_kl_T": float(np.mean(t)) if len(t) else np.nan, "n_F": len(f), "n_T": len(t)})
    return pairs, pd.DataFrame(summary)


def swap_claims(swap: pd.DataFrame) -> pd.DataFrame:
    """The claim per model, on the every-layer swap: d(KL, different − same meaning) > 0 by its CI."""
    rows = []
    for r in swap[swap.layer == ALL_LAYERS].itertuples():
        rows.append({"claim": SWAP_CLAIM, "paper": SWAP_CLAIM_PAPER, "model": r.model, "stack": "both" if r.stack ==
                     "all" else r.stack, "verdict": verdict_of(r.ci_low, r.ci_high), "value": r.d, "ci_low": r.ci_low,
                     "ci_high": r.ci_high, "p": r.p,
                     "evidence": f"d {r.d:+.3f} [95% CI {r.ci_low:+.3f}, {r.ci_high:+.3f}]: mean KL after the swap "
                                 f"{r.mean_kl_F:.4f} (different meaning, n {r.n_F}) vs {r.mean_kl_T:.4f} (same, "
                                 f"n {r.n_T})"})
    return pd.DataFrame(rows)
