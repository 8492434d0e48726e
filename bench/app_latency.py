"""Server-side latency of a trace interaction on the demo model, and memory with N concurrent sessions.

    python -m bench.app_latency [--sessions 8] [--repeats 10]

Uses streamlit's AppTest (the real script run, figures built, no browser): the time from setting a new
sentence to the rendered page with its heatmaps. Then N sessions in threads trace different sentences;
prints peak RSS and how many times the model was loaded (must be 1).
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import threading
import time

from core.settings import REPO_ROOT


def rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    import tempfile

    os.environ.setdefault("ROUTING_LENS_CACHE", tempfile.mkdtemp(prefix="rl-app-"))
    from streamlit.testing.v1 import AppTest

    import core.models.loading as models

    loads = []
    real = models.load_model
    models.load_model = lambda *a, **k: loads.append(a) or real(*a, **k)
    app = str(REPO_ROOT / "app.py")
    at = AppTest.from_file(app, default_timeout=120)
    at.run()
    model = at.session_state["model"]
    print(f"model: {model}; RSS after first page: {rss_gib():.2f} GiB")
    times = []
    for i in range(args.repeats):
        at.text_area(key="trace_text").set_value(f"The bank number {i} raised its rates by {i} percent.")
        t = time.perf_counter()
        at.radio(key="trace_stacks").set_value("both").run()
        times.append(time.perf_counter() - t)
        assert not at.exception
    print(f"trace interaction (new sentence, both stacks, 8 figures): median {1000 * statistics.median(times):.0f} ms, "
          f"min {1000 * min(times):.0f} ms, max {1000 * max(times):.0f} ms over {len(times)}")
    base = rss_gib()

    def session(i: int) -> None:
        s = AppTest.from_file(app, default_timeout=300)
        s.session_state["trace_text"] = f"Session {i} sat on the river bank number {i}."
        s.run()
        assert not s.exception

    t = time.perf_counter()
    threads = [threading.Thread(target=session, args=(i,)) for i in range(args.sessions)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    print(f"{args.sessions} concurrent sessions: {time.perf_counter() - t:.1f} s wall; peak RSS {rss_gib():.2f} GiB "
          f"(+{rss_gib() - base:.2f} GiB); model loads: {len(loads)}")


if __name__ == "__main__":
    main()
