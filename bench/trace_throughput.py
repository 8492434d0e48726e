"""Tracing throughput of the peers on one model and one set of sentences: the naive per-sentence pass, the competent
batched script, nnsight's tracing of the router modules, and this engine (as a library call per experts kernel, and
as a whole `python -m core trace` process, start-up and load included), against the machine's FLOP bound.

    python -m bench.trace_throughput [--experts 8 32 128] [--sentences 300] [--naive-sentences 40]
                                     [--dtypes float32 bfloat16] [--kernels loop grouped] [--skip-cli]

Random-init models of the real google/switch-base-N shape (no download); the bundled demo tokenizer
(vocabulary ids are valid indices of the 32k embedding). Prints tokens/s, ratios and % of bound. The competent
script: transformers' SwitchTransformersForConditionalGeneration, batches of 32 sorted by length,
output_router_logits=True, softmax of every router's logits (what a user writes in ten minutes).
"""
from __future__ import annotations

import argparse
import gc
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from core.models.loading import LoadedModel
from core.tracing.tracer import Tracer
from core.training.switch_config import switch_base_config


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    for _ in range(2):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def active_params(model, experts: int) -> int:
    """Parameters one token touches in encoder + decoder: all but embeddings, LM head and the unchosen experts."""
    total = 0
    for name, p in model.named_parameters():
        if "shared" in name or "lm_head" in name or "embed" in name:
            continue
        total += p.numel() // experts if ".experts." in name else p.numel()
    return total


def sentences(n: int) -> list[str]:
    from core.data.nltk_text import sentences as corpus

    out = []
    for s in corpus("brown"):
        if 8 <= len(s.split()) <= 40:
            out.append(s)
        if len(out) == n:
            return out
    return out


def tokenizer():
    from transformers import AutoTokenizer

    from core.models.registry import list_models

    demos = [e for e in list_models() if e.is_demo]
    if not demos:
        raise SystemExit("No bundled demo tokenizer under models/: train one with `python -m core train-demo`.")
    return AutoTokenizer.from_pretrained(demos[0].location)


def naive(model, tok, texts: list[str]) -> tuple[float, int]:
    """One sentence at a time, full model with output_router_logits=True, fp32 — the notebook way."""
    n_tok = 0
    t = time.perf_counter()
    with torch.no_grad():
        for text in texts:
            ids = tok(text, return_tensors="pt")["input_ids"]
            out = model(input_ids=ids, decoder_input_ids=model._shift_right(ids), output_router_logits=True)
            for logits in (out.encoder_router_logits, out.decoder_router_logits):
                for r in logits if isinstance(logits, (tuple, list)) else [logits]:
                    torch.softmax((r[0] if isinstance(r, tuple) else r).float(), dim=-1)
            n_tok += ids.shape[1]
    return n_tok / (time.perf_counter() - t), n_tok


def competent(model, tok, texts: list[str], batch: int = 32) -> tuple[float, int]:
    """Batches of 32 sorted by length, full forward with output_router_logits=True, softmax of each router."""
    order = sorted(texts, key=len)
    n_tok = 0
    t = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(order), batch):
            enc = tok(order[i : i + batch], return_tensors="pt", padding=True)
            out = model(**enc, decoder_input_ids=model._shift_right(enc["input_ids"]), output_router_logits=True)
            for logits in (out.encoder_router_logits, out.decoder_router_logits):
                for r in logits if isinstance(logits, (tuple, list)) else [logits]:
                    torch.softmax((r[0] if isinstance(r, tuple) else r).float(), dim=-1)
            n_tok += int(enc["attention_mask"].sum())
    return n_tok / (time.perf_counter() - t), n_tok


def nnsight_peer(model, tok, texts: list[str], batch: int = 32) -> tuple[float, int] | None:
    """nnsight (the interpretability researchers' tool) wrapping the model: each router's output saved inside
    `trace`, softmaxed, in batches of 32 sorted by length. None when nnsight is not installed (a dev dependency)."""
    try:
        from nnsight import NNsight
    except ImportError:
        return None
    wrapped = NNsight(model)
    names = [n for n, m in model.named_modules() if type(m).__name__.endswith("Top1Router")]

    def module(name: str):
        node = wrapped
        for part in name.split("."):
            node = node[int(part)] if part.isdigit() else getattr(node, part)
        return node

    order = sorted(texts, key=len)
    n_tok = 0
    t = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(order), batch):
            enc = tok(order[i : i + batch], return_tensors="pt", padding=True)
            saved = []
            with wrapped.trace(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                               decoder_input_ids=model._shift_right(enc["input_ids"])):
                for name in names:  # in execution order, as nnsight requires
                    saved.append(torch.softmax(module(name).output[2].float(), dim=-1).save())
            n_tok += int(enc["attention_mask"].sum())
    return n_tok / (time.perf_counter() - t), n_tok


