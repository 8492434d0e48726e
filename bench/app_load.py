"""Load test in real browsers: N concurrent sessions against `streamlit run app.py` on loopback.

    python -m bench.app_load [--sessions 1 5 10 20] [--rounds 2] [--timeout 120]

Each session is its own Chromium browser context (Debian's /usr/bin/chromium, driven by playwright). Per round it
opens the Compare page with its own sentences in the URL, then the Trace page and types its own sentence; the
latency is the time from navigation (or from pressing Ctrl+Enter) to the rendered plotly figure. Prints p50/p95/max,
errors, the server's peak RSS and how many model copies the server loaded (the server runs with load_model wrapped
to count calls). The demo model (bundled) and a fresh cache, so the first session pays for the model load.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psutil

from core.settings import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
# Runs streamlit in this process with load_model wrapped: every model load appends one line to $LOADS.
SERVER = """
import os, sys
import core.models.loading as m
real = m.load_model
def counted(*a, **k):
    with open(os.environ["ROUTING_LENS_BENCH_LOADS"], "a") as f:
        f.write(repr(a[:1]) + "\\n")
    return real(*a, **k)
m.load_model = counted
from streamlit.web import cli
sys.argv = ["streamlit", "run", "app.py", *sys.argv[1:]]
cli.main()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, model: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="rl-load-"))
        self.loads = self.dir / "loads.txt"
        self.loads.touch()
        self.port = _free_port()
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "ROUTING_LENS_MODEL": model,
               "ROUTING_LENS_CACHE": str(self.dir / "cache"), "ROUTING_LENS_BENCH_LOADS": str(self.loads)}
        self.log = open(self.dir / "server.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, "--server.headless", "true", "--server.port", str(self.port),
             "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
            cwd=REPO_ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        self.peak_rss = 0
        self._stop = threading.Event()
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise SystemExit("streamlit did not start: " + (self.dir / "server.log").read_text()[-2000:])
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        p = psutil.Process(self.proc.pid)
        while not self._stop.is_set():
            try:
                self.peak_rss = max(self.peak_rss, p.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.1)

    def model_loads(self) -> int:
        return len(self.loads.read_text().splitlines())

    def stop(self) -> None:
        self._stop.set()
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


async def _settled_figure(page, timeout_ms: float) -> None:
    await page.wait_for_selector(".js-plotly-plot", timeout=timeout_ms)
    await page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                 timeout=timeout_ms)


async def session(browser, url: str, i: int, rounds: int, timeout_ms: float, out: list, errors: list) -> None:
    context = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await context.new_page()
    try:
        for r in range(rounds):
            query = urllib.parse.urlencode({"s1": f"Visitor {i} sat on the river bank in round {r} .",
                                            "s2": f"The bank raised its rates for visitor {i} .", "w": "bank"})
            t = time.perf_counter()
            await page.goto(f"{url}/compare?{query}")
            await _settled_figure(page, timeout_ms)
            out.append(("compare", time.perf_counter() - t))
            await page.goto(url)
            await _settled_figure(page, timeout_ms)
            box = page.locator("textarea").first
            await box.fill(f"Student {i} reads sentence {r} about a spring and a match .")
            t = time.perf_counter()
            await box.press("Control+Enter")
            await page.wait_for_timeout(300)
            await page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                         timeout=timeout_ms)
            await page.wait_for_selector(".js-plotly-plot", timeout=timeout_ms)
            out.append(("trace", time.perf_counter() - t))
            if await page.locator('[data-testid="stException"]').count():
                errors.append(f"session {i}: an exception was rendered")
    except Exception as err:  # noqa: BLE001 - counted and reported, the other sessions go on
        errors.append(f"session {i}: {type(err).__name__}: {str(err)[:120]}")
    finally:
        await context.close()


async def run(url: str, n: int, rounds: int, timeout_s: float) -> tuple[list, list, float]:
    from playwright.async_api import async_playwright

    out: list = []
    errors: list = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        t = time.perf_counter()
        await asyncio.gather(*(session(browser, url, i, rounds, timeout_s * 1000, out, errors) for i in range(n)))
        wall = time.perf_counter() - t
        await browser.close()
    return out, errors, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, nargs="+", default=[1, 5, 10, 20])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=120, help="seconds a session waits for one figure")
    ap.add_argument("--model", default="demo-switch-8")
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: install Debian's chromium (bash scripts/setup.sh --dev does).")
    server = Server(args.model)
    try:
        asyncio.run(run(server.url, 1, 1, args.timeout))  # warm-up: the one model load, not in the numbers
        print(f"model {args.model}, {os.cpu_count()} cores; latency = input to rendered figure")
        print(f"{'sessions':>8} {'requests':>8} {'p50 s':>7} {'p95 s':>7} {'max s':>7} {'errors':>6} "
              f"{'wall s':>7} {'peak RSS GiB':>12} {'model loads':>11}")
        for n in args.sessions:
            out, errors, wall = asyncio.run(run(server.url, n, args.rounds, args.timeout))
            lat = sorted(t for _, t in out)
            p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else float("nan")
            print(f"{n:>8} {len(lat):>8} {statistics.median(lat) if lat else float('nan'):>7.2f} {p95:>7.2f} "
                  f"{max(lat) if lat else float('nan'):>7.2f} {len(errors):>6} {wall:>7.1f} "
                  f"{server.peak_rss / 2**30:>12.2f} {server.model_loads():>11}", flush=True)
            for e in errors[:5]:
                print(f"  error: {e}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
