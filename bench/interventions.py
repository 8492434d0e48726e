"""What reusing the activations below an intervention saves (issue: ≥ 3× for counterfactual routes).

    python -m bench.interventions [--repeats 3]

Counterfactual routes: `core.studies.counterfactual.scan` (every alternative for one token at one sparse layer, run as
one batch with the blocks below the layer taken from the intact pass) against recomputing the whole forward pass for
each alternative, one at a time. Ablation: `ablate` with `reuse=True` (each removal reuses the intact pass's blocks
below its layer) against `reuse=False`. Medians of `--repeats` runs, in one process, on the bundled demos.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from core.models.loading import load_model
from core.studies.ablation import Unit, ablate
from core.studies.counterfactual import alternatives, scan
from core.studies.outcomes import log_probs
from core.tracing.interventions import Intervention, intervening
from core.tracing.tracer import Tracer

TEXT = ("The bank raised its interest rates again this spring, and the savers who had kept their money there "
        "for years moved it to the small bank across the river.")


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def naive_scan(loaded, token: int, layer: int, stack: str) -> None:
    """Every alternative as its own full forward pass (no batching, no reuse)."""
    s = Tracer(loaded, cache=None).trace(TEXT)[0].stacks[stack]
    li = list(s.layers).index(layer)
    ids = torch.tensor([loaded.tokenizer(TEXT)["input_ids"]])
    for route in alternatives(s.selected[li, token].tolist(), loaded.num_experts):
        with intervening(loaded, [Intervention("force", stack, (layer,), (token,), route)]):
            log_probs(loaded, ids)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-ablation", action="store_true", help="counterfactual routes only")
    args = ap.parse_args()
    torch.manual_seed(0)
    import os

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average before: "
          + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("| model | what | recompute (s) | reuse (s) | speed-up |")
    print("|---|---|---|---|---|")
    for name, stack in (("demo-mixtral-8", "decoder"), ("demo-switch-8", "decoder"), ("demo-switch-8", "encoder")):
        loaded = load_model(name, dtype="float32", lm_head=True)
        blocks = [int(b) for b, _m in loaded.adapter.routers(loaded.model)[stack]]
        layer, token = blocks[-1], 6
        scan(loaded, TEXT, token, layer, stack)  # warm-up
        naive = _median(lambda lm=loaded, t=token, b=layer, s=stack: naive_scan(lm, t, b, s), args.repeats)
        fast = _median(lambda lm=loaded, t=token, b=layer, s=stack: scan(lm, TEXT, t, b, s), args.repeats)
        print(f"| {name} | counterfactual routes, {stack} block {layer} | {naive:.3f} | {fast:.3f} | "
              f"{naive / fast:.1f}× |", flush=True)
    print("load average after the scans: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    if args.no_ablation:
        return
    from core.corpus.sources import segments

    for name in ("demo-mixtral-8", "demo-switch-8"):
        loaded = load_model(name, dtype="float32", lm_head=True)
        units = [Unit(s, int(b), e) for s, found in loaded.adapter.routers(loaded.model).items() for b, _m in found
                 for e in range(loaded.num_experts)]
        sample = list(segments("nltk:brown"))[:400]
        slow = _median(lambda lm=loaded, x=sample, u=units: ablate(lm, x, u, 3000, reuse=False), 1)
        fast = _median(lambda lm=loaded, x=sample, u=units: ablate(lm, x, u, 3000, reuse=True), 1)
        print(f"| {name} | ablation, {len(units)} experts × 3,000 tokens | {slow:.1f} | {fast:.1f} | "
              f"{slow / fast:.1f}× |", flush=True)


if __name__ == "__main__":
    main()
