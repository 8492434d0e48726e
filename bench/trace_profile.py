"""Where the engine's time goes, on the switch-base-N shape (random weights, no download).

    python -m bench.trace_profile [--experts 8] [--sentences 300] [--dtype float32] [--kernel grouped]

Two views of one `Tracer.trace` call: wall time per engine step (tokenisation + word alignment, forward pass, copy
of the routers' outputs to numpy, assembly of the traces), and the torch profiler's operator table for the
forward passes, grouped into GEMMs (dense and expert), attention, normalisation/activation and the rest.
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch

from bench.trace_throughput import active_params, matmul_peak, sentences, tokenizer
from core.models.loading import LoadedModel
from core.tracing.tracer import Tracer
from core.training.switch_config import switch_base_config

GROUPS = {
    "GEMM": ("aten::mm", "aten::addmm", "aten::bmm", "aten::_grouped_mm", "aten::linear", "aten::matmul"),
    "attention": ("aten::_softmax", "aten::softmax", "aten::scaled_dot_product", "aten::_scaled_dot_product",
                  "aten::masked_fill", "aten::baddbmm"),
    "norm / activation": ("aten::pow", "aten::mean", "aten::rsqrt", "aten::relu", "aten::gelu", "aten::mul",
                          "aten::add", "aten::tanh"),
    "routing bookkeeping": ("aten::one_hot", "aten::cumsum", "aten::argmax", "aten::max", "aten::nonzero",
                            "aten::argsort", "aten::sort", "aten::index", "aten::index_add_", "aten::scatter",
                            "aten::gather", "aten::index_select", "aten::bincount", "aten::where", "aten::le"),
}


def timed(obj, name: str, spent: dict[str, float]) -> None:
    """Wrap obj.name so that its wall time accumulates in spent[name]."""
    inner = getattr(obj, name)

    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - t

    setattr(obj, name, wrapper)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--sentences", type=int, default=300)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--kernel", default="grouped", choices=["loop", "grouped"])
    args = ap.parse_args()
    from transformers import SwitchTransformersForConditionalGeneration
    from transformers.utils import logging

    logging.set_verbosity_error()
    torch.manual_seed(0)
    dtype = getattr(torch, args.dtype)
    model = SwitchTransformersForConditionalGeneration(switch_base_config(args.experts)).eval().to(dtype)
    flop_per_tok = 2 * active_params(model, args.experts)
    peak = matmul_peak(dtype)
    tok = tokenizer()
    texts = sentences(args.sentences)
    loaded = LoadedModel.from_memory(f"random-switch-base-{args.experts}", model, tok, args.dtype)
    loaded.experts_kernel = loaded.adapter.set_experts_kernel(model, args.kernel)
    tracer = Tracer(loaded, cache=None)
    tracer.trace(texts[:8])  # warm-up
    spent: dict[str, float] = defaultdict(float)
    for name in ("encode_many", "_forward", "_assemble"):
        timed(tracer, name, spent)
    run = loaded.adapter.run
    timed(loaded.adapter, "run", spent)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        t = time.perf_counter()
        traces = tracer.trace(texts)
        wall = time.perf_counter() - t
    loaded.adapter.run = run
    n_tok = sum(len(tr.tokens) for tr in traces)
    print(f"switch-base-{args.experts} shape, {args.dtype}, experts {loaded.experts_kernel}: {len(texts)} sentences, "
          f"{n_tok} tokens in {wall:.2f} s = {n_tok / wall:.0f} tok/s under the profiler "
          f"({100 * n_tok * flop_per_tok / wall / (peak * 1e9):.0f}% of the {peak:.0f} GFLOP/s matmul peak)")
    steps = {"tokenise + align words": spent["encode_many"], "forward pass (model)": spent["run"],
             "hook outputs -> numpy": spent["_forward"] - spent["run"], "assemble traces": spent["_assemble"]}
    steps["other (batching, loop)"] = wall - sum(steps.values())
    print("\nwall time per engine step:")
    for step, sec in steps.items():
        print(f"  {step:<26} {sec:7.2f} s  {100 * sec / wall:5.1f}%")
    by_group: dict[str, float] = defaultdict(float)
    for ev in prof.key_averages():
        group = next((g for g, names in GROUPS.items() if ev.key.startswith(names)), "other ops")
        by_group[group] += ev.self_cpu_time_total / 1e6
    total = sum(by_group.values())
    print(f"\noperators inside the profile (self CPU time, {total:.2f} s in all; two threads' time counts once):")
    for group, sec in sorted(by_group.items(), key=lambda kv: -kv[1]):
        print(f"  {group:<22} {sec:7.2f} s  {100 * sec / total:5.1f}%")
    print("\ntop operators:")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=40))


if __name__ == "__main__":
    main()
