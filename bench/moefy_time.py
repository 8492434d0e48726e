"""Time to MoE-fy all-MiniLM-L6-v2 for each expert count, and to trace WiC dev (638 pairs).

    python -m bench.moefy_time [--experts 8 16 32 64 128]

Partitions are computed fresh (an empty cache folder), then WiC dev's 1,276 sentences are traced.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--experts", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    args = ap.parse_args()
    os.environ["ROUTING_LENS_CACHE"] = tempfile.mkdtemp(prefix="rl-moefy-")
    from transformers.utils import logging

    logging.set_verbosity_error()
    from core.data.datasets import load_wic
    from core.models.loading import load_model
    from core.tracing.tracer import Tracer

    wic = load_wic(splits=("dev",))
    texts = list(wic.sentence1) + list(wic.sentence2)
    for e in args.experts:
        t = time.perf_counter()
        loaded = load_model(f"moefied-minilm-{e}")
        t_load = time.perf_counter() - t
        t = time.perf_counter()
        load_model(f"moefied-minilm-{e}")
        t_cached = time.perf_counter() - t
        tracer = Tracer(loaded)
        t = time.perf_counter()
        traces = tracer.trace(texts)
        t_trace = time.perf_counter() - t
        n_tok = sum(len(tr.tokens) for tr in traces)
        print(f"E={e:3d}: load + MoE-fy {t_load:.1f} s (cached partition: {t_cached:.1f} s); "
              f"trace WiC dev ({len(texts)} sentences, {n_tok} tokens) {t_trace:.1f} s = {n_tok / t_trace:.0f} tok/s")


if __name__ == "__main__":
    main()
