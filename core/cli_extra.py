"""Sub-commands beyond `trace`: train-demo, datasets, reproduce (imported lazily by core.cli)."""
from __future__ import annotations

import argparse
from pathlib import Path

from core.errors import RoutingLensError


def cmd_train_demo(args: argparse.Namespace) -> int:
    from core.demo_train import DemoSettings, train_demo

    if args.experts < 1:
        raise RoutingLensError("--experts must be a positive number of experts (e.g. 8, 16, 32, 64, 128).")
    if args.minutes is not None and args.minutes <= 0:
        raise RoutingLensError("--minutes must be positive.")
    out = Path(args.out) if args.out else None
    if out is None:
        from core.paths import cache_dir

        out = cache_dir() / "models" / f"demo-switch-{args.experts}"
    settings = DemoSettings(experts=args.experts, minutes=args.minutes or 10.0, max_steps=args.steps, seed=args.seed,
                            threads=args.threads)
    if args.tiny:
        settings.d_model, settings.d_ff, settings.vocab_size, settings.seq_len = 32, 64, 600, 32
        settings.batch_size, settings.max_sentences, settings.tokenizer_sentences = 8, 400, 2000
        settings.warmup, settings.wic_pairs = 10, 20
    stats = train_demo(out, settings)
    print(f"saved {out}: {stats['steps']} steps, held-out loss {stats['heldout_loss']:.3f} "
          f"(unigram baseline {stats['unigram_baseline_loss']:.3f}); see {out / 'MODEL_CARD.md'}")
    return 0


def register_train_demo(sub) -> None:
    p = sub.add_parser("train-demo", help="train a tiny Switch Transformer offline (the bundled demo models)")
    p.add_argument("--experts", type=int, required=True, help="number of experts per sparse layer")
    p.add_argument("--out", default=None, help="output folder (default cache/models/demo-switch-E)")
    p.add_argument("--minutes", type=float, default=None, help="training time budget (default 10)")
    p.add_argument("--steps", type=int, default=None, help="train exactly this many steps (reproducible)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--tiny", action="store_true", help="micro dimensions and data, for smoke tests")
    p.set_defaults(func=cmd_train_demo)


REGISTRARS: list = [register_train_demo]
