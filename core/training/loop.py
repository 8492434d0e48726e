"""The demo trainers' shared parts: text collection, token rows, seeding, batches, the stop rule, the optimiser
step, the LR schedule, the utilisation table, a WiC check, and the atomic save."""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from core.atomic_folder import write_folder
from core.data.nltk_text import sentences
from core.training.checkpoints import Checkpointer
from core.training.demo_settings import TrainSettings


def collect(settings: TrainSettings) -> tuple[list[str], list[str], dict[str, int]]:
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


def stream(tokenizer, texts: list[str], seq_len: int) -> np.ndarray:
    """Token ids of all texts (no special tokens), cut into rows of `seq_len`."""
    ids: list[int] = []
    for start in range(0, len(texts), 4096):
        enc = tokenizer(texts[start : start + 4096], add_special_tokens=False)["input_ids"]
        for row in enc:
            ids.extend(row)
    n = len(ids) // seq_len
    return np.asarray(ids[: n * seq_len], dtype=np.int64).reshape(n, seq_len)


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


def row_batches(rows: np.ndarray, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
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
        from core.data.datasets import load_wic
        from core.measures.metrics import jss
        from core.models.loading import load_model
        from core.tracing.tracer import Tracer

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


def save_atomically(out: Path, model, tokenizer, stats: dict, card: Callable[[dict], str],
                    checkpoints: Checkpointer | None = None) -> None:
    """The output folder is written all at once (core.atomic_folder): never half-written; the checkpoints saved
    during training (if any) move into it."""
    model = model.eval().to(torch.float16)

    def fill(tmp: Path) -> None:
        if checkpoints is not None:
            checkpoints.move_into(tmp)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "training_stats.json").write_text(json.dumps(stats, indent=2))
        (tmp / "MODEL_CARD.md").write_text(card(stats))

    write_folder(Path(out), fill)


def finish(out: Path, model, tokenizer, stats: dict, card: Callable[[dict], str], wic_pairs: int,
           checkpoints: Checkpointer | None = None) -> dict:
    """Save the model with its card (and the checkpoints taken on the way); then, unless `wic_pairs` is 0
    (interrupted or disabled), trace it on that many WiC dev pairs and rewrite the card and statistics with the
    result."""
    if checkpoints is not None:
        stats["checkpoints"] = checkpoints.saved
    save_atomically(out, model, tokenizer, stats, card, checkpoints)
    if wic_pairs:
        stats["wic_check"] = wic_check(out, wic_pairs)
        (out / "training_stats.json").write_text(json.dumps(stats, indent=2))
        (out / "MODEL_CARD.md").write_text(card(stats))
    return stats
