"""The field's studies (`python -m core studies`) against the issue's goals, each step a whole process:

    python -m bench.field_studies [--tokens 1000000] [--series-model FOLDER] [--series-tokens 200000] [--work DIR]

1. Route --tokens Brown tokens of demo-switch-8 (`corpus`, untimed for the goal), then time every study over them
   (`studies`) with its peak RSS — goal ≤ 60 s, ≤ 2 GiB.
2. With --series-model (a demo folder trained with `train-demo --save-at`): route its final model and every saved
   checkpoint over --series-tokens Brown tokens (`corpus --checkpoints all`) and run `studies` — goal ≤ 5 min for 5
   checkpoints × 200k tokens, traces included.
A step whose output folder already exists is reused, not re-timed (pass a fresh --work to time everything).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.corpus_throughput import timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=1_000_000)
    ap.add_argument("--model", default="demo-switch-8")
    ap.add_argument("--series-model", default=None)
    ap.add_argument("--series-tokens", type=int, default=200_000)
    ap.add_argument("--work", default=None, help="where the corpus runs go (default: a temporary folder)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="field-studies-"))
    run = work / "corpus"
    if not (run / "manifest.json").is_file():
        wall, rss = timed(["corpus", "--model", args.model, "--input", "nltk:brown", "--max-tokens", str(args.tokens),
                           "--out", str(run)])
        print(f"corpus: {args.tokens:,} tokens of {args.model} in {wall:.1f} s ({args.tokens / wall:,.0f} tok/s), "
              f"peak RSS {rss:.2f} GiB")
    wall, rss = timed(["studies", str(run)])
    print(f"studies over {args.tokens:,} tokens: {wall:.1f} s, peak RSS {rss:.2f} GiB (goal ≤ 60 s, ≤ 2 GiB)")
    if args.series_model:
        series = work / "series"
        wall_c, rss_c = timed(["corpus", "--model", args.series_model, "--checkpoints", "all", "--input", "nltk:brown",
                               "--max-tokens", str(args.series_tokens), "--out", str(series)])
        wall_s, rss_s = timed(["studies", str(series)])
        n = 1 + len(list((series / "checkpoints").glob("*/manifest.json")))
        print(f"series: {n} models × {args.series_tokens:,} tokens routed in {wall_c:.1f} s (peak {rss_c:.2f} GiB), "
              f"studies {wall_s:.1f} s (peak {rss_s:.2f} GiB); total {wall_c + wall_s:.1f} s (goal ≤ 300 s)")


if __name__ == "__main__":
    main()
