"""Read py-spy's raw (collapsed-stack) output: where the server's samples go, by function, inclusive.

    python -m bench.load.profile_summary DIR/compare.txt [--top 15]
"""
from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

IDLE = re.compile(r"\b(select|poll|epoll_wait|wait|_worker|sleep|run_forever|_run_once)\b \(")


def summarise(path: Path, top: int = 15) -> list[tuple[str, float]]:
    """Inclusive share of the busy samples per function (a frame counts once per stack); idle waits left out."""
    inclusive: Counter[str] = Counter()
    busy = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        if IDLE.search(frames[-1]):
            continue
        n = int(count)
        busy += n
        for frame in set(re.sub(r":\d+\)", ")", f) for f in frames):
            inclusive[frame] += n
    return [(frame, n / busy) for frame, n in inclusive.most_common(top)] if busy else []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", type=Path, nargs="+")
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    for path in args.files:
        print(f"== {path.name}")
        for frame, share in summarise(path, args.top):
            print(f"  {100 * share:5.1f} %  {frame[:150]}")


if __name__ == "__main__":
    main()
