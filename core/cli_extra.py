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

        out = cache_dir() / "models" / f"demo-{args.family}-{args.experts}"
    if args.family == "mixtral":
        return _train_causal(args, out)
    settings = DemoSettings(experts=args.experts, minutes=args.minutes or 10.0, max_steps=args.steps, seed=args.seed,
                            threads=args.threads, aux_coef=args.aux_coef)
    if args.tiny:
        settings.d_model, settings.d_ff, settings.vocab_size, settings.seq_len = 32, 64, 600, 32
        settings.batch_size, settings.max_sentences, settings.tokenizer_sentences = 8, 400, 2000
        settings.warmup, settings.wic_pairs = 10, 20
    stats = train_demo(out, settings)
    print(f"saved {out}: {stats['steps']} steps, held-out loss {stats['heldout_loss']:.3f} "
          f"(unigram baseline {stats['unigram_baseline_loss']:.3f}); see {out / 'MODEL_CARD.md'}")
    return 0


def _train_causal(args: argparse.Namespace, out: Path) -> int:
    from core.demo_train_causal import CausalDemoSettings, train_causal_demo

    if args.experts < 2:
        raise RoutingLensError("--experts must be at least 2 for a top-2 decoder-only model.")
    settings = CausalDemoSettings(experts=args.experts, minutes=args.minutes or 10.0, max_steps=args.steps,
                                  seed=args.seed, threads=args.threads, aux_coef=args.aux_coef)
    if args.tiny:
        settings.d_model, settings.d_ff, settings.seq_len, settings.batch_size = 32, 32, 32, 8
        settings.max_sentences, settings.warmup, settings.wic_pairs = 400, 10, 20
    stats = train_causal_demo(out, settings)
    print(f"saved {out}: {stats['steps']} steps, held-out next-token loss {stats['heldout_loss']:.3f} "
          f"(unigram baseline {stats['unigram_baseline_loss']:.3f}); see {out / 'MODEL_CARD.md'}")
    return 0


def register_train_demo(sub) -> None:
    p = sub.add_parser("train-demo", help="train a tiny Switch Transformer (or decoder-only Mixtral-type MoE) offline")
    p.add_argument("--family", choices=["switch", "mixtral"], default="switch",
                   help="switch (encoder-decoder, span corruption; default) or mixtral (decoder-only, top-2, "
                        "next-token prediction, the bundled Switch demo's tokenizer)")
    p.add_argument("--experts", type=int, required=True, help="number of experts per sparse layer")
    p.add_argument("--out", default=None, help="output folder (default cache/models/demo-FAMILY-E)")
    p.add_argument("--minutes", type=float, default=None, help="training time budget (default 10)")
    p.add_argument("--steps", type=int, default=None, help="train exactly this many steps (reproducible)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--aux-coef", type=float, default=0.05, help="load-balancing loss weight (default 0.05)")
    p.add_argument("--tiny", action="store_true", help="micro dimensions and data, for smoke tests")
    p.set_defaults(func=cmd_train_demo)


REGISTRARS: list = [register_train_demo]


def _tqdm_progress(desc: str, total: int):
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="text", leave=True)

    def advance(n: int) -> None:
        bar.update(n)
        if bar.n >= total:
            bar.close()

    if total == 0:
        bar.close()
    return advance


def cmd_reproduce(args: argparse.Namespace) -> int:
    import sys
    import time

    from core.cache import TraceCache
    from core.cli import load_for_cli
    from core.report import correlation_table
    from core.reproduce import reproduce
    from core.tracer import Tracer

    if args.limit is not None and args.limit < 3:
        raise RoutingLensError("--limit must be at least 3 (rows per dataset), or left out for the full run.")
    started = time.time()
    tracers = []
    for name in args.model or [None]:
        loaded = load_for_cli(name, args)
        tracers.append(Tracer(loaded, cache=None if args.no_cache else TraceCache()))
    out = Path(args.out)
    results = reproduce(tracers, out, args.data_dir, args.limit, args.seed, progress=_tqdm_progress)
    print(f"wrote {', '.join(n + '.csv' for n in (*results.FILES, 'comparison'))} and {out / 'report.html'} in "
          f"{time.time() - started:.1f} s", file=sys.stderr)
    for note in results.notes:
        print(f"note: {note}", file=sys.stderr)
    print(correlation_table(results.table1).to_string(index=False))
    print(correlation_table(results.table2).to_string(index=False))
    return 0


def register_reproduce(sub) -> None:
    from core.cli import add_model_args

    p = sub.add_parser("reproduce", help="the paper's Tables 1–2 and Figures 1–3 for one or more models")
    add_model_args(p, multiple=True)
    p.add_argument("--data-dir", default=None, help="benchmark data folder (default: $ROUTING_LENS_DATA, "
                   "cache/datasets/, ../shared/data)")
    p.add_argument("--out", default="reproduce_out", help="output folder (default reproduce_out/)")
    p.add_argument("--limit", type=int, default=None, help="random subsample of N rows per dataset, for a quick look")
    p.add_argument("--seed", type=int, default=0, help="seed of the --limit subsample")
    p.set_defaults(func=cmd_reproduce)


def cmd_datasets(args: argparse.Namespace) -> int:
    from core import datasets
    from core.datadir import data_dir

    if args.action == "download":
        from core.download import download_all

        for line in download_all():
            print(line)
        return 0
    root = data_dir(args.data_dir)
    report = datasets.LoadReport("SCWS")
    frames = {
        "WordSim353": datasets.load_wordsim353(root),
        "SimLex-999": datasets.load_simlex999(root),
        "SCWS": datasets.load_scws(root, report),
        "WiC": datasets.load_wic(root),
    }
    print(f"data directory: {root} (files verified against SOURCE.md sha256 where given)")
    for name, frame in frames.items():
        print(f"{name}: {len(frame)} rows")
    if report.skipped:
        print(report)
    return 0


def register_datasets(sub) -> None:
    p = sub.add_parser("datasets", help="check the benchmark data, or download it (needs internet)")
    p.add_argument("action", choices=["check", "download"])
    p.add_argument("--data-dir", default=None)
    p.set_defaults(func=cmd_datasets)


REGISTRARS += [register_reproduce, register_datasets]
