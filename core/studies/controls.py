"""Router or representation? The controls of `reproduce --controls` (docs/definitions.md).

A router is one linear map of a contextual hidden state, so routing can respond to context only because the hidden
state does. Per model, stack and sparse layer, on the WiC pairs and on SCWS:
- the cosine similarity of the target's router inputs (pooled over its tokens like its probabilities), its Cohen's
  d between labels and its ρ with the SCWS ratings: what the representation alone shows;
- random routers (the trained weight's shape and row norms, random directions; R of them) on the same inputs: the
  d and ρ a router that learned nothing would show (mean, 2.5–97.5 %);
- the retention ratio d(routing) / d(representation) and the partial point-biserial correlation of the label with
  routing JSS controlling for the cosine;
- for top-k models, the chance-normalised overlap of the two occurrences' chosen expert sets, with its d.
One claim the paper implies follows: the trained router responds to context more than a random router does.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.measures.metrics import cohens_d_along, effect_size, spearman
from core.measures.metrics import jss as similarity_of
from core.measures.representation import (
    chosen_overlap,
    cosine,
    partial_point_biserial,
    random_routers,
    retention,
    router_seed,
    softmax_probs,
)
from core.results.store import Note
from core.studies.claims import verdict_of
from core.studies.experiments import BenchmarkData
from core.studies.targets import ProgressFactory, Target, no_progress, route_targets
from core.tracing.tracer import Tracer
from core.types import STACKS, DecoderRead

RANDOM_ROUTERS = 200  # at least this many random routers per layer ...
RANDOM_SE = 0.005  # ... and more, in blocks of RANDOM_ROUTERS, until the Monte-Carlo SE of their mean d is at most this
RANDOM_MAX = 2000
RANDOM_CLAIM = "The trained router responds to context more than a random router on the same representation"
RANDOM_CLAIM_PAPER = "implied by §4.2 (a control)"


def _pooled_inputs(inputs: list[np.ndarray], layer: int) -> np.ndarray:
    """(N, d) each target's router input at one layer: the mean over its tokens (as its probabilities are pooled)."""
    return np.stack([np.nanmean(x[layer], axis=0) for x in inputs])


def _random_probs(inputs: list[np.ndarray], layer: int, weights: np.ndarray) -> np.ndarray:
    """(R, N, E) each target's routing under each random router: token probabilities, then the mean over the
    target's tokens."""
    tokens = [x[layer] for x in inputs]
    starts = np.cumsum([0] + [len(t) for t in tokens[:-1]])
    flat = np.nan_to_num(np.concatenate(tokens).astype(np.float64))
    out = []
    for w in weights:
        probs = softmax_probs(flat, w)
        out.append(np.add.reduceat(probs, starts, axis=0) / np.array([len(t) for t in tokens])[:, None])
    return np.stack(out)


