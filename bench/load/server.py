"""`streamlit run app.py` on loopback under measurement: CPU seconds and RSS from the OS, model loads counted."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

from core.settings import REPO_ROOT

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server process; `flags` are extra `streamlit run` options (e.g. file watching back on); `cpus` pins it
    to those cores (so that clients on the other cores do not take the server's)."""

    def __init__(self, model: str, flags: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 cpus: set[int] | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="rl-load-"))
        self.loads = self.dir / "loads.txt"
        self.loads.touch()
        self.port = free_port()
        full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "ROUTING_LENS_MODEL": model,
                    "ROUTING_LENS_CACHE": str(self.dir / "cache"), "ROUTING_LENS_BENCH_LOADS": str(self.loads),
                    **(env or {})}
        self.log = open(self.dir / "server.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, "--server.headless", "true", "--server.port", str(self.port),
             "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", *flags],
            cwd=REPO_ROOT, env=full_env, stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/_stcore/stream"
        self.ps = psutil.Process(self.proc.pid)
        self.peak_rss = 0
        self._stop = threading.Event()
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.3)
        else:
            self.stop()
            raise SystemExit("streamlit did not start: " + (self.dir / "server.log").read_text()[-2000:])
        if self.proc.poll() is not None:
            raise SystemExit("streamlit exited: " + (self.dir / "server.log").read_text()[-2000:])
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_rss = max(self.peak_rss, self.rss())
            except psutil.Error:
                return
            time.sleep(0.1)

    def rss(self) -> int:
        return self.ps.memory_info().rss

    def cpu(self) -> float:
        """The server's CPU seconds so far (user + system, all threads)."""
        t = self.ps.cpu_times()
        return t.user + t.system

    def settle(self, quiet_s: float = 0.25, limit_s: float = 20.0) -> float:
        """Wait until the server stops using CPU (work after the last message, e.g. a garbage collection, counts
        to the view that caused it); returns its CPU seconds then."""
        deadline = time.time() + limit_s
        last = self.cpu()
        while time.time() < deadline:
            time.sleep(quiet_s)
            now = self.cpu()
            if now - last < 0.01:
                return now
            last = now
        return last

    def model_loads(self) -> int:
        return len(self.loads.read_text().splitlines())

    def stop(self) -> None:
        self._stop.set()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
