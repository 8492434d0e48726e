"""`python -m core train-demo`: train a tiny, real Switch Transformer offline, with T5 span corruption.

The output folder is written atomically (a temporary sibling, renamed at the end), so an interrupted run
never leaves a half-written checkpoint; Ctrl-C saves the model trained so far, marked as interrupted.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from core.data.span_corruption import corrupt
from core.models.adapters.switch import switch_routers
from core.progress import bar as progress_bar
from core.training.checkpoints import Checkpointer
from core.training.demo_settings import DemoSettings
from core.training.loop import collect, finish, keep_training, lr_at, row_batches, seeded, stream, update, utilisation
from core.training.model_card import switch_card
from core.training.switch_config import small_switch_config
from core.training.tokenizer_train import train_t5_tokenizer

__all__ = ["DemoSettings", "train_demo"]


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
        self.dropped = 0.0
        self.count = 0.0
        self.mask: torch.Tensor | None = None
        self.loads: dict[str, np.ndarray] = {}
        self.handles = []
        for stack, routers in switch_routers(model).items():
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


def train_demo(out: Path, settings: DemoSettings, show_progress: bool = True) -> dict:
    """Train, evaluate and save a demo model into `out`; returns the statistics written to the model card."""
    from transformers import SwitchTransformersForConditionalGeneration

    started = time.time()
    rng = seeded(settings.threads, settings.seed)
    train_texts, held_texts, counts = collect(settings)
    tok_rng = np.random.default_rng(settings.seed)
    tok_sample = train_texts
    if len(train_texts) > settings.tokenizer_sentences:
        pick = tok_rng.choice(len(train_texts), settings.tokenizer_sentences, replace=False)
        tok_sample = [train_texts[i] for i in sorted(pick)]
    tokenizer = train_t5_tokenizer(tok_sample, settings.vocab_size)
    sentinels = [tokenizer.convert_tokens_to_ids(f"<extra_id_{k}>") for k in range(100)]
    eos = tokenizer.eos_token_id
    train_ids = stream(tokenizer, train_texts, settings.seq_len)
    held_ids = stream(tokenizer, held_texts, settings.seq_len)[:512]
    config = small_switch_config(len(tokenizer), settings.experts, d_model=settings.d_model, num_layers=settings.num_layers,
                                 num_heads=settings.num_heads, d_ff=settings.d_ff)
    config.router_aux_loss_coef = settings.aux_coef
    model = SwitchTransformersForConditionalGeneration(config)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    meter = _DropMeter(model)
    deadline = started + settings.minutes * 60
    saver = Checkpointer(out, settings.save_at, settings.max_steps, settings.minutes, started)
    step, tokens_seen, interrupted = 0, 0, False
    batches = row_batches(train_ids, settings.batch_size, rng)
    last = {}
    bar = progress_bar(settings.max_steps, f"train demo-switch-{settings.experts}", disable=not show_progress)
    model.train()
    try:
        while keep_training(step, settings.max_steps, deadline):
            inp, att, lab = _batch(next(batches), sentinels, eos, rng)
            meter.mask = att
            out_ = model(input_ids=inp, attention_mask=att, labels=lab, output_router_logits=True)
            update(model, opt, out_.loss, lr_at(step, settings.lr, settings.warmup))
            step += 1
            tokens_seen += int(att.sum())
            saver.after_step(step, tokens_seen, model, tokenizer)
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
    return finish(out, model, tokenizer, stats, switch_card, settings.wic_pairs if not interrupted else 0,
                  saver)