def _model_frames(tracer: Tracer, data: BenchmarkData, progress: ProgressFactory, decoder_read: DecoderRead,
                  n_random: int, seed: int) -> dict[str, list]:
    lm = tracer.loaded
    read = lm.adapter.decoder_read(decoder_read)
    capture = tracer.capturing_inputs()
    meta = {"model": lm.name, "experts": lm.num_experts, "family": lm.family, "top_k": lm.top_k, "dtype": lm.dtype,
            "decoder_read": read}
    frames: dict[str, list] = {"controls": [], "controls_pairs": [], "controls_scws": []}
    wic, m = data.wic, len(data.wic)
    targets = ([Target(t, word_index=i) for t, i in zip(wic.sentence1, wic.idx1)]
               + [Target(t, word_index=i) for t, i in zip(wic.sentence2, wic.idx2)])
    inputs: dict[str, list] = {}
    routes = route_targets(capture, targets, STACKS, "WiC sentences (with router inputs)", progress, None, read,
                           inputs)
    same = wic.label.to_numpy().astype(bool)
    for stack, probs in routes.items():
        modules = [module for _block, module in capture.routers[stack]]
        blocks = [int(block) for block, _ in capture.routers[stack]]
        trained_means, random_means = [], []
        for li, block in enumerate(blocks):
            weight = _weight(capture, modules[li])
            routed = similarity_of(probs[:m, li], probs[m:, li])
            x = _pooled_inputs(inputs[stack], li)
            cos = cosine(x[:m], x[m:])
            rand_jss, rand_d = _enough_random_routers(inputs[stack], li, weight, same, n_random,
                                                      router_seed(seed, lm.name, stack, block))
            trained_means.append(routed)
            random_means.append(rand_jss[:n_random])  # the stack mean pairs router i of every layer
            d_route, d_rep = effect_size(routed[same], routed[~same]), effect_size(cos[same], cos[~same])
            keep = retention(routed, cos, same)
            partial = partial_point_biserial(same, routed, cos)
            row = {**meta, "stack": stack, "layer_pos": li, "layer": block, "n": m,
                   "d_routing": d_route.d, "d_routing_low": d_route.ci_low, "d_routing_high": d_route.ci_high,
                   "d_routing_p": d_route.p, "d_cosine": d_rep.d, "d_cosine_low": d_rep.ci_low,
                   "d_cosine_high": d_rep.ci_high, "d_cosine_p": d_rep.p, "d_random_mean": float(np.nanmean(rand_d)),
                   "d_random_low": float(np.nanpercentile(rand_d, 2.5)),
                   "d_random_high": float(np.nanpercentile(rand_d, 97.5)), "random_routers": len(rand_d),
                   "d_random_se": float(np.nanstd(rand_d, ddof=1) / np.sqrt(len(rand_d))), "retention": keep.value,
                   "retention_low": keep.ci_low, "retention_high": keep.ci_high, "partial_r": partial.value,
                   "partial_r_low": partial.ci_low, "partial_r_high": partial.ci_high, "partial_r_p": partial.p}
            pairs = {**meta, "pair": np.arange(m), "label": np.where(same, "T", "F"), "stack": stack,
                     "layer_pos": li, "layer": block, "jss": routed, "cosine": cos,
                     "jss_random_mean": np.round(rand_jss.mean(axis=0), 5).astype(np.float32)}
            if lm.top_k > 1:
                overlap = chosen_overlap(probs[:m, li], probs[m:, li], lm.top_k)
                d_over = effect_size(overlap[same], overlap[~same])
                row.update(d_overlap=d_over.d, d_overlap_low=d_over.ci_low, d_overlap_high=d_over.ci_high,
                           d_overlap_p=d_over.p)
                pairs["overlap"] = overlap
            frames["controls"].append(row)
            frames["controls_pairs"].append(pd.DataFrame(pairs))
        frames["controls"].append(_stack_mean_row(meta, stack, np.mean(trained_means, axis=0),
                                                  np.mean(random_means, axis=0), same))
    frames["controls_scws"] += _scws_rows(capture, data, progress, read, meta, n_random, seed)
    return frames


def _enough_random_routers(inputs: list[np.ndarray], li: int, weight: np.ndarray, same: np.ndarray, n_random: int,
                           seed: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(R, pairs) JSS and (R,) Cohen's d of R random routers: at least `n_random`, then more in blocks of `n_random`
    until the Monte-Carlo SE of their mean d is at most RANDOM_SE (or RANDOM_MAX routers)."""
    rng = np.random.default_rng(seed)
    m = len(same)
    jss_blocks, d_blocks = [], []
    while True:
        rand = _random_probs(inputs, li, random_routers(weight, n_random, rng))
        jss_blocks.append(similarity_of(rand[:, :m], rand[:, m:]))
        d_blocks.append(cohens_d_along(jss_blocks[-1][:, same], jss_blocks[-1][:, ~same]))
        d = np.concatenate(d_blocks)
        if np.nanstd(d, ddof=1) / np.sqrt(len(d)) <= RANDOM_SE or len(d) + n_random > RANDOM_MAX:
            return np.concatenate(jss_blocks), d


def _stack_mean_row(meta: dict, stack: str, routed: np.ndarray, rand: np.ndarray, same: np.ndarray) -> dict:
    """The stack's mean over layers (the pair's stack JSS, as Fig. 1 and the claims use it): trained d with its CI,
    the random routers' d distribution, and their difference as the control claim judges it."""
    d = effect_size(routed[same], routed[~same])
    rand_d = cohens_d_along(rand[:, same], rand[:, ~same])
    return {**meta, "stack": stack, "layer_pos": -1, "layer": -1, "n": len(routed), "d_routing": d.d,
            "d_routing_low": d.ci_low, "d_routing_high": d.ci_high, "d_routing_p": d.p,
            "d_random_mean": float(np.nanmean(rand_d)), "d_random_low": float(np.nanpercentile(rand_d, 2.5)),
            "d_random_high": float(np.nanpercentile(rand_d, 97.5))}


