"""How long the routing lab's training takes: every router design trained from scratch (never the cache) on 2 CPU
threads, each design's partition, routers and skip vectors timed, then its held-out fidelity; the goal is all designs
within 15 minutes on 2 cores.

    python -m bench.lab_training [--designs lab-softmax lab-hash ...] [--threads 2]

Training runs in a temporary cache, so the bundled models/lab-*/ folders are neither read nor changed.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", nargs="+", default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ROUTING_LENS_CACHE"] = tmp
        from transformers import AutoModel, AutoTokenizer

        from core.models.moefy import PACKAGED_WEIGHTS_SHA256, packaged_model_dir
        from core.studies.router_lab import LAB_DESIGNS
        from core.training.router_training import RouterSettings, train_routers

        folder = packaged_model_dir()
        tokenizer, dense = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
        total_train = total_wall = 0.0
        print(f"{'design':<20}{'partition s':>12}{'routers s':>11}{'training s':>12}{'fidelity s':>12}{'cosine':>8}")
        for design in LAB_DESIGNS:
            if args.designs and design.name not in args.designs:
                continue
            settings = RouterSettings(experts=design.experts, top_k=design.top_k, threads=args.threads,
                                      design=design.design)
            started = time.perf_counter()
            _model, record = train_routers(dense, tokenizer, settings, PACKAGED_WEIGHTS_SHA256)
            total_wall += time.perf_counter() - started
            s = record["seconds"]
            total_train += s["training"]
            cosine = next(c["cosine_mean"] for c in record["fidelity"]["curve"] if c["k"] == design.top_k)
            print(f"{design.name:<20}{s['partition']:>12.0f}{s['routers']:>11.0f}{s['training']:>12.0f}"
                  f"{s['fidelity']:>12.0f}{cosine:>8.3f}")
        print(f"training, all designs: {total_train:.0f} s ({total_train / 60:.1f} min; goal 15 min); with fidelity "
              f"measures: {total_wall:.0f} s")


if __name__ == "__main__":
    main()
