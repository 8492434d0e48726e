"""`python -m core train-demo`: train a tiny Switch Transformer (or decoder-only Mixtral-type MoE) offline."""
from __future__ import annotations

import argparse
from pathlib import Path

from core.errors import RoutingLensError

TINY = dict(d_model=32, d_ff=64, seq_len=32, batch_size=8, max_sentences=400, warmup=10, wic_pairs=20)


def _train_switch(out: Path, common: dict, tiny: bool) -> tuple[dict, str]:
    from core.training.switch_demo import DemoSettings, train_demo

    extra = dict(TINY, vocab_size=600, tokenizer_sentences=2000) if tiny else {}
    return train_demo(out, DemoSettings(**common, **extra)), "held-out loss"


def _train_causal(out: Path, common: dict, tiny: bool) -> tuple[dict, str]:
    from core.training.causal_demo import CausalDemoSettings, train_causal_demo

    if common["experts"] < 2:
        raise RoutingLensError("--experts must be at least 2 for a top-2 decoder-only model.")
    extra = dict(TINY, d_ff=32) if tiny else {}
    return train_causal_demo(out, CausalDemoSettings(**common, **extra)), "held-out next-token loss"


DEMO_TRAINERS = {"switch": _train_switch, "mixtral": _train_causal}


def cmd_train_demo(args: argparse.Namespace) -> int:
    from core.settings import cache_dir

    if args.experts < 1:
        raise RoutingLensError("--experts must be a positive number of experts (e.g. 8, 16, 32, 64, 128).")
    if args.minutes is not None and args.minutes <= 0:
        raise RoutingLensError("--minutes must be positive.")
    out = Path(args.out) if args.out else cache_dir() / "models" / f"demo-{args.family}-{args.experts}"
    from core.training.checkpoints import parse_fractions

    common = dict(experts=args.experts, minutes=args.minutes or 10.0, max_steps=args.steps, seed=args.seed,
                  threads=args.threads, aux_coef=args.aux_coef, save_at=parse_fractions(args.save_at))
    stats, kind = DEMO_TRAINERS[args.family](out, common, args.tiny)
    print(f"saved {out}: {stats['steps']} steps, {kind} {stats['heldout_loss']:.3f} "
          f"(unigram baseline {stats['unigram_baseline_loss']:.3f}); see {out / 'MODEL_CARD.md'}")
    if stats.get("checkpoints"):
        print(f"{len(stats['checkpoints'])} checkpoints in {out / 'checkpoints'}: route them with "
              f"`python -m core corpus --model {out} --checkpoints all …`")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-demo", help="train a tiny Switch Transformer (or decoder-only Mixtral-type MoE) offline")
    p.add_argument("--family", choices=list(DEMO_TRAINERS), default="switch",
                   help="switch (encoder-decoder, span corruption; default) or mixtral (decoder-only, top-2, "
                        "next-token prediction, the bundled Switch demo's tokenizer)")
    p.add_argument("--experts", type=int, required=True, help="number of experts per sparse layer")
    p.add_argument("--out", default=None, help="output folder (default cache/models/demo-FAMILY-E)")
    p.add_argument("--minutes", type=float, default=None, help="training time budget (default 10)")
    p.add_argument("--steps", type=int, default=None, help="train exactly this many steps (reproducible)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--aux-coef", type=float, default=0.05, help="load-balancing loss weight (default 0.05)")
    p.add_argument("--save-at", default=None, metavar="FRACTIONS",
                   help="also keep checkpoints at these fractions of training, e.g. 0.01,0.1,0.2,0.4 (of --steps, "
                        "else of --minutes), in OUT/checkpoints/")
    p.add_argument("--tiny", action="store_true", help="micro dimensions and data, for smoke tests")
    p.set_defaults(func=cmd_train_demo)