def _scws_rows(capture: Tracer, data: BenchmarkData, progress: ProgressFactory, read: DecoderRead, meta: dict,
               n_random: int, seed: int) -> list[dict]:
    """SCWS with and without context: ρ of the inputs' cosine with the ratings, beside the routing's ρ and the
    random routers' ρ (layer means, as Table 2). Each setting is traced once, for every stack."""
    scws, n = data.scws, len(data.scws)
    settings = {
        "without context": [Target(w) for w in scws.word1] + [Target(w) for w in scws.word2],
        "with context": ([Target(c, s, e) for c, s, e in zip(scws.context1, scws.start1, scws.end1)]
                         + [Target(c, s, e) for c, s, e in zip(scws.context2, scws.start2, scws.end2)]),
    }
    traced = {}
    for setting, targets in settings.items():
        inputs: dict[str, list] = {}
        probs = route_targets(capture, targets, STACKS, f"SCWS {setting} (with router inputs)", progress, None, read,
                              inputs)
        traced[setting] = (probs, inputs)
    rows = []
    for stack in traced["with context"][0]:
        modules = [module for _block, module in capture.routers[stack]]
        for setting, (all_probs, inputs) in traced.items():
            probs = all_probs[stack]
            layers = range(probs.shape[1])
            routed = np.mean([similarity_of(probs[:n, li], probs[n:, li]) for li in layers], axis=0)
            cos = np.mean([cosine(*np.split(_pooled_inputs(inputs[stack], li), 2)) for li in layers], axis=0)
            blocks = [int(block) for block, _ in capture.routers[stack]]
            rand = np.mean([similarity_of(*np.split(_random_probs(inputs[stack], li, random_routers(
                _weight(capture, modules[li]), n_random, router_seed(seed, meta["model"], stack, blocks[li]))), 2,
                axis=1)) for li in layers], axis=0)  # (R, pairs)
            rho_rand = np.array([spearman(r, scws.score, n_resamples=0).rho for r in rand])
            rho_cos, rho_route = spearman(cos, scws.score), spearman(routed, scws.score)
            rows.append({**meta, "stack": stack, "setting": setting, "n": n, "rho_routing": rho_route.rho,
                         "rho_routing_low": rho_route.ci_low, "rho_routing_high": rho_route.ci_high,
                         "rho_cosine": rho_cos.rho, "rho_cosine_low": rho_cos.ci_low,
                         "rho_cosine_high": rho_cos.ci_high, "rho_random_mean": float(np.nanmean(rho_rand)),
                         "rho_random_low": float(np.nanpercentile(rho_rand, 2.5)),
                         "rho_random_high": float(np.nanpercentile(rho_rand, 97.5))})
    return rows


def _weight(tracer: Tracer, module) -> np.ndarray:
    return tracer.adapter.router_weight(module).float().cpu().numpy()


