"""Wall time and peak memory of a reproduction for a random model of the switch-base-8 shape.

    python -m bench.reproduce_time [--limit 150] [--experts 8] [--dtype float32|bfloat16]

Runs `reproduce` with --limit on a cold trace cache, then again warm, and extrapolates the cold time to the
full datasets by the number of tokens traced (printed as an extrapolation). `--limit 0` runs everything.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=150)
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"],
                    help="float32 on a CPU without native bf16 (emulated bf16 is slower there)")
    args = ap.parse_args()
    import os

    from transformers import SwitchTransformersForConditionalGeneration
    from transformers.utils import logging

    logging.set_verbosity_error()
    tmp = Path(tempfile.mkdtemp(prefix="rl-bench-"))
    os.environ["ROUTING_LENS_CACHE"] = str(tmp / "cache")
    from bench.trace_throughput import tokenizer
    from core.lens import reproduce
    from core.models.loading import LoadedModel
    from core.studies.experiments import BenchmarkData
    from core.tracing.cache import TraceCache
    from core.tracing.tracer import Tracer
    from core.training.switch_config import switch_base_config

    torch.manual_seed(0)
    model = SwitchTransformersForConditionalGeneration(switch_base_config(args.experts)).eval().to(getattr(torch, args.dtype))
    tok = tokenizer()
    loaded = LoadedModel.from_memory(f"random-switch-base-{args.experts}", model, tok, args.dtype)
    limit = args.limit or None

    def texts(data: BenchmarkData) -> list[str]:
        words = {*data.wordsim.word1, *data.wordsim.word2, *data.simlex.word1, *data.simlex.word2,
                 *data.scws.word1, *data.scws.word2}
        return list(words | {*data.scws.context1, *data.scws.context2, *data.wic.sentence1, *data.wic.sentence2})

    def n_tokens(ts: list[str]) -> int:
        return sum(len(ids) for ids in tok(ts)["input_ids"])

    sub_tokens = n_tokens(texts(BenchmarkData.load(limit=limit)))
    full_tokens = n_tokens(texts(BenchmarkData.load()))
    times = []
    for label in ("cold", "warm"):
        tracer = Tracer(loaded, cache=TraceCache())
        t = time.perf_counter()
        reproduce([tracer], tmp / "out", limit=limit)
        times.append(time.perf_counter() - t)
        print(f"{label}: {times[-1]:.1f} s  (limit {limit}, {sub_tokens} distinct-text tokens)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS: {rss:.2f} GiB")
    if limit:
        est = times[0] * full_tokens / sub_tokens
        print(f"full datasets: {full_tokens} tokens -> extrapolated cold time {est / 60:.1f} min "
              f"({sub_tokens / times[0]:.0f} tok/s end to end); warm re-run {times[1]:.1f} s at this limit")


if __name__ == "__main__":
    main()
