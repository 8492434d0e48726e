"""`python -m core lab`: the routing lab — train every router design on the same MiniLM experts (models/lab-*/, cached
and reused), then score each on full WiC and SCWS beside the controls, and write the comparison
(core.studies.router_lab). `--train-only` stops after training and prints how long each design took."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from core.errors import RoutingLensError

LAB_FILES = ("lab_designs", "lab_layers", "lab_claims")


def train_design(design, seed: int, threads: int, force: bool, say) -> float:
    """Train (or take from the cache) one design into models/<name>/; the seconds its training took."""
    from core.atomic_folder import write_folder
    from core.models.moefy import PACKAGED_WEIGHTS_SHA256, packaged_model_dir, verify_packaged_weights
    from core.models.router_folder import save
    from core.settings import BUNDLED_MODELS_DIR, cache_dir
    from core.training.router_card import write_card
    from core.training.router_training import RouterSettings, train_routers

    settings = RouterSettings(experts=design.experts, top_k=design.top_k, seed=seed, threads=threads,
                              design=design.design)
    cached = cache_dir() / "routers" / settings.key(PACKAGED_WEIGHTS_SHA256)
    if force or not (cached / "router.json").is_file():
        from transformers import AutoModel, AutoTokenizer

        folder = packaged_model_dir()
        verify_packaged_weights(folder)
        tokenizer, dense = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
        model, record = train_routers(dense, tokenizer, settings, PACKAGED_WEIGHTS_SHA256,
                                      progress=lambda m: say(f"{design.name}: {m}"))
        save(model, record, cached)
    out = BUNDLED_MODELS_DIR / design.name
    write_folder(out, lambda tmp: [shutil.copy2(p, tmp / p.name) for p in cached.iterdir() if p.is_file()])
    write_card(out)
    return float(json.loads((out / "router.json").read_text())["seconds"]["training"])


def cmd_lab(args: argparse.Namespace) -> int:
    from core.studies.router_lab import LAB_DESIGNS

    designs = [d for d in LAB_DESIGNS if not args.designs or d.name in args.designs]
    if unknown := set(args.designs or ()) - {d.name for d in LAB_DESIGNS}:
        raise RoutingLensError(f"--designs {', '.join(sorted(unknown))}: the lab's designs are "
                               f"{', '.join(d.name for d in LAB_DESIGNS)}.")
    if args.limit is not None and args.limit < 10:
        raise RoutingLensError("--limit must be at least 10 (rows per dataset), or left out for the full data.")
    started = time.time()

    def say(message: str) -> None:
        if not args.quiet:
            print(f"  [{time.time() - started:5.0f} s] {message}", file=sys.stderr)

    seconds = {d.name: train_design(d, args.seed, args.threads, args.force, say) for d in designs}
    for name, s in seconds.items():
        print(f"trained {name} in {s:.0f} s")
    print(f"training of {len(seconds)} designs: {sum(seconds.values()):.0f} s in all (2 threads)")
    if args.train_only:
        return 0
    from core.cli.common import load_for_cli, tqdm_progress
    from core.lens.open_questions import run_lab

    out = Path(args.out) if args.out else _default_out(args)
    from core.tracing.cache import TraceCache
    from core.tracing.tracer import Tracer

    tracers = [Tracer(load_for_cli(d.name, args), cache=TraceCache()) for d in designs]
    frames = run_lab(tracers, data_dir=args.data_dir, limit=args.limit, seed=args.seed, progress=tqdm_progress,
                     scratch=out / ".lab-work")
    out.mkdir(parents=True, exist_ok=True)
    for name in LAB_FILES:
        frames[name].to_parquet(out / f"{name}.parquet", index=False)
    print(frames["lab_designs"].round(3).to_string(index=False))
    print(f"{frames['headline']}\nwrote {', '.join(LAB_FILES)} to {out} in {time.time() - started:.0f} s",
          file=sys.stderr)
    return 0


def _default_out(args: argparse.Namespace) -> Path:
    from core.results.bundled import open_questions_dir

    if args.limit is None and not args.designs:
        return open_questions_dir()
    return Path("lab-results")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lab", help="the routing lab: router designs compared on one representation (WiC, SCWS, "
                                   "controls, fidelity, load balance)")
    p.add_argument("--designs", nargs="+", default=None, metavar="NAME",
                   help="only these designs (lab-softmax lab-sigmoid-bias lab-expert-choice lab-hash lab-top1)")
    p.add_argument("--train-only", action="store_true", help="train (or reuse) the designs and report the time only")
    p.add_argument("--force", action="store_true", help="retrain even where the cache holds the design")
    p.add_argument("--limit", type=int, default=None, help="a random subsample of at most N rows per dataset")
    p.add_argument("--seed", type=int, default=0, help="training and sampling seed (default 0)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for training (default 2)")
    p.add_argument("--out", default=None,
                   help="where the tables go (default: the bundled results/open_questions/ for a full run, else "
                        "./lab-results)")
    p.add_argument("--data-dir", default=None, help="benchmark data folder")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when available)")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    p.set_defaults(func=cmd_lab, model=None, revision=None)
