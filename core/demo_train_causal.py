"""`python -m core train-demo --family mixtral`: a tiny decoder-only top-2 MoE (Mixtral architecture), trained
offline by next-token prediction on the same text and with the same tokenizer as the bundled Switch demo, so the
two can be compared on equal terms: encoder–decoder span corruption vs causal language modelling.

Saved atomically like the Switch demos (core.demo_train._save); Ctrl-C keeps what was trained.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core.corpus import SOURCES
from core.demo_train import (DemoSettings, _collect, _save, _stream, keep_training, lr_at, row_batches, seeded, update,
                              utilisation, wic_check)


@dataclass
class CausalDemoSettings:
    experts: int = 8
    top_k: int = 2
    minutes: float = 10.0
    max_steps: int | None = None
    seed: int = 0
    d_model: int = 128
    d_ff: int = 160  # per expert; keeps the checkpoint ~7 MB so models/ stays under 30 MB
    num_layers: int = 4  # every layer sparse, as in Mixtral
    num_heads: int = 4
    seq_len: int = 64
    batch_size: int = 32
    lr: float = 2e-3
    warmup: int = 200
    aux_coef: float = 0.05
    sources: tuple[str, ...] = SOURCES
    max_sentences: int | None = None
    heldout_every: int = 50
    threads: int | None = None
    wic_pairs: int = 200
    tokenizer_from: str | None = None  # a folder whose tokenizer to reuse (default: the bundled demo-switch-8)
    corpus: list[str] | None = field(default=None, repr=False)


def _tokenizer(settings: CausalDemoSettings):
    from transformers import AutoTokenizer

    from core.paths import BUNDLED_MODELS_DIR

    source = Path(settings.tokenizer_from) if settings.tokenizer_from else BUNDLED_MODELS_DIR / "demo-switch-8"
    return AutoTokenizer.from_pretrained(source), str(source)


def _evaluate(model, held: np.ndarray, train_ids: np.ndarray, vocab: int, experts: int) -> dict:
    """Held-out next-token loss vs a unigram model; share of the top-k choices per expert and layer."""
    counts = np.bincount(train_ids.ravel(), minlength=vocab).astype(np.float64) + 1.0
    log_unigram = np.log(counts / counts.sum())
    loads: dict[str, np.ndarray] = {}
    handles = []
    for name, module in model.named_modules():
        if type(module).__name__.endswith("TopKRouter"):
            key = f"decoder.{int(name.split('.')[name.split('.').index('layers') + 1])}"
            handles.append(module.register_forward_hook(
                lambda _m, _i, out, key=key: loads.__setitem__(
                    key, loads.get(key, 0) + np.bincount(out[2].reshape(-1).numpy(), minlength=experts))))
    nll, uni, n = 0.0, 0.0, 0
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(held), 64):
            ids = torch.as_tensor(held[start : start + 64])
            logp = torch.log_softmax(model(input_ids=ids).logits.float(), dim=-1)[:, :-1]
            target = ids[:, 1:]
            nll -= float(logp.gather(-1, target[..., None]).sum())
            uni -= float(log_unigram[target.numpy()].sum())
            n += target.numel()
    for h in handles:
        h.remove()
    return {"heldout_tokens": n, "heldout_loss": nll / max(n, 1), "unigram_baseline_loss": uni / max(n, 1),
            "expert_utilisation": utilisation(loads)}


def train_causal_demo(out: Path, settings: CausalDemoSettings, show_progress: bool = True) -> dict:
    from transformers import MixtralConfig, MixtralForCausalLM

    started = time.time()
    rng = seeded(settings.threads, settings.seed)
    collect = DemoSettings(sources=settings.sources, max_sentences=settings.max_sentences,
                           heldout_every=settings.heldout_every, corpus=settings.corpus)
    train_texts, held_texts, counts = _collect(collect)
    tokenizer, tok_source = _tokenizer(settings)
    train_ids = _stream(tokenizer, train_texts, settings.seq_len)
    held_ids = _stream(tokenizer, held_texts, settings.seq_len)[:512]
    config = MixtralConfig(vocab_size=len(tokenizer), hidden_size=settings.d_model, intermediate_size=settings.d_ff,
                           num_hidden_layers=settings.num_layers, num_attention_heads=settings.num_heads,
                           num_key_value_heads=settings.num_heads, num_local_experts=settings.experts,
                           num_experts_per_tok=settings.top_k, max_position_embeddings=1024,
                           router_aux_loss_coef=settings.aux_coef, output_router_logits=True, tie_word_embeddings=True,
                           pad_token_id=tokenizer.pad_token_id, bos_token_id=None, eos_token_id=tokenizer.eos_token_id)
    model = MixtralForCausalLM(config)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    deadline = started + settings.minutes * 60
    step, tokens_seen, interrupted, last = 0, 0, False, {}
    batches = row_batches(train_ids, settings.batch_size, rng)
    bar = tqdm(total=settings.max_steps, disable=not show_progress, desc=f"train demo-mixtral-{settings.experts}")
    model.train()
    try:
        while keep_training(step, settings.max_steps, deadline):
            ids = torch.as_tensor(next(batches))
            out_ = model(input_ids=ids, labels=ids)  # loss includes aux_coef × load-balancing loss
            update(model, opt, out_.loss, lr_at(step, settings.lr, settings.warmup))
            step += 1
            tokens_seen += ids.numel()
            last = {"loss": float(out_.loss.detach()), "aux": float(out_.aux_loss.detach())}
            if step % 10 == 0:
                bar.set_postfix(loss=f"{last['loss']:.3f}", aux=f"{last['aux']:.3f}")
            bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    model.config.output_router_logits = False
    stats = {
        "family": "mixtral",
        "settings": {k: v for k, v in asdict(settings).items() if k != "corpus"},
        "tokenizer_from": tok_source,
        "sentences_per_source": counts, "train_sentences": len(train_texts), "heldout_sentences": len(held_texts),
        "train_stream_tokens": int(train_ids.size), "steps": step, "tokens_seen": tokens_seen,
        "train_seconds": round(time.time() - started, 1), "final_train": last, "interrupted": interrupted,
        "params": sum(p.numel() for p in model.parameters()),
    }
    stats.update(_evaluate(model, held_ids, train_ids, len(tokenizer), settings.experts))
    _save(out, model, tokenizer, stats, settings, card=causal_model_card)
    if not interrupted and settings.wic_pairs:
        stats["wic_check"] = wic_check(out, settings.wic_pairs)
        (out / "training_stats.json").write_text(json.dumps(stats, indent=2))
        (out / "MODEL_CARD.md").write_text(causal_model_card(stats))
    return stats


def causal_model_card(stats: dict) -> str:
    s = stats["settings"]
    util_rows = "\n".join(
        f"| {k} | {v['min_share']:.3f} | {v['max_share']:.3f} | {v['normalised_entropy']:.3f} | {v['unused_experts']} |"
        for k, v in stats.get("expert_utilisation", {}).items())
    wic = stats.get("wic_check") or {}
    if "decoder" in wic:
        wic_text = (f"On the first {wic['pairs']} WiC dev pairs, mean routing JSS of the target word over its "
                    f"{s['num_layers']} sparse layers: same meaning {wic['decoder']['mean_jss_same']:.4f}, "
                    f"different meaning {wic['decoder']['mean_jss_different']:.4f}.")
    else:
        wic_text = f"WiC check not run ({wic.get('skipped', 'interrupted or disabled')})."
    sources = ", ".join(f"{k} ({v:,} sentences)" for k, v in stats["sentences_per_source"].items())
    return f"""# demo-mixtral-{s['experts']} — a decoder-only teaching model, not Mixtral

