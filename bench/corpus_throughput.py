"""Corpus-scale routing: the local engine on Brown, the statistics over its rows, and Ray with 1 and 2 actors.

    python -m bench.corpus_throughput [--tokens 1000000] [--ray-tokens 100000] [--model demo-switch-8]

Each step is a whole `python -m core …` process (start-up and model load included), its peak RSS sampled with
psutil. Prints tokens/s, Parquet bytes per token-layer row, the statistics' time and memory, and the Ray/local ratio.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]


def timed(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS GiB of the process and its children) of `python -m core ARGS`."""
    proc = subprocess.Popen([sys.executable, "-m", "core", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample() -> None:
        p = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                rss = p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
                peak[0] = max(peak[0], rss)
            except psutil.Error:
                pass
            time.sleep(0.1)

    watcher = threading.Thread(target=sample, daemon=True)
    started = time.perf_counter()
    watcher.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"python -m core {' '.join(args)} failed:\n{err[-2000:]}")
    return wall, peak[0] / 2**30


def rows_and_bytes(out: Path) -> tuple[int, int]:
    files = sorted(out.glob("part-*.parquet")) + sorted(out.glob("part-*/*.parquet"))
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files), sum(f.stat().st_size for f in files)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=1_000_000)
    ap.add_argument("--ray-tokens", type=int, default=100_000)
    ap.add_argument("--model", default="demo-switch-8")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--skip-full", action="store_true", help="only the Ray comparison")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rl-corpus-") as tmp:
        common = ["corpus", "--model", args.model, "--input", "nltk:brown"]
        if not args.skip_full:
            full(common, Path(tmp) / "full", args.tokens)
        if args.skip_ray:
            return
        n = str(args.ray_tokens)
        results = {}
        for label, extra in (("local", []), ("ray, 1 actor", ["--engine", "ray", "--actors", "1", "--threads", "2"]),
                             ("ray, 2 actors", ["--engine", "ray", "--actors", "2", "--threads", "1"])):
            wall, rss = timed([*common, "--out", str(Path(tmp) / label.replace(" ", "-").replace(",", "")),
                               "--max-tokens", n, *extra])
            results[label] = wall
            print(f"{label}: {args.ray_tokens:,} tokens in {wall:.1f} s ({args.ray_tokens / wall:,.0f} tok/s, "
                  f"start-up included), peak RSS {rss:.2f} GiB")
        for label in ("ray, 1 actor", "ray, 2 actors"):
            print(f"{label} / local throughput: {results['local'] / results[label]:.2f}x")


def full(common: list[str], out: Path, tokens: int) -> None:
    """The local engine on `tokens` tokens, the Parquet size, and the statistics over them."""
    wall, rss = timed([*common, "--out", str(out), "--max-tokens", str(tokens)])
    rows, size = rows_and_bytes(out)
    print(f"local engine: {tokens:,} tokens of Brown through {common[2]} in {wall:.1f} s "
          f"({tokens / wall:,.0f} tok/s, whole process), peak RSS {rss:.2f} GiB")
    print(f"Parquet: {rows:,} token-layer rows, {size / 2**20:.1f} MiB = {size / rows:.1f} bytes per row")
    wall, rss = timed(["experts", str(out)])
    print(f"statistics over {rows:,} rows: {wall:.1f} s (whole process), peak RSS {rss:.2f} GiB")


if __name__ == "__main__":
    main()