def run_controls(tracers: Sequence[Tracer], data: BenchmarkData, progress: ProgressFactory = no_progress,
                 decoder_read: DecoderRead = "input", n_random: int = RANDOM_ROUTERS, seed: int = 0
                 ) -> tuple[dict[str, pd.DataFrame], list[Note]]:
    """The control frames for every model with a trained router; models without one (MoE-fied) are named."""
    frames: dict[str, list] = {"controls": [], "controls_pairs": [], "controls_scws": []}
    notes = []
    for tracer in tracers:
        if not tracer.adapter.has_router:
            notes.append(Note(f"Controls leave out {tracer.loaded.name}: no trained router (routing by activation "
                              "mass), so no random-router baseline."))
            continue
        for name, rows in _model_frames(tracer, data, progress, decoder_read, n_random, seed).items():
            frames[name] += rows
    out = {"controls": pd.DataFrame(frames["controls"]), "controls_scws": pd.DataFrame(frames["controls_scws"]),
           "controls_pairs": pd.concat(frames["controls_pairs"], ignore_index=True) if frames["controls_pairs"]
           else pd.DataFrame()}
    return out, notes


def random_router_claims(controls: pd.DataFrame) -> pd.DataFrame:
    """The control claim per model and stack, on the stack-mean rows: d(trained) − the random routers' mean d, with
    the CI [d low − random 97.5 %, d high − random 2.5 %] (both uncertainties, conservatively), judged by the one
    verdict rule."""
    rows = []
    if not len(controls):
        return pd.DataFrame(rows)
    for r in controls[controls.layer_pos == -1].itertuples():
        value = r.d_routing - r.d_random_mean
        low, high = r.d_routing_low - r.d_random_high, r.d_routing_high - r.d_random_low
        rows.append({"claim": RANDOM_CLAIM, "paper": RANDOM_CLAIM_PAPER, "model": r.model, "stack": r.stack,
                     "verdict": verdict_of(low, high), "value": value, "ci_low": low, "ci_high": high,
                     "p": float("nan"), "evidence": f"d trained {r.d_routing:+.3f} [95% CI {r.d_routing_low:+.3f}, "
                     f"{r.d_routing_high:+.3f}] vs random routers {r.d_random_mean:+.3f} (2.5–97.5 % "
                     f"{r.d_random_low:+.3f} … {r.d_random_high:+.3f}); difference {value:+.3f} [{low:+.3f}, "
                     f"{high:+.3f}]"})
    return pd.DataFrame(rows)


def pair_controls(traces: tuple, spans: tuple, tracer: Tracer, n_random: int = RANDOM_ROUTERS, seed: int = 0
                  ) -> pd.DataFrame:
    """One word in two sentences (traces captured with router inputs): per stack and layer, the routing JSS, the
    cosine of the word's two router inputs, and where the JSS sits among `n_random` random routers of the trained
    shape on the same two inputs (the share of them whose JSS is lower: near 0 = the trained router tells the two
    contexts apart more than chance routers do)."""
    rows = []
    tokens = [t.target_tokens(start=s, end=e) for t, (s, e) in zip(traces, spans)]  # the same at every layer
    for stack in traces[0].stacks:
        for li, (block, module) in enumerate(tracer.routers[stack]):
            xs = [t.router_inputs[stack][li][idx] for t, idx in zip(traces, tokens)]
            probs = [t.stacks[stack].token_probs[li][idx].mean(axis=0) for t, idx in zip(traces, tokens)]
            routed = float(similarity_of(probs[0], probs[1]))
            rand = [float(similarity_of(softmax_probs(xs[0], w).mean(axis=0), softmax_probs(xs[1], w).mean(axis=0)))
                    for w in random_routers(_weight(tracer, module), n_random,
                                            router_seed(seed, tracer.loaded.name, stack, int(block)))]
            rows.append({"stack": stack, "layer_pos": li, "layer": int(block), "jss": routed,
                         "cosine": float(cosine(np.nanmean(xs[0], axis=0), np.nanmean(xs[1], axis=0))),
                         "random_jss_mean": float(np.mean(rand)), "random_lower_share": float(np.mean(
                             np.array(rand) < routed))})
    return pd.DataFrame(rows)