A tiny decoder-only mixture-of-experts language model with the Mixtral architecture (`MixtralForCausalLM`),
trained by Routing Lens on 2 CPU cores with `python -m core train-demo --family mixtral`. It is the causal
counterpart of demo-switch-8: the same text and the same tokenizer ({stats['tokenizer_from'].rsplit('/', 1)[-1]}),
a similar size, but next-token prediction instead of span corruption. It is **not** mistralai/Mixtral-8x7B.

## Architecture
- d_model {s['d_model']}, {s['num_layers']} layers (all sparse), {s['num_heads']} heads, {s['experts']} experts of d_ff
  {s['d_ff']} (SwiGLU), top-{s['top_k']} token-choice routing with renormalised weights, no capacity limit,
  load-balancing loss (coef {s['aux_coef']}); tied input/output embeddings.
- {stats['params']:,} parameters, stored in float16.

## Data
Sources: {sources}. Every {s['heldout_every']}th sentence is held out ({stats['heldout_sentences']:,} held-out,
{stats['train_sentences']:,} training sentences; {stats['train_stream_tokens']:,} training tokens in rows of {s['seq_len']}).

## Training
Next-token prediction. {stats['steps']:,} steps of {s['batch_size']} rows, {stats['tokens_seen']:,} tokens seen,
{stats['train_seconds']:.0f} s, AdamW (lr {s['lr']}, warm-up {s['warmup']} steps, inverse-square-root decay), seed
{s['seed']}.{' **Interrupted** before the budget was spent.' if stats['interrupted'] else ''}
Final training loss {stats['final_train'].get('loss', float('nan')):.3f} (aux {stats['final_train'].get('aux', float('nan')):.3f}).

## Measured quality
- Held-out next-token loss: **{stats['heldout_loss']:.3f} nats/token**, vs **{stats['unigram_baseline_loss']:.3f}** for a
  unigram model of the training text ({stats['heldout_tokens']:,} tokens).
- Expert utilisation on held-out text (share of the top-{s['top_k']} choices per expert):

| layer | min share | max share | normalised entropy | unused experts |
|---|---|---|---|---|
{util_rows}

- {wic_text}

## Limits
A teaching model: tiny, trained for minutes. A token's routing sees only the tokens to its left.
"""
