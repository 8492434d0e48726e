"""`python -m core train-router`: train the routers of the MoE-fied MiniLM (minilm-router-E), offline, on NLTK text."""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from core.errors import RoutingLensError


def _one(experts: int, top_k: int, args: argparse.Namespace) -> None:
    from transformers import AutoModel, AutoTokenizer

    from core.models.moefy import PACKAGED_WEIGHTS_SHA256, packaged_model_dir, verify_packaged_weights
    from core.models.router_folder import save
    from core.settings import BUNDLED_MODELS_DIR, cache_dir
    from core.training.router_card import write_card
    from core.training.router_training import RouterSettings, train_routers

    settings = RouterSettings(experts=experts, top_k=top_k, seed=args.seed, distill_steps=args.distill_steps,
                              threads=args.threads)
    out = Path(args.out) if args.out else BUNDLED_MODELS_DIR / f"minilm-router-{experts}"
    cached = cache_dir() / "routers" / settings.key(PACKAGED_WEIGHTS_SHA256)
    started = time.time()
    if (cached / "router.json").is_file() and not args.force:
        print(f"minilm-router-{experts}: cached ({cached.name}); --force retrains", file=sys.stderr)
    else:
        folder = packaged_model_dir()
        verify_packaged_weights(folder)
        tokenizer, dense = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
        model, record = train_routers(dense, tokenizer, settings, PACKAGED_WEIGHTS_SHA256,
                                      progress=lambda m: print(f"  [{time.time() - started:5.0f} s] {m}", file=sys.stderr))
        save(model, record, cached)
    if out.resolve() != cached.resolve():
        from core.atomic_folder import write_folder

        write_folder(out, lambda tmp: [shutil.copy2(p, tmp / p.name) for p in cached.iterdir() if p.is_file()])
    write_card(out)
    import json

    record = json.loads((out / "router.json").read_text())
    point = next(c for c in record["fidelity"]["curve"] if c["k"] == top_k)
    print(f"saved {out}: top-{top_k} of {experts}, held-out sentence-embedding cosine to the dense model "
          f"{point['cosine_mean']:.3f}; trained in {record['seconds']['training']:.0f} s; see {out / 'MODEL_CARD.md'}")


def cmd_train_router(args: argparse.Namespace) -> int:
    from core.models.adapters.routed_minilm import NEURONS
    from core.training.router_training import DEFAULT_TOP_K

    experts = args.experts or list(DEFAULT_TOP_K)
    for e in experts:
        if e < 2 or NEURONS % e:
            raise RoutingLensError(f"--experts {e}: MiniLM's 1,536 FFN neurons must split evenly into at least 2 "
                                   "experts (2, 4, 8, 16, 32, 64, …).")
    if args.top_k is not None and len(experts) != 1:
        raise RoutingLensError("--top-k applies to one expert count: give one --experts with it.")
    if args.out and len(experts) != 1:
        raise RoutingLensError("--out names one folder: give one --experts with it.")
    if args.distill_steps < 0:
        raise RoutingLensError("--distill-steps must be zero or more.")
    for e in experts:
        k = args.top_k if args.top_k is not None else DEFAULT_TOP_K.get(e, max(1, e // 2))
        if not 1 <= k <= e:
            raise RoutingLensError(f"--top-k must be between 1 and the number of experts ({e}).")
        _one(e, k, args)
    if args.choose_default:
        from core.cli.common import tqdm_progress
        from core.lens.context_default import choose_context_default

        record = choose_context_default(args.data_dir, progress=tqdm_progress)
        for model, d in record["mean_d"].items():
            print(f"  {model}: mean Cohen's d over layers on WiC {record['split']} ({record['pairs']:,} pairs) {d:+.3f}",
                  file=sys.stderr)
        print(f"Compare and Learn open on {record['model']} where no google checkpoint is cached "
              "(models/context_default.json)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-router", help="train the routers of the MoE-fied MiniLM (minilm-router-E) on NLTK text")
    p.add_argument("--experts", type=int, nargs="+", default=None,
                   help="expert counts (default 8 16 32: the bundled minilm-router-8/16/32)")
    p.add_argument("--top-k", type=int, default=None, help="experts run per token (default E/2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--distill-steps", type=int, default=0,
                   help="steps of distillation toward the dense model after the routers (default 0: the experts keep "
                        "the dense model's weights; docs/models.md has what distillation gains and costs)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2, the recorded setting)")
    p.add_argument("--out", default=None, help="output folder (default models/minilm-router-E, the bundled one)")
    p.add_argument("--force", action="store_true", help="retrain even when cache/routers/ holds this setting")
    p.add_argument("--choose-default", action="store_true",
                   help="then evaluate every minilm-router-E (and moefied-minilm-8/16/32 beside them) on WiC dev and "
                        "make the one with the largest mean Cohen's d over layers Compare's and Learn's offline default")
    p.add_argument("--data-dir", default=None, help="benchmark data folder, for --choose-default")
    p.set_defaults(func=cmd_train_router)
