"""Settings of the demo trainers: one base with what every demo shares, one subclass per family."""
from __future__ import annotations

from dataclasses import dataclass, field

from core.data.nltk_text import SOURCES


@dataclass
class TrainSettings:
    """What every demo trainer needs. With `max_steps` a run is bit-for-bit reproducible for a seed."""

    experts: int = 8
    minutes: float = 10.0
    max_steps: int | None = None
    seed: int = 0
    d_model: int = 128
    d_ff: int = 256  # per expert
    num_layers: int = 4
    num_heads: int = 4
    seq_len: int = 64
    batch_size: int = 32
    lr: float = 2e-3
    warmup: int = 200
    aux_coef: float = 0.05  # load-balancing loss weight (Switch used 0.01; tiny models collapsed experts with it)
    sources: tuple[str, ...] = SOURCES
    max_sentences: int | None = None  # per source; for quick runs
    heldout_every: int = 50  # every 50th sentence is held out
    threads: int | None = None
    wic_pairs: int = 200
    save_at: tuple[float, ...] = ()  # fractions of training at which to keep a checkpoint (core.training.checkpoints)
    corpus: list[str] | None = field(default=None, repr=False)  # tests pass text directly


@dataclass
class DemoSettings(TrainSettings):
    """A tiny Switch Transformer (4 + 4 blocks, blocks 1 and 3 sparse) with its own T5-layout tokenizer."""

    vocab_size: int = 8000
    tokenizer_sentences: int = 120_000


@dataclass
class CausalDemoSettings(TrainSettings):
    """A tiny decoder-only Mixtral-type MoE (every layer sparse) with the Switch demo's tokenizer."""

    top_k: int = 2
    d_ff: int = 160  # keeps the checkpoint ~7 MB so models/ stays under 30 MB
    tokenizer_from: str | None = None  # a folder whose tokenizer to reuse (default: the bundled demo-switch-8)
