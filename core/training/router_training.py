"""Train routers for the MoE-fied MiniLM (MoEfication's second half), then a short distillation toward the dense model.

The recipe, all seeded and reading NLTK text only (Brown, movie reviews, State of the Union, inaugural addresses —
never WordNet, whose examples WiC is built from, nor any benchmark file):

1. **Partition by co-activation**: each layer's 1,536 neurons are grouped by their activation profiles over the
   dense model's states of `partition_sentences` sentences (balanced k-means), so neurons that fire together run
   together. (Grouping by input weights, the activation-mass MoE-fied models' rule, leaves more mass outside the
   top-k.)
2. **Routers, layer by layer**: router ℓ is a linear layer fitted (cross-entropy, Adam) to the clusters' share of
   positive activation mass — the oracle's routing distribution — on the states the already-sparse layers below it
   produce. The routing distribution is its softmax; the chosen experts its top-k.
3. **Skip vectors**: an expert that does not run adds the mean output it gave to the tokens that did not choose it.
4. **Distillation**: the experts' weights, the skip vectors and the layer norms after each FFN are trained for
   `distill_steps` steps so the sparse model's hidden states and sentence embeddings follow the dense model's (the
   routers stay fixed: they were fitted to the dense model's activation mass).

Fidelity is measured on held-out sentences: the share of the oracle's top-k activation mass the router's top-k
captures, and the cosine of sentence embeddings (mean pooling, as all-MiniLM-L6-v2) to the dense model, for every k.
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from core.data.nltk_text import sentences
from core.models.moefy import balanced_kmeans, mass_shares
from core.models.routed_experts import install, mode, routed_blocks
from core.models.router_folder import load_into, save  # noqa: F401 - the trainer's outputs, re-exported
from core.training.design_fitting import fit_design, needs_text, routed_in_pass

SOURCES = ("brown", "movie_reviews", "state_union", "inaugural")  # NLTK text only: no WordNet (WiC's source)
DEFAULT_TOP_K = {8: 4, 16: 8, 32: 16}  # at most half of the experts run
FORMAT = 1  # the bundled folder's layout version


@dataclass(frozen=True)
class RouterSettings:
    experts: int
    top_k: int
    seed: int = 0
    sentences_per_source: int = 3000
    partition_sentences: int = 200
    router_sentences: int = 1000
    router_steps: int = 150
    distill_steps: int = 0
    distill_batch: int = 32
    distill_lr: float = 1e-4
    heldout_sentences: int = 400
    max_length: int = 64
    threads: int = 2
    design: str = "softmax"  # core.models.router_designs: the routing lab trains the others

    def key(self, base_sha256: str) -> str:
        """The cache key: the dense weights' hash, E, k, seed and every other setting that changes the result (a
        softmax router's key is the one it had before designs existed)."""
        fields = {k: v for k, v in asdict(self).items() if not (k == "design" and v == "softmax")}
        blob = json.dumps({**fields, "threads": None, "base": base_sha256, "format": FORMAT}, sort_keys=True)
        design = "" if self.design == "softmax" else f"{self.design}-"
        return f"{design}E{self.experts}-k{self.top_k}-seed{self.seed}-{base_sha256[:12]}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def training_text(settings: RouterSettings) -> tuple[list[str], list[str], dict[str, int]]:
    """(training sentences, held-out sentences, sentences per source): NLTK sentences, deduplicated, shuffled with the
    seed; the last `heldout_sentences` are held out for the fidelity measures."""
    seen, texts, counts = set(), [], {}
    for src in SOURCES:
        n = 0
        for sent in sentences(src):
            if n >= settings.sentences_per_source:
                break
            if sent not in seen and len(sent) < 600:
                seen.add(sent)
                texts.append(sent)
                n += 1
        counts[src] = n
    random.Random(settings.seed).shuffle(texts)
    return texts[: -settings.heldout_sentences], texts[-settings.heldout_sentences:], counts


class Batches:
    """Tokenised sentences in fixed batches (padding per batch)."""

    def __init__(self, tokenizer, texts: list[str], max_length: int, batch: int = 64) -> None:
        self.items = [tokenizer(texts[i : i + batch], return_tensors="pt", padding=True, truncation=True,
                                max_length=max_length) for i in range(0, len(texts), batch)]

    def __iter__(self):
        return iter(self.items)


