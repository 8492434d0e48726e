"""How fast the command line answers: `--help`, every sub-command's `--help`, and user errors that need no model.

    python -m bench.cli_startup [--runs 5]

Each case is a fresh process (`.venv/bin/routing-lens …`, what a user types), timed from start to exit; the median of
`--runs` runs. Goals: ≤ 0.5 s for every case.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = [["--help"], ["--version"]] + [[c, "--help"] for c in (
    "trace", "compare", "reproduce", "corpus", "experts", "studies", "ablate", "intervene", "check-model", "train-demo",
    "train-router", "datasets")] + [
    ["trace", "--model", "no-such-model", "--text", "hi"],
    ["trace", "--text", ""],
    ["experts", "cache/corpus/does-not-exist"],
    ["studies", "no/such/run"],
    ["corpus", "--input", "missing.txt", "--out", "OUT"],
    ["intervene", "--text", "hi", "--force", "x"],
    ["trace", "--no-such-option"],
    ["reproduce", "--limit", "-5"],
    ["intervene", "--text", "hi", "--ban", "99"],
    ["intervene", "--model", "demo-mixtral-8", "--text", "hi", "--force", "8"],
    ["compare", "I sat on the bank.", "The cat slept.", "--word", "bank"],
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    exe = shutil.which("routing-lens") or str(Path(sys.executable).parent / "routing-lens")
    out = Path(tempfile.mkdtemp()) / "out"
    print("| command | exit | median (s) |")
    print("|---|---|---|")
    worst = 0.0
    for case in CASES:
        argv = [str(out) if a == "OUT" else a for a in case]
        times, code = [], 0
        for _ in range(args.runs):
            t = time.perf_counter()
            code = subprocess.run([exe, *argv], capture_output=True).returncode
            times.append(time.perf_counter() - t)
        median = statistics.median(times)
        worst = max(worst, median)
        print(f"| `routing-lens {' '.join(case)}` | {code} | {median:.3f} |", flush=True)
    print(f"\nslowest median: {worst:.3f} s (goal ≤ 0.5 s)")


if __name__ == "__main__":
    main()
