"""Routes from serving engines: `import` an engine's payload, `capture` a dataset through a running engine server,
`export-trace` Routing Lens's own routes, `compare-traces` two traces of the same texts, and `id-analysis` (the WiC
analysis on expert ids alone). All write or read the portable trace format (docs/trace-format.md)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.errors import InputError


def _texts(args: argparse.Namespace) -> list[str]:
    """The texts a payload routes: --texts FILE (one per line) or --dataset wic|scws."""
    if getattr(args, "texts", None):
        path = Path(args.texts)
        if not path.is_file():
            raise InputError(f"--texts {path.name}: no such file (one text per line).")
        texts = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not texts:
            raise InputError(f"--texts {path.name}: no text in it.")
        return texts
    return dataset_texts(args.dataset, getattr(args, "data_dir", None))


def dataset_texts(name: str | None, data_dir: str | None = None) -> list[str]:
    from core.data import datasets

    root = Path(data_dir) if data_dir else None
    if name == "wic":
        wic = datasets.load_wic(root)
        return list(dict.fromkeys([*wic.sentence1, *wic.sentence2]))
    if name == "scws":
        scws = datasets.load_scws(root)
        return list(dict.fromkeys([*scws.context1, *scws.context2]))
    raise InputError("give the texts: --texts FILE (one per line) or --dataset wic|scws.")


def cmd_import(args: argparse.Namespace) -> int:
    from core.lens.routes import import_routes
    from core.tracing.portable import write

    frame, meta = import_routes(args.engine, Path(args.payload), args.model, _texts(args), version=args.engine_version,
                                precision=args.precision, batching=args.batching)
    meta.checkpoint_sha256 = args.checkpoint_sha256
    table, _ = write(frame, meta, Path(args.out))
    if args.corpus_out:
        from core.corpus.portable_runs import from_portable

        from_portable(frame, meta, Path(args.corpus_out))
        print(f"and as a corpus run in {args.corpus_out} (`python -m core experts|studies` read it)", file=sys.stderr)
    print(f"imported {len(meta.texts)} texts, {frame.position.groupby(frame.text_id).max().add(1).sum():,} tokens × "
          f"{len(next(iter(meta.layers.values())))} MoE layers (top-{meta.top_k} of {meta.num_experts}; IDs only) "
          f"to {table}", file=sys.stderr)
    return 0


def cmd_capture(args: argparse.Namespace) -> int:
    from core.lens.capture import capture, journal_path
    from core.lens.routes import import_routes
    from core.progress import bar
    from core.tracing.portable import write

    texts = _texts(args)
    out = Path(args.out)
    progress = bar(len(texts), f"capture from {args.engine}", "text", leave=True)
    responses = capture(args.engine, args.url, args.served_model or args.model, texts, out,
                        concurrency=args.concurrency, retries=args.retries, timeout=args.timeout,
                        advance=progress.update)
    progress.close()
    frame, meta = import_routes(args.engine, None, args.model, texts, version=args.engine_version,
                                precision=args.precision, batching=f"{args.concurrency} requests at a time, one text "
                                                                   "each", payload=responses)
    meta.checkpoint_sha256 = args.checkpoint_sha256
    table, _ = write(frame, meta, out)
    journal_path(out).unlink(missing_ok=True)
    print(f"captured {len(texts)} texts from {args.url} to {table}", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from core.cli.common import load_for_cli
    from core.lens.routes import export_traces
    from core.tracing.portable import write
    from core.tracing.tracer import Tracer

    if args.corpus:
        from core.corpus.portable_runs import to_portable
        from core.corpus.run import read_manifest

        spec = read_manifest(Path(args.corpus))
        if spec is None:
            raise InputError(f"--corpus {Path(args.corpus).name}: not a corpus run folder (no manifest.json).")
        frame, meta = to_portable(Path(args.corpus), spec)
        table, _ = write(frame, meta, Path(args.out))
        print(f"exported the corpus run {Path(args.corpus).name} ({len(meta.texts)} segments) to {table}",
              file=sys.stderr)
        return 0
    texts = _texts(args)
    lm = load_for_cli(args.model, args)
    traces = Tracer(lm).trace(texts)
    frame, meta = export_traces(traces, lm)
    table, _ = write(frame, meta, Path(args.out))
    print(f"exported {len(texts)} texts of {lm.name} to {table}", file=sys.stderr)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from core.lens.routes import compare_traces
    from core.tracing.portable import read

    (a, meta_a), (b, meta_b) = read(args.a), read(args.b)
    if meta_a.texts != meta_b.texts:
        raise InputError("the two traces are of different texts: compare traces of the same texts in the same order.")
    frame = compare_traces(a, b)
    print(frame.round(4).to_string(index=False))
    overall = frame[frame.margin_bin == "all"]
    print(f"{meta_a.source} vs {meta_b.source}: chosen sets equal for {overall.set_equal.mean():.1%} of token-layers, "
          f"first choice for {overall.top1_equal.mean():.1%} (mean over layers)", file=sys.stderr)
    if args.out:
        frame.to_csv(args.out, index=False)
    return 0


def cmd_id_analysis(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    from core.data.datasets import load_wic
    from core.models.loading import _location
    from core.models.registry import resolve
    from core.studies.id_overlap import wic_overlap
    from core.tracing.portable import read

    frame, meta = read(args.trace)
    tokenizer = AutoTokenizer.from_pretrained(_location(resolve(meta.model_id)))
    wic = load_wic(Path(args.data_dir) if args.data_dir else None)
    missing = set(wic.sentence1) | set(wic.sentence2)
    if missing - set(meta.texts):
        raise InputError(f"{Path(args.trace).name} does not hold every WiC sentence: capture it with --dataset wic.")
    result = wic_overlap(frame, meta.texts, tokenizer, meta.num_experts, wic, meta.model_id)
    print(result.round(3).to_string(index=False))
    if args.out:
        result.to_csv(args.out, index=False)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from core.types import ENGINES

    def texts_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--texts", default=None, help="a text file, one text per line, in the payload's order")
        p.add_argument("--dataset", choices=["wic", "scws"], default=None, help="or a dataset's distinct texts")
        p.add_argument("--data-dir", default=None, help="benchmark data folder")

    def provenance(p: argparse.ArgumentParser) -> None:
        p.add_argument("--engine-version", default="", help="the engine's version (recorded in the sidecar)")
        p.add_argument("--precision", default="", help="the precision the engine served in (e.g. bf16)")
        p.add_argument("--checkpoint-sha256", default="", help="the served weights' hash (recorded in the sidecar)")

    p = sub.add_parser("import", help="an engine's routes (vLLM, SGLang, Megatron, llama.cpp) → a portable trace")
    p.add_argument("engine", choices=ENGINES)
    p.add_argument("payload", help="the engine's output file (JSON, JSONL, CSV or .npz)")
    p.add_argument("--model", required=True, help="the model the engine served (name, folder or Hub id): its config "
                                                  "and tokenizer check and align the routes")
    p.add_argument("--out", required=True, help="NAME: writes NAME.parquet and NAME.json")
    p.add_argument("--batching", default="", help="how the engine batched the texts (recorded)")
    p.add_argument("--corpus-out", default=None, help="also write the routes as a corpus run in this folder, for "
                                                      "`experts` and `studies`")
    texts_args(p)
    provenance(p)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("capture", help="send a dataset's texts to a running engine with routes on; a portable trace")
    p.add_argument("--engine", choices=["vllm", "sglang"], required=True)
    p.add_argument("--url", required=True, help="the server, e.g. http://localhost:8000")
    p.add_argument("--model", required=True, help="the model the engine serves (its config and tokenizer)")
    p.add_argument("--served-model", default=None, help="the name the server knows it by (default: --model)")
    p.add_argument("--out", required=True, help="NAME: writes NAME.parquet and NAME.json (resumes from "
                                                "NAME.capture.jsonl)")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--retries", type=int, default=5)
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    texts_args(p)
    provenance(p)
    p.set_defaults(func=cmd_capture)

    p = sub.add_parser("export-trace", help="trace texts with Routing Lens (or take a corpus run) and write a "
                                            "portable trace")
    p.add_argument("--model", default=None)
    p.add_argument("--corpus", default=None, help="a corpus run folder to export instead of tracing texts")
    p.add_argument("--out", required=True)
    p.add_argument("--revision", default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None)
    texts_args(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("compare-traces", help="how often two traces of the same texts choose the same experts")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--out", default=None, help="write the table as CSV")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("id-analysis", help="the WiC analysis on expert ids alone (a trace of the WiC sentences)")
    p.add_argument("trace")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=None, help="write the table as CSV")
    p.set_defaults(func=cmd_id_analysis)
