"""`python -m core train-demo --family mixtral`: a tiny decoder-only top-2 MoE (Mixtral architecture), trained
offline by next-token prediction on the same text and with the same tokenizer as the bundled Switch demo, so the
two can be compared on equal terms: encoder–decoder span corruption vs causal language modelling.

Saved atomically like the Switch demos (core.training.loop); Ctrl-C keeps what was trained.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from core.models.adapters.base import modules_by_class_suffix
from core.models.adapters.decoder_only import ROUTER_CLASS_SUFFIXES
from core.progress import bar as progress_bar
from core.settings import BUNDLED_MODELS_DIR
from core.training.checkpoints import Checkpointer
from core.training.demo_settings import CausalDemoSettings
from core.training.loop import collect, finish, keep_training, lr_at, row_batches, seeded, stream, update, utilisation
from core.training.model_card import causal_card

__all__ = ["CausalDemoSettings", "train_causal_demo"]


def _tokenizer(settings: CausalDemoSettings):
    from transformers import AutoTokenizer

    source = Path(settings.tokenizer_from) if settings.tokenizer_from else BUNDLED_MODELS_DIR / "demo-switch-8"
    return AutoTokenizer.from_pretrained(source), str(source)


def _evaluate(model, held: np.ndarray, train_ids: np.ndarray, vocab: int, experts: int) -> dict:
    """Held-out next-token loss vs a unigram model; share of the top-k choices per expert and layer."""
    counts = np.bincount(train_ids.ravel(), minlength=vocab).astype(np.float64) + 1.0
    log_unigram = np.log(counts / counts.sum())
    loads: dict[str, np.ndarray] = {}
    handles = []
    for _name, layer, module in modules_by_class_suffix(model, ROUTER_CLASS_SUFFIXES, "layers"):
        key = f"decoder.{layer}"
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
    train_texts, held_texts, counts = collect(settings)
    tokenizer, tok_source = _tokenizer(settings)
    train_ids = stream(tokenizer, train_texts, settings.seq_len)
    held_ids = stream(tokenizer, held_texts, settings.seq_len)[:512]
    config = MixtralConfig(vocab_size=len(tokenizer), hidden_size=settings.d_model, intermediate_size=settings.d_ff,
                           num_hidden_layers=settings.num_layers, num_attention_heads=settings.num_heads,
                           num_key_value_heads=settings.num_heads, num_local_experts=settings.experts,
                           num_experts_per_tok=settings.top_k, max_position_embeddings=1024,
                           router_aux_loss_coef=settings.aux_coef, output_router_logits=True, tie_word_embeddings=True,
                           pad_token_id=tokenizer.pad_token_id, bos_token_id=None, eos_token_id=tokenizer.eos_token_id)
    model = MixtralForCausalLM(config)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    deadline = started + settings.minutes * 60
    saver = Checkpointer(out, settings.save_at, settings.max_steps, settings.minutes, started)
    step, tokens_seen, interrupted, last = 0, 0, False, {}
    batches = row_batches(train_ids, settings.batch_size, rng)
    bar = progress_bar(settings.max_steps, f"train demo-mixtral-{settings.experts}", disable=not show_progress)
    model.train()
    try:
        while keep_training(step, settings.max_steps, deadline):
            ids = torch.as_tensor(next(batches))
            out_ = model(input_ids=ids, labels=ids)  # loss includes aux_coef × load-balancing loss
            update(model, opt, out_.loss, lr_at(step, settings.lr, settings.warmup))
            step += 1
            tokens_seen += ids.numel()
            saver.after_step(step, tokens_seen, model, tokenizer)
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
    return finish(out, model, tokenizer, stats, causal_card, settings.wic_pairs if not interrupted else 0,
                  saver)