def cli_process(model, tok, texts: list[str], dtype: str, kernel: str = "auto") -> tuple[float, float]:
    """The engine as a user runs it: `python -m core trace` on a saved checkpoint, timed as a whole process (start-up,
    imports, load, tracing, output). Returns (tok/s, wall seconds)."""
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
        cmd = [sys.executable, "-m", "core", "trace", "--model", folder, "--dtype", dtype, "--no-cache",
               "--experts-kernel", kernel, "--json"]
        for text in texts:
            cmd += ["--text", text]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       cwd=Path(__file__).resolve().parents[1])
        wall = time.perf_counter() - t
    n_tok = sum(len(ids) for ids in tok(texts)["input_ids"])
    return n_tok / wall, wall


def engine(model, tok, texts: list[str], dtype: str, experts: int, batch_tokens: int,
           kernel: str = "auto") -> tuple[float, int]:
    loaded = LoadedModel.from_memory(f"random-switch-base-{experts}", model, tok, dtype)
    loaded.experts_kernel = loaded.adapter.set_experts_kernel(model, kernel)
    tracer = Tracer(loaded, cache=None, batch_tokens=batch_tokens)
    tracer.trace(texts[:8])  # warm-up
    t = time.perf_counter()
    traces = tracer.trace(texts)
    dt = time.perf_counter() - t
    n_tok = sum(len(tr.tokens) for tr in traces)
    return n_tok / dt, n_tok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--experts", type=int, nargs="+", default=[8])
    ap.add_argument("--sentences", type=int, default=300)
    ap.add_argument("--naive-sentences", type=int, default=40)
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"],
                    help="leave bfloat16 out on a CPU without native bf16 (emulated: slow, and its peak probe too)")
    ap.add_argument("--kernels", nargs="+", default=["loop", "grouped"], choices=["loop", "grouped"])
    ap.add_argument("--skip-cli", action="store_true", help="do not time the engine as a whole CLI process")
    ap.add_argument("--skip-nnsight", action="store_true")
    args = ap.parse_args()
    from transformers import SwitchTransformersForConditionalGeneration
    from transformers.utils import logging

    logging.set_verbosity_error()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpu count {os.cpu_count()}")
    peaks = {d: matmul_peak(getattr(torch, d)) for d in args.dtypes}
    print("matmul peak: " + ", ".join(f"{d} {p:.0f} GFLOP/s" for d, p in peaks.items()))
    tok = tokenizer()
    texts = sentences(args.sentences)
    for experts in args.experts:
        torch.manual_seed(0)
        fp32_fits = experts <= 32  # 64/128 experts in fp32 do not fit (or barely) in 24 GiB: build in bf16
        torch.set_default_dtype(torch.float32 if fp32_fits else torch.bfloat16)
        model = SwitchTransformersForConditionalGeneration(switch_base_config(experts)).eval()
        torch.set_default_dtype(torch.float32)
        active = active_params(model, experts)
        flop_per_tok = 2 * active
        print(f"\nswitch-base-{experts} shape: {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M params, "
              f"{active / 1e6:.0f}M active per token (enc+dec, no embeddings/LM head) -> {flop_per_tok / 1e9:.2f} GFLOP/token")
        print("bound: " + ", ".join(f"{d} {p * 1e9 / flop_per_tok:.0f} tok/s" for d, p in peaks.items()))
        naive_tps = None
        if not args.skip_naive and fp32_fits:
            naive_tps, n = naive(model, tok, texts[: args.naive_sentences])
            print(f"(a) naive fp32, one sentence at a time, full forward + LM head: {naive_tps:.0f} tok/s ({n} tokens)")
        for dtype in args.dtypes:
            if dtype == "float32" and not fp32_fits:
                continue
            model = model.to(getattr(torch, dtype))
            gc.collect()
            script_tps, n = competent(model, tok, texts)
            print(f"(c) competent script {dtype}, batches of 32 by length: {script_tps:.0f} tok/s ({n} tokens)")
            peer = None if args.skip_nnsight else nnsight_peer(model, tok, texts)
            if peer:
                print(f"(n) nnsight {dtype}, router outputs saved, batches of 32: {peer[0]:.0f} tok/s "
                      f"= {peer[0] / script_tps:.2f}x the script")
            if not args.skip_cli and fp32_fits:
                tps, wall = cli_process(model, tok, texts, dtype)
                print(f"(p) engine {dtype} as a CLI process (start-up + load + trace + JSON): {tps:.0f} tok/s "
                      f"({wall:.1f} s wall) = {tps / script_tps:.2f}x the script")
            for kernel in args.kernels:
                tps, n = engine(model, tok, texts, dtype, experts, args.batch_tokens, kernel)
                pct = 100 * tps * flop_per_tok / (peaks[dtype] * 1e9)
                ratios = f"{tps / script_tps:.2f}x the script" + (f", {tps / naive_tps:.1f}x naive" if naive_tps else "")
                print(f"(e) engine {dtype}, experts {kernel}: {tps:.0f} tok/s = {pct:.0f}% of the {dtype} bound; {ratios}")
            for b in (m for m in model.modules() if type(m).__name__ == "SwitchTransformersExperts"):
                b.__dict__.pop("forward", None)
        print(f"peak RSS so far: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB in this process, "
              f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20:.2f} GiB in the CLI process")
        del model
        gc.collect()


if __name__ == "__main__":
    main()
