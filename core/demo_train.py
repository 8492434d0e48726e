"""`python -m core train-demo`: train a tiny, real Switch Transformer offline, with T5 span corruption.

The output folder is written atomically (a temporary sibling, renamed at the end), so an interrupted run
never leaves a half-written checkpoint; Ctrl-C saves the model trained so far, marked as interrupted.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core.corpus import SOURCES, sentences
from core.span_corruption import corrupt
from core.switch_config import small_switch_config
from core.tokenizer_train import train_t5_tokenizer


@dataclass
class DemoSettings:
    experts: int = 8
    minutes: float = 10.0
    max_steps: int | None = None  # with max_steps the run is bit-for-bit reproducible for a seed
    seed: int = 0
    d_model: int = 128
    d_ff: int = 256
    num_layers: int = 4  # per stack; blocks 1 and 3 are sparse
    num_heads: int = 4
    vocab_size: int = 8000
    seq_len: int = 64
    batch_size: int = 32
    lr: float = 2e-3
    warmup: int = 200
    aux_coef: float = 0.05  # load-balancing loss weight (Switch used 0.01; tiny models collapsed experts with it)
    sources: tuple[str, ...] = SOURCES
    max_sentences: int | None = None  # per source; for quick runs
    heldout_every: int = 50  # every 50th sentence is held out
    tokenizer_sentences: int = 120_000
    threads: int | None = None
    wic_pairs: int = 200
    corpus: list[str] | None = field(default=None, repr=False)  # tests pass text directly


def _collect(settings: DemoSettings) -> tuple[list[str], list[str], dict[str, int]]:
    train, held, counts = [], [], {}
    if settings.corpus is not None:
        texts = {"given": list(settings.corpus)}
    else:
        texts = {}
        for src in settings.sources:
            it = sentences(src)
            texts[src] = [s for _, s in zip(range(settings.max_sentences or 10**9), it)]
    i = 0
    for src, sents in texts.items():
        counts[src] = len(sents)
        for s in sents:
            (held if i % settings.heldout_every == settings.heldout_every - 1 else train).append(s)
            i += 1
    return train, held, counts


def _stream(tokenizer, texts: list[str], seq_len: int) -> np.ndarray:
    """Token ids of all texts (no special tokens), cut into rows of `seq_len`."""
    ids: list[int] = []
    for start in range(0, len(texts), 4096):
        enc = tokenizer(texts[start : start + 4096], add_special_tokens=False)["input_ids"]
        for row in enc:
            ids.extend(row)
    n = len(ids) // seq_len
    return np.asarray(ids[: n * seq_len], dtype=np.int64).reshape(n, seq_len)


def _batch(rows: np.ndarray, sentinels: list[int], eos: int, rng: np.random.Generator):
    pairs = [corrupt(r, sentinels, eos, rng) for r in rows]
    li = max(len(p[0]) for p in pairs)
    lt = max(len(p[1]) for p in pairs)
    inp = torch.zeros((len(pairs), li), dtype=torch.long)
    att = torch.zeros((len(pairs), li), dtype=torch.long)
    lab = torch.full((len(pairs), lt), -100, dtype=torch.long)
    for k, (x, y) in enumerate(pairs):
        inp[k, : len(x)] = torch.tensor(x)
        att[k, : len(x)] = 1
        lab[k, : len(y)] = torch.tensor(y)
    return inp, att, lab


class _DropMeter:
    """Forward hooks on the routers: fraction of (non-padding) tokens over expert capacity, and expert loads."""

    def __init__(self, model) -> None:
        from core.tracer import find_routers

        self.dropped = 0.0
        self.count = 0.0
        self.mask: torch.Tensor | None = None
        self.loads: dict[str, np.ndarray] = {}
        self.handles = []
        for stack, routers in find_routers(model).items():
            for block, module in routers:
                self.handles.append(module.register_forward_hook(self._hook(f"{stack}.{block}")))

    def _hook(self, key: str):
        def hook(_m, _i, out):
            dispatch = out[0].detach()
            if key.startswith("encoder") and self.mask is not None and self.mask.shape == dispatch.shape[:2]:
                valid = self.mask.bool()
            else:
                valid = torch.ones(dispatch.shape[:2], dtype=torch.bool)
            self.dropped += float(((dispatch.sum(-1) == 0) & valid).sum())
            self.count += float(valid.sum())
            top1 = out[2].detach().argmax(-1)[valid]
            load = np.bincount(top1.numpy().ravel(), minlength=dispatch.shape[-1]).astype(np.float64)
            self.loads[key] = self.loads.get(key, 0) + load

        return hook

    def take_fraction(self) -> float:
        frac = self.dropped / self.count if self.count else 0.0
        self.dropped = self.count = 0.0
        return frac

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _evaluate(model, heldout: np.ndarray, train_ids: np.ndarray, vocab: int, sentinels, eos, seed: int) -> dict:
    """Held-out span-corruption loss on the hidden-span tokens vs a unigram baseline; expert utilisation."""
    rng = np.random.default_rng(seed + 1)
    counts = np.bincount(train_ids.ravel(), minlength=vocab).astype(np.float64) + 1.0
    log_unigram = np.log(counts / counts.sum())
    sentinel_set = set(sentinels) | {eos}
    meter = _DropMeter(model)
    model_nll, uni_nll, n_tok = 0.0, 0.0, 0
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(heldout), 64):
            inp, att, lab = _batch(heldout[start : start + 64], sentinels, eos, rng)
            meter.mask = att
            out = model(input_ids=inp, attention_mask=att, labels=lab)
            logp = torch.log_softmax(out.logits.float(), dim=-1)
            for b in range(lab.shape[0]):
                for t in range(lab.shape[1]):
                    y = int(lab[b, t])
                    if y >= 0 and y not in sentinel_set:
                        model_nll -= float(logp[b, t, y])
                        uni_nll -= float(log_unigram[y])
                        n_tok += 1
    meter.close()
    return {
        "heldout_span_tokens": n_tok,
        "heldout_loss": model_nll / max(n_tok, 1),
        "unigram_baseline_loss": uni_nll / max(n_tok, 1),
        "expert_utilisation": utilisation(meter.loads),
    }


def utilisation(loads: dict[str, np.ndarray]) -> dict:
    """Per router: the smallest and largest share of the choices an expert got, the load's normalised entropy
    and how many experts were never chosen (the model card's table)."""
    util = {}
    for key, load in sorted(loads.items()):
        share = load / load.sum()
        util[key] = {
            "min_share": float(share.min()),
            "max_share": float(share.max()),
            "normalised_entropy": float(-(share[share > 0] * np.log(share[share > 0])).sum() / math.log(len(share))),
            "unused_experts": int((load == 0).sum()),
        }
    return util


def seeded(threads: int | None, seed: int) -> np.random.Generator:
    """Thread count and torch seed for a training run; the numpy generator every random choice then draws from."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def row_batches(rows: np.ndarray, batch_size: int, rng: np.random.Generator):
    """Endless batches of `batch_size` rows; each pass over the data in a fresh random order."""
    order, pos = rng.permutation(len(rows)), 0
    while True:
        if pos + batch_size > len(order):
            order, pos = rng.permutation(len(rows)), 0
        yield rows[order[pos : pos + batch_size]]
        pos += batch_size


def keep_training(step: int, max_steps: int | None, deadline: float) -> bool:
    """--steps N: exactly N steps (reproducible); otherwise until the clock runs out."""
    return step < max_steps if max_steps is not None else time.time() < deadline


def update(model, opt, loss: torch.Tensor, lr: float) -> None:
    """One optimiser step at learning rate `lr`, gradients clipped to norm 1."""
    for g in opt.param_groups:
        g["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


def lr_at(step: int, lr: float, warmup: int) -> float:
    """Linear warm-up, then inverse-square-root decay (T5's schedule, scaled)."""
    return lr * min(1.0, (step + 1) / warmup) / math.sqrt(max(step + 1, warmup) / warmup)


def wic_check(folder: Path, n_pairs: int) -> dict | None:
    """Mean routing JSS of the WiC target word, same-meaning vs different-meaning pairs (dev split), per stack."""
    try:
        from core.datasets import load_wic
        from core.metrics import jss
        from core.models import load_model
        from core.tracer import Tracer

        wic = load_wic(splits=("dev",)).head(n_pairs)
    except Exception as err:  # noqa: BLE001 - the check is optional evidence, never a reason to lose the model
        return {"skipped": str(err)}
    tracer = Tracer(load_model(str(folder), dtype="float32"))
    t1 = tracer.trace(list(wic.sentence1))
    t2 = tracer.trace(list(wic.sentence2))
    out: dict = {"pairs": int(len(wic))}
    for stack in t1[0].stacks:
        vals = np.array([
            jss(a.word_probs_at(stack, i), b.word_probs_at(stack, j)).mean()
            for a, b, i, j in zip(t1, t2, wic.idx1, wic.idx2)
        ])
        out[stack] = {"mean_jss_same": float(vals[wic.label.to_numpy()].mean()),
                      "mean_jss_different": float(vals[~wic.label.to_numpy()].mean())}
    return out


def train_demo(out: Path, settings: DemoSettings, show_progress: bool = True) -> dict:
    """Train, evaluate and save a demo model into `out`; returns the statistics written to the model card."""
    from transformers import SwitchTransformersForConditionalGeneration

    started = time.time()
    rng = seeded(settings.threads, settings.seed)
    train_texts, held_texts, counts = _collect(settings)
    tok_rng = np.random.default_rng(settings.seed)
    tok_sample = train_texts
    if len(train_texts) > settings.tokenizer_sentences:
        pick = tok_rng.choice(len(train_texts), settings.tokenizer_sentences, replace=False)
        tok_sample = [train_texts[i] for i in sorted(pick)]
    tokenizer = train_t5_tokenizer(tok_sample, settings.vocab_size)
    sentinels = [tokenizer.convert_tokens_to_ids(f"<extra_id_{k}>") for k in range(100)]
    eos = tokenizer.eos_token_id
    train_ids = _stream(tokenizer, train_texts, settings.seq_len)
    held_ids = _stream(tokenizer, held_texts, settings.seq_len)[:512]
    config = small_switch_config(len(tokenizer), settings.experts, d_model=settings.d_model, num_layers=settings.num_layers,
                                 num_heads=settings.num_heads, d_ff=settings.d_ff)
    config.router_aux_loss_coef = settings.aux_coef
    model = SwitchTransformersForConditionalGeneration(config)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    meter = _DropMeter(model)
    deadline = started + settings.minutes * 60
    step, tokens_seen, interrupted = 0, 0, False
    batches = row_batches(train_ids, settings.batch_size, rng)
    last = {}
    bar = tqdm(total=settings.max_steps, disable=not show_progress, desc=f"train demo-switch-{settings.experts}")
    model.train()
    try:
        while keep_training(step, settings.max_steps, deadline):
            inp, att, lab = _batch(next(batches), sentinels, eos, rng)
            meter.mask = att
            out_ = model(input_ids=inp, attention_mask=att, labels=lab, output_router_logits=True)
            update(model, opt, out_.loss, lr_at(step, settings.lr, settings.warmup))
            step += 1
            tokens_seen += int(att.sum())
            aux = float((out_.encoder_aux_loss + out_.decoder_aux_loss).detach())
            last = {"loss": float(out_.loss.detach()), "aux": aux, "z": float((out_.encoder_z_loss + out_.decoder_z_loss).detach())}
            if step % 10 == 0:
                bar.set_postfix(loss=f"{last['loss']:.3f}", aux=f"{aux:.3f}", dropped=f"{meter.take_fraction():.3f}")
            bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        meter.close()
    train_seconds = time.time() - started
    stats = {
        "settings": {k: v for k, v in asdict(settings).items() if k != "corpus"},
        "sentences_per_source": counts,
        "train_sentences": len(train_texts),
        "heldout_sentences": len(held_texts),
        "train_stream_tokens": int(train_ids.size),
        "steps": step,
        "tokens_seen": tokens_seen,
        "train_seconds": round(train_seconds, 1),
        "final_train": last,
        "interrupted": interrupted,
        "params": sum(p.numel() for p in model.parameters()),
    }
    stats.update(_evaluate(model, held_ids, train_ids, len(tokenizer), sentinels, eos, settings.seed))
    _save(out, model, tokenizer, stats, settings)
    if not interrupted and settings.wic_pairs:
        stats["wic_check"] = wic_check(out, settings.wic_pairs)
        (out / "training_stats.json").write_text(json.dumps(stats, indent=2))
        (out / "MODEL_CARD.md").write_text(model_card(stats))
    return stats


def _save(out: Path, model, tokenizer, stats: dict, settings, card=None) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    model = model.eval().to(torch.float16)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "training_stats.json").write_text(json.dumps(stats, indent=2))
    (tmp / "MODEL_CARD.md").write_text((card or model_card)(stats))
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def model_card(stats: dict) -> str:
    s = stats["settings"]
    util = stats.get("expert_utilisation", {})
    util_rows = "\n".join(
        f"| {k} | {v['min_share']:.3f} | {v['max_share']:.3f} | {v['normalised_entropy']:.3f} | {v['unused_experts']} |"
        for k, v in util.items()
    )
    wic = stats.get("wic_check") or {}
    if "encoder" in wic:
        wic_text = (
            f"On the first {wic['pairs']} WiC dev pairs, mean routing JSS of the target word (mean over sparse layers):\n\n"
            "| stack | same meaning (T) | different meaning (F) |\n|---|---|---|\n"
            + "\n".join(f"| {st} | {wic[st]['mean_jss_same']:.4f} | {wic[st]['mean_jss_different']:.4f} |"
                        for st in ("encoder", "decoder"))
        )
    else:
        wic_text = f"WiC check not run ({wic.get('skipped', 'interrupted or disabled')})."
    sources = ", ".join(f"{k} ({v:,} sentences)" for k, v in stats["sentences_per_source"].items())
    return f"""# demo-switch-{s['experts']} — a teaching model, not the paper's models

A tiny Switch Transformer (`SwitchTransformersForConditionalGeneration`, encoder–decoder) trained by
Routing Lens on 2 CPU cores with `python -m core train-demo`. It exists so the app is meaningful offline.
It is **not** google/switch-base-{s['experts']}: far smaller, trained on far less text, for minutes.

## Architecture
- d_model {s['d_model']}, {s['num_layers']} + {s['num_layers']} blocks, {s['num_heads']} heads, expert d_ff {s['d_ff']},
  {s['experts']} experts in blocks 1 and 3 of each stack (sparse every other block, as in switch-base),
  top-1 token-choice routing, expert capacity 64, load-balancing loss (coef {s.get('aux_coef', 0.01)}) and router z-loss (coef 0.001).
- {stats['params']:,} parameters, stored in float16.
- Tokenizer: Unigram (SentencePiece-style) trained on a sample of {min(s['tokenizer_sentences'], stats['train_sentences']):,} training
  sentences, T5 layout (`<pad>`=0, `</s>`=1, `<unk>`=2, `<extra_id_0…99>` at the end of the vocabulary).

## Data
Sources: {sources}. Every {s['heldout_every']}th sentence is held out
({stats['heldout_sentences']:,} held-out, {stats['train_sentences']:,} training sentences;
{stats['train_stream_tokens']:,} training tokens, packed into rows of {s['seq_len']}).

## Training
T5 span corruption (15 % noise, mean span 3, sentinels). {stats['steps']:,} steps of {s['batch_size']} rows,
{stats['tokens_seen']:,} input tokens seen, {stats['train_seconds']:.0f} s, AdamW (lr {s['lr']}, warm-up {s['warmup']} steps,
inverse-square-root decay), seed {s['seed']}.{' **Interrupted** before the budget was spent.' if stats['interrupted'] else ''}
Final training loss {stats['final_train'].get('loss', float('nan')):.3f} (aux {stats['final_train'].get('aux', float('nan')):.3f}).

## Measured quality
- Held-out span-corruption loss on the hidden tokens: **{stats['heldout_loss']:.3f} nats/token**, vs
  **{stats['unigram_baseline_loss']:.3f}** for a unigram model of the training text ({stats['heldout_span_tokens']:,} tokens).
- Expert utilisation on held-out text (share of top-1 choices per expert):

| layer | min share | max share | normalised entropy | unused experts |
|---|---|---|---|---|
{util_rows}

- {wic_text}

## Limits
A teaching model: tiny, trained for minutes on ~5M words of 20th-century English and WordNet glosses.
Its routing is dominated by token identity; do not read its numbers as the paper's.
"""