def mean_pooled(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Sentence embeddings as all-MiniLM-L6-v2 makes them: mean over tokens, L2-normalised."""
    m = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=-1)


def ffn_inputs(model: nn.Module, batches: Batches, layer: int) -> torch.Tensor:
    """(tokens, H) the FFN input of `layer` over every real token of `batches`."""
    got: list[torch.Tensor] = []
    masks: list[torch.Tensor] = []
    handle = model.encoder.layer[layer].intermediate.register_forward_pre_hook(lambda _m, i: got.append(i[0]))
    try:
        with torch.inference_mode():
            for enc in batches:
                model(**enc)
                masks.append(enc["attention_mask"].bool())
    finally:
        handle.remove()
    return torch.cat([x[m] for x, m in zip(got, masks)]).clone()


def coactivation_partition(dense: nn.Module, batches: Batches, experts: int, seed: int) -> list[np.ndarray]:
    """Per layer, the expert of every neuron: balanced k-means over the neurons' activation profiles."""
    parts = []
    for i, layer in enumerate(dense.encoder.layer):
        x = ffn_inputs(dense, batches, i)
        with torch.inference_mode():
            acts = layer.intermediate(x).T.float().numpy()  # (neurons, tokens)
        parts.append(balanced_kmeans(np.ascontiguousarray(acts), experts, seed + i))
    return parts


def activation_mass(block, x: torch.Tensor) -> torch.Tensor:
    """(T, E) each expert's share of the token's positive activation mass (the oracle's routing distribution)."""
    return mass_shares(block.activations(x).clamp_min(0).sum(-1))


def set_skip(block, x: torch.Tensor, chosen: torch.Tensor | None = None) -> None:
    """Skip vector of each expert: its mean output over the tokens whose top-k does not include it (`chosen`: the
    selection read from forward passes, for routers whose choice needs the text)."""
    with torch.no_grad():
        outs, mask = [], []
        for start in range(0, x.shape[0], 8192):
            xs = x[start : start + 8192]
            outs.append(block.expert_outputs(xs))
            if chosen is None:
                mask.append(block.chosen_mask(block.router(xs)))
        out, off = torch.cat(outs), (~(chosen if chosen is not None else torch.cat(mask))).to(x.dtype)
        block.skip.copy_((out * off.unsqueeze(-1)).sum(0) / off.sum(0).clamp_min(1).unsqueeze(-1))


def distill(model: nn.Module, dense: nn.Module, batches: list, settings: RouterSettings,
            progress: Callable[[str], None]) -> list[float]:
    """Train the experts, skip vectors and post-FFN layer norms (masked mode: the sparse function, differentiable) so
    every layer's hidden states and the sentence embedding follow the dense model's."""
    params = []
    for p in model.parameters():
        p.requires_grad_(False)
    for layer in model.encoder.layer:
        block = layer.intermediate
        for p in (block.w_in, block.b_in, block.w_out, block.b_out, block.skip, *layer.output.LayerNorm.parameters()):
            p.requires_grad_(True)
            params.append(p)
    opt = torch.optim.Adam(params, lr=settings.distill_lr)
    losses = []
    model.train()
    with mode(model, "masked"):
        for step in range(settings.distill_steps):
            enc = batches[step % len(batches)]
            m = enc["attention_mask"].unsqueeze(-1).float()
            with torch.no_grad():
                teacher = dense(**enc, output_hidden_states=True).hidden_states
            student = model(**enc, output_hidden_states=True).hidden_states
            loss = sum((((s - t) ** 2) * m).sum() / m.sum() / t.var() for s, t in zip(student[1:], teacher[1:]))
            loss = loss / (len(student) - 1) + 10 * (1 - (mean_pooled(student[-1], enc["attention_mask"])
                                                      * mean_pooled(teacher[-1], enc["attention_mask"])).sum(-1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if (step + 1) % 25 == 0:
                progress(f"distillation step {step + 1}/{settings.distill_steps}: loss {np.mean(losses[-25:]):.4f}")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return losses


def fidelity(model: nn.Module, dense: nn.Module, held: Batches, design: str = "softmax") -> dict:
    """Held-out fidelity: per layer the share of the oracle's top-k mass the router's top-k captures (and the
    oracle's own) and the load balance, per k the mean (and 5th percentile) cosine of sentence embeddings to the
    dense model's (only the design's own k where its selection is not a plain top-k)."""
    from core.measures.routing_stats import balance
    from core.training.design_fitting import routed_in_pass

    blocks = routed_blocks(model)
    k, experts = blocks[0].top_k, blocks[0].num_experts
    layers = []
    for i, block in enumerate(blocks):
        x = ffn_inputs(model, held, i)
        logits, chosen = routed_in_pass(model, held, i)
        with torch.no_grad():
            mass = activation_mass(block, x)
            load = balance(chosen.sum(0).numpy())
            layers.append({"layer": i, "captured_mass": float((mass * chosen).sum(-1).mean()),
                           "oracle_mass": float(mass.topk(k, -1).values.sum(-1).mean()),
                           "top1_agreement": float((logits.argmax(-1) == mass.argmax(-1)).float().mean()),
                           "experts_per_token": float(chosen.sum(-1).float().mean()),
                           "unprocessed_share": float((chosen.sum(-1) == 0).float().mean()),
                           "load_cv": load["cv"], "load_max_over_mean": load["max_over_mean"]})
    with torch.inference_mode():
        ref = torch.cat([mean_pooled(dense(**enc).last_hidden_state, enc["attention_mask"]) for enc in held])
    curve = []
    step = max(1, experts // 8)
    ks = {1, *range(step, experts + 1, step), k, experts} if design == "softmax" else {k}  # 1 and every eighth of E
    for kk in sorted(ks):
        with torch.inference_mode(), mode(model, "sparse", top_k=kk):
            emb = torch.cat([mean_pooled(model(**enc).last_hidden_state, enc["attention_mask"]) for enc in held])
        cos = (emb * ref).sum(-1).numpy()
        curve.append({"k": kk, "experts_running": kk / experts, "cosine_mean": float(cos.mean()),
                      "cosine_p5": float(np.percentile(cos, 5)), "cosine_min": float(cos.min())})
    return {"layers": layers, "curve": curve, "heldout_sentences": sum(int(e["attention_mask"].shape[0]) for e in held)}


def train_routers(dense: nn.Module, tokenizer, settings: RouterSettings, base_sha256: str,
                  progress: Callable[[str], None] = lambda _m: None) -> tuple[nn.Module, dict]:
    """The whole recipe on a copy of `dense`; returns the routed model and its record (settings, text, timings,
    fidelity)."""
    import copy

    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    t0 = time.perf_counter()
    try:
        train, held, counts = training_text(settings)
        progress(f"{len(train):,} training sentences, {len(held)} held out ({', '.join(counts)})")
        part_batches = Batches(tokenizer, train[: settings.partition_sentences], settings.max_length)
        partitions = coactivation_partition(dense, part_batches, settings.experts, settings.seed)
        t_part = time.perf_counter() - t0
        progress(f"co-activation partition into {settings.experts} experts: {t_part:.0f} s")
        model = copy.deepcopy(dense).eval()
        blocks = install(model, partitions, settings.top_k, settings.design, settings.seed)
        router_batches = Batches(tokenizer, train[: settings.router_sentences], settings.max_length)
        router_loss = []
        for i, block in enumerate(blocks):
            for b in blocks[i:]:
                b.mode = "dense"  # layers above still dense while this router is fitted; those below are sparse
            x = ffn_inputs(model, router_batches, i)
            with torch.no_grad():
                target = activation_mass(block, x)
            router_loss.append(fit_design(block, x, target, settings.router_steps, generator))
            set_skip(block, x, routed_in_pass(model, router_batches, i)[1] if needs_text(block) else None)
            block.mode = "masked"
            progress(f"router {i + 1}/{len(blocks)} fitted on {x.shape[0]:,} tokens (loss {router_loss[-1]:.3f})")
        t_router = time.perf_counter() - t0 - t_part
        pool = train[settings.router_sentences:]
        distill_batches = list(Batches(tokenizer, pool, settings.max_length, settings.distill_batch))
        losses = distill(model, dense, distill_batches, settings, progress) if settings.distill_steps else []
        t_distill = time.perf_counter() - t0 - t_part - t_router
        for b in blocks:
            b.mode = "sparse"
        t_train = time.perf_counter() - t0
        progress(f"trained in {t_train:.0f} s; measuring fidelity on {len(held)} held-out sentences")
        fid = fidelity(model, dense, Batches(tokenizer, held, settings.max_length), settings.design)
    finally:
        torch.set_num_threads(threads)
    record = {"format": FORMAT, "settings": asdict(settings), "base_sha256": base_sha256,
              "sources": counts, "training_sentences": len(train),
              "distill_tokens_seen": int(sum(int(distill_batches[s % len(distill_batches)]["attention_mask"].sum())
                                             for s in range(settings.distill_steps))) if settings.distill_steps else 0,
              "router_loss": router_loss, "distill_loss_first_last": [losses[0], losses[-1]] if losses else [],
              "seconds": {"partition": round(t_part, 1), "routers": round(t_router, 1),
                          "distillation": round(t_distill, 1), "training": round(t_train, 1),
                          "fidelity": round(time.perf_counter() - t0 - t_train, 1)},
              "fidelity": fid, "training_text_sha256": hashlib.sha256("\n".join(train).encode()).hexdigest()}
    return model, record
