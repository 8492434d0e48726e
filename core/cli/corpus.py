"""`python -m core corpus` (route a corpus to Parquet shards) and `python -m core experts` (statistics over them)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.cli.common import add_model_args, load_for_cli
from core.errors import InputError


def _checkpoint_list(args: argparse.Namespace) -> list[tuple[str, str | None, str, float | None]]:
    """(model, revision, label, fraction) of each checkpoint `--checkpoints` names: `all` (the model folder's saved
    checkpoints, from `train-demo --save-at`), else folders or Hub revisions of --model, in training order."""
    from core.training.checkpoints import checkpoint_fraction, saved_checkpoints

    if not args.checkpoints:
        return []
    if args.checkpoints.strip() == "all":
        folders = saved_checkpoints(Path(args.model or ""))
        if not folders:
            raise InputError("--checkpoints all needs --model to be a folder with saved checkpoints (train-demo "
                             "--save-at …); name folders or Hub revisions instead.")
        return [(str(f), None, f.name, checkpoint_fraction(f)) for f in folders]
    out = []
    for item in (c.strip() for c in args.checkpoints.split(",") if c.strip()):
        folder = Path(item)
        if folder.is_dir():
            out.append((str(folder), None, folder.name, checkpoint_fraction(folder)))
        else:  # a revision (branch, tag or commit) of --model, e.g. OLMoE's step5000-tokens20B
            out.append((args.model, item, item.replace("/", "--"), None))
    return out


def _route(args: argparse.Namespace, model: str | None, revision: str | None, out: Path, stacks, label: str = "",
           fraction: float | None = None):
    from core.corpus.run import CorpusSpec, run_local, token_counter
    from core.tracing.tracer import Tracer

    args.revision = revision
    loaded = load_for_cli(model, args, lm_head=args.predictions)
    if args.predictions and not loaded.adapter.causal:
        raise InputError(f"{loaded.name} is not decoder-only: --predictions applies to decoder-only models.")
    tracer = Tracer(loaded, cache=None)  # streaming work: every text once, nothing to reuse
    spec = CorpusSpec.for_tracer(tracer, args.input, stacks, full_probs=args.full_probs, max_tokens=args.max_tokens,
                                 every=args.every, shard_segments=args.shard_segments, predictions=args.predictions,
                                 checkpoint=label, fraction=fraction)
    data_root = Path(args.data_dir) if args.data_dir else None
    from core.progress import bar as progress_bar

    bar = progress_bar(args.max_tokens, f"{label or loaded.name}: {args.input}", "tok")
    if args.engine == "ray":
        from core.corpus.ray_engine import ModelArgs, run_ray

        spec = run_ray(ModelArgs(model or loaded.entry.name, revision, loaded.dtype, args.device, args.experts_kernel),
                       spec, out, token_counter(tracer), actors=args.actors, threads=args.threads,
                       gpus_per_actor=args.gpus_per_actor, address=args.ray_address, data_root=data_root,
                       progress=bar.update)
    else:
        spec = run_local(tracer, spec, out, data_root=data_root, progress=bar.update)
    bar.close()
    return spec


def cmd_corpus(args: argparse.Namespace) -> int:
    from core.corpus.sources import check_source
    from core.types import STACKS

    stacks = tuple(s for s in STACKS if s in args.stacks.split(","))
    if not stacks:
        raise InputError("--stacks takes encoder, decoder or encoder,decoder.")
    if args.shard_segments < 1:
        raise InputError("--shard-segments must be 1 or more.")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise InputError("--max-tokens must be 1 or more.")
    check_source(args.input)  # before any model loads or folder is made
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {args.out} is a file: give a folder.")
    created = not out.exists()
    try:
        return _corpus(args, out, stacks)
    except BaseException:
        if created:  # a failed run leaves no folder it made (a resumed run keeps its shards)
            import shutil

            shutil.rmtree(out, ignore_errors=True)
        raise


def _corpus(args: argparse.Namespace, out: Path, stacks) -> int:
    from core.corpus.field_studies import CHECKPOINT_RUNS

    started = time.time()
    checkpoints = _checkpoint_list(args)
    spec = _route(args, args.model, args.revision, out, stacks)
    if not spec.done or not sum(spec.tokens.values()):
        raise InputError(f"{args.input} gave no text to route (0 tokens).")
    for model, revision, label, fraction in checkpoints:
        _route(args, model, revision, out / CHECKPOINT_RUNS / label, stacks, label, fraction)
    tokens = sum(spec.tokens.values())
    series = f" and {len(checkpoints)} checkpoints in {out / CHECKPOINT_RUNS}" if checkpoints else ""
    print(f"{len(spec.done)} shards, {tokens:,} tokens in {out}{series} ({time.time() - started:.1f} s this run); "
          f"statistics: python -m core experts {out}; the field's studies: python -m core studies {out}",
          file=sys.stderr)
    return 0


def check_run_folder(folder: str) -> None:
    """A run folder as typed must exist and be a folder (before anything heavy loads)."""
    path = Path(folder).expanduser()
    if not path.exists():
        raise InputError(f"Folder {folder} does not exist: give a corpus run (python -m core corpus … --out FOLDER).")
    if not path.is_dir():
        raise InputError(f"{folder} is a file, not a corpus run folder.")


def cmd_experts(args: argparse.Namespace) -> int:
    check_run_folder(args.run)
    from core.corpus.stats import compute_for_run

    started = time.time()
    stats, out = compute_for_run(Path(args.run), Path(args.out) if args.out else None, args.experts)
    meta = stats.meta.iloc[0]
    print(f"{int(meta.tokens):,} tokens, {int(meta.rows):,} rows, {int(meta.domains)} domains -> {out} "
          f"({time.time() - started:.1f} s)", file=sys.stderr)
    strongest = stats.vocabulary.sort_values("occurrences", ascending=False).head(10)
    print(strongest[["stack", "layer", "token", "occurrences", "top_expert", "top_share"]].to_string(index=False))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("corpus", help="route a corpus: per-token routing of every sparse layer as Parquet shards")
    add_model_args(p)
    p.add_argument("--input", required=True, metavar="SRC",
                   help="nltk:brown | nltk:movie_reviews | nltk:state_union | nltk:inaugural, a .txt (one document "
                        "per line), .jsonl or .parquet file (`text`, optional `domain`), or hf:<dataset id>")
    p.add_argument("--out", required=True, help="output folder (re-run the same command to resume)")
    p.add_argument("--stacks", default="encoder,decoder", help="encoder, decoder or encoder,decoder")
    p.add_argument("--max-tokens", type=int, default=None, help="stop after about this many tokens")
    p.add_argument("--every", type=int, default=1, help="keep every n-th segment (a systematic sample)")
    p.add_argument("--full-probs", action="store_true", help="also store all E probabilities per row")
    p.add_argument("--shard-segments", type=int, default=256, help="segments per shard (the unit of resuming)")
    p.add_argument("--checkpoints", default=None, metavar="LIST",
                   help="also route these checkpoints of the model over the same text (into OUT/checkpoints/): "
                        "`all` (a demo folder's train-demo --save-at checkpoints), or folders / Hub revisions "
                        "separated by commas, earliest first")
    p.add_argument("--predictions", action="store_true",
                   help="also store the model's predicted next token (decoder-only models; for OLMoE's "
                        "vocabulary specialisation by predicted token)")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local (default, one process) or ray (Ray Data actor pool, one model per actor)")
    p.add_argument("--actors", type=int, default=2, help="Ray actors (one model each)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per Ray actor")
    p.add_argument("--gpus-per-actor", type=float, default=0, help="GPUs per Ray actor (1 on a GPU node)")
    p.add_argument("--ray-address", default=None, help="a Ray cluster's address (default: a local Ray)")
    p.add_argument("--data-dir", default=None, help="where the NLTK corpora are (default: the benchmark data folder)")
    p.set_defaults(func=cmd_corpus)

    q = sub.add_parser("experts", help="statistics of what each expert receives, over a corpus run")
    q.add_argument("run", help="the corpus output folder")
    q.add_argument("--out", default=None, help="where to write the statistics (default RUN/stats)")
    q.add_argument("--experts", type=int, default=None, help="expert count (default: from the model registry)")
    q.set_defaults(func=cmd_experts)
