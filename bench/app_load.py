"""Serving a class: what one page view costs the server, and how many sessions it holds.

    python -m bench.app_load --cost [--views 3]                 # server CPU per fresh view, every page
    python -m bench.app_load --sessions 30 100 --within 10 30   # N sessions open distinct Compare links
    python -m bench.app_load --agree                            # protocol vs browser client at N = 1 and 5
    python -m bench.app_load --idle 50                          # server memory per idle session
    python -m bench.app_load --soak 30 [--rate 1]               # minutes at one view per second, all pages
    python -m bench.app_load --cost --profile DIR               # + a py-spy profile of the server per page

The server is `streamlit run app.py` on loopback with the repository's .streamlit/config.toml (the serving
configuration), the bundled demo model and a fresh cache; `--server-flag` adds `streamlit run` options (e.g.
`--server-flag=--server.fileWatcherType=auto` to measure with file watching on). The default client speaks
Streamlit's websocket protocol (bench/load/protocol.py), so hundreds of sessions run in one asyncio process and
cost the server's cores nearly nothing; `--client browser` opens each view in a fresh Chromium context instead.
CPU seconds are the server process's (user + system) from the OS, read after the server has gone quiet; the
first view (the one model load) is a warm-up and not counted. Sessions and time are bounded (--max-sessions).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.load.browser import CHROMIUM, browser_views, front_end_requests
from bench.load.protocol import View, open_view
from bench.load.server import Server
from bench.load.views import PAGES, query

MAX_SESSIONS = 500


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def protocol_views(server: Server, specs: list[tuple[str, str, float]], timeout_s: float,
                   assets: dict[str, tuple[str, ...]] | None = None) -> list[View]:
    async def one(page: str, q: str, delay: float) -> View:
        await asyncio.sleep(delay)
        return await open_view(server.ws_url, page, q, timeout_s, assets=(assets or {}).get(page, ()))

    async def run() -> list[View]:
        return list(await asyncio.gather(*(one(*s) for s in specs)))

    return asyncio.run(run())


def run_views(server: Server, client: str, specs: list[tuple[str, str, float]], timeout_s: float,
              figures: dict[str, int], warm: bool = False, assets: dict[str, tuple[str, ...]] | None = None
              ) -> tuple[list[View], float]:
    """Run the views; returns them and the server CPU seconds they cost (measured until the server is quiet; with
    a `warm` browser, the warm-up views count too)."""
    before = server.settle()
    if client == "browser":
        views = asyncio.run(browser_views(server.url, [(*s, figures.get(s[0], 0)) for s in specs], timeout_s, warm))
    else:
        views = protocol_views(server, specs, timeout_s, assets)
    return views, server.settle() - before


def warm_up(server: Server, timeout_s: float) -> dict[str, int]:
    """One view of every page (the model load, the bundled results read): not counted. Returns figures per page."""
    views = protocol_views(server, [(p, query(p, 10_000 + i), 0.0) for i, p in enumerate(PAGES)], timeout_s)
    for v in views:
        if not v.ok:
            raise SystemExit(f"warm-up view of {v.page} failed: {v.error or v.exceptions}")
    return {v.page: v.figures for v in views}


def cost(server: Server, client: str, views: int, timeout_s: float, figures: dict[str, int],
         profile: Path | None) -> None:
    print(f"server CPU per fresh view ({client} client, {views} views each, distinct inputs, one at a time)")
    print(f"{'page':<11} {'CPU s/view':>22} {'latency s':>10} {'figures':>7} {'errors':>6}")
    for page in PAGES:
        spy = None
        if profile:
            profile.mkdir(parents=True, exist_ok=True)
            spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(server.proc.pid), "--format", "raw",
                                    "--output", str(profile / f"{page}.txt"), "--rate", "200", "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # py-spy attaches
        costs, lat, errors, figs = [], [], 0, 0
        for i in range(views):
            (v,), cpu = run_views(server, client, [(page, query(page, i), 0.0)], timeout_s, figures)
            costs.append(cpu)
            lat.append(v.latency_s)
            errors += not v.ok
            figs = v.figures
        if spy:
            spy.send_signal(2)
            spy.wait(timeout=30)
        print(f"{page:<11} {' '.join(f'{c:.2f}' for c in costs):>22} {statistics.median(lat):>10.2f} {figs:>7} "
              f"{errors:>6}", flush=True)


def load(server: Server, client: str, sessions: list[int], within: list[float], pages: list[str],
         timeout_s: float, figures: dict[str, int], assets: dict[str, tuple[str, ...]] | None) -> None:
    print(f"{client} client{' + front end' if assets else ''}; each session opens one page with its own query "
          f"string ({', '.join(pages)})")
    print(f"{'sessions':>8} {'within s':>8} {'CPU s/view':>10} {'p50 s':>6} {'p95 s':>6} {'max s':>6} "
          f"{'errors':>6} {'peak RSS GiB':>12} {'model loads':>11}")
    offset = 20_000
    for n, span in zip(sessions, within + [within[-1]] * len(sessions)):
        specs = [(pages[i % len(pages)], query(pages[i % len(pages)], offset + i), span * i / max(n, 1))
                 for i in range(n)]
        offset += n
        views, cpu = run_views(server, client, specs, timeout_s, figures, assets=assets)
        lat = [v.latency_s for v in views if v.ok]
        bad = [v for v in views if not v.ok]
        print(f"{n:>8} {span:>8.0f} {cpu / n:>10.3f} {pct(lat, 0.5):>6.2f} {pct(lat, 0.95):>6.2f} "
              f"{max(lat, default=float('nan')):>6.2f} {len(bad):>6} {server.peak_rss / 2**30:>12.2f} "
              f"{server.model_loads():>11}", flush=True)
        for v in bad[:5]:
            print(f"  error on {v.page}: {v.error or v.exceptions}")


def agree(server: Server, timeout_s: float, figures: dict[str, int], assets: dict[str, tuple[str, ...]]) -> None:
    """The two clients on the same kind of views (distinct Compare links opened at once, N = 1 and 5). Both read
    the page's Streamlit messages with one parser: latency = socket open → last figure message. The browser also
    gives navigation → figures drawn (its own JavaScript and plotly, on the server's cores here)."""
    print("protocol vs browser client, distinct Compare links opened at once; latency = the page's request to run "
          "the script → its last figure message")
    print(f"{'sessions':>8} {'client':>20} {'p50 s':>6} {'max s':>6} {'drawn p50 s':>11} {'CPU s/view':>10} "
          f"{'errors':>6}")
    offset = 40_000
    for n in (1, 5):
        for client, warm, files in (("protocol", False, None), ("protocol", False, assets), ("browser", True, None),
                                    ("browser", False, None)):
            specs = [("compare", query("compare", offset + i), 0.0) for i in range(n)]
            offset += n
            views, cpu = run_views(server, client, specs, timeout_s, figures, warm, files)
            lat = [v.latency_s for v in views if v.ok]
            drawn = [v.page_s for v in views if v.ok and v.page_s == v.page_s]
            name = {("protocol", False): "protocol + front end" if files else "protocol",
                    ("browser", True): "browser, cached", ("browser", False): "browser, first visit"}[client, warm]
            cpu_view = "(+ warm-up)" if warm else f"{cpu / n:.3f}"
            print(f"{n:>8} {name:>20} {pct(lat, 0.5):>6.2f} {max(lat, default=float('nan')):>6.2f} "
                  f"{pct(drawn, 0.5):>11.2f} {cpu_view:>10} {sum(not v.ok for v in views):>6}", flush=True)


def idle(server: Server, n: int, timeout_s: float) -> None:
    """RSS growth per session that opened Learn and stays connected (its inputs already cached by the warm-up)."""
    async def run() -> tuple[int, int, list[View]]:
        hold, ready = asyncio.Event(), asyncio.Queue()
        await open_view(server.ws_url, "learn", "", timeout_s)
        before = await asyncio.to_thread(lambda: server.settle() and server.rss())
        tasks = [asyncio.create_task(open_view(server.ws_url, "learn", "", timeout_s, hold=hold, ready=ready))
                 for _ in range(n)]
        deadline = time.perf_counter() + timeout_s
        while ready.qsize() + sum(t.done() for t in tasks) < n and time.perf_counter() < deadline:
            await asyncio.sleep(0.2)  # until every session has its page (a failed one ends its task)
        after = await asyncio.to_thread(lambda: server.settle() and server.rss())
        hold.set()
        return before, after, list(await asyncio.gather(*tasks))

    before, after, views = asyncio.run(run())
    print(f"idle sessions: {n} on Learn, RSS {before / 2**20:.0f} → {after / 2**20:.0f} MiB: "
          f"{(after - before) / n / 2**20:.2f} MiB per idle session; errors {sum(not v.ok for v in views)}")


def soak(server: Server, minutes: float, rate: float, timeout_s: float) -> None:
    """One new session per 1/rate seconds across all pages, distinct inputs; RSS sampled every 10 s."""
    async def run() -> tuple[list[View], list[tuple[float, int]]]:
        t0 = time.perf_counter()
        views: list[asyncio.Task] = []
        samples: list[tuple[float, int]] = []
        i = 0
        while (now := time.perf_counter() - t0) < minutes * 60:
            if now >= i / rate:
                page = PAGES[i % len(PAGES)]
                views.append(asyncio.create_task(open_view(server.ws_url, page, query(page, 60_000 + i), timeout_s)))
                i += 1
            if not samples or now - samples[-1][0] >= 10:
                samples.append((now, server.rss()))
            await asyncio.sleep(0.05)
        return list(await asyncio.gather(*views)), samples

    views, samples = asyncio.run(run())
    warm = [rss for t, rss in samples if t >= 120] or [samples[-1][1]]
    bad = [v for v in views if not v.ok]
    lat = [v.latency_s for v in views if v.ok]
    print(f"soak: {minutes:g} min, {len(views)} views, errors {len(bad)}, p50 {pct(lat, 0.5):.2f} s, "
          f"p95 {pct(lat, 0.95):.2f} s; RSS after 2-min warm-up {warm[0] / 2**20:.0f} MiB, at end "
          f"{warm[-1] / 2**20:.0f} MiB ({100 * (warm[-1] / warm[0] - 1):+.1f} %), max {max(warm) / 2**20:.0f} MiB")
    for v in bad[:5]:
        print(f"  error on {v.page}: {v.error or v.exceptions}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--client", choices=["protocol", "browser"], default="protocol")
    ap.add_argument("--cost", action="store_true", help="server CPU per fresh view of every page")
    ap.add_argument("--views", type=int, default=3, help="views per page for --cost")
    ap.add_argument("--profile", type=Path, help="with --cost: py-spy raw profiles of the server, one per page")
    ap.add_argument("--sessions", type=int, nargs="*", default=[], help="sessions per load round")
    ap.add_argument("--within", type=float, nargs="+", default=[10.0], help="seconds over which they arrive")
    ap.add_argument("--pages", nargs="+", default=["compare"], choices=PAGES)
    ap.add_argument("--agree", action="store_true", help="protocol vs browser client at N = 1 and 5 (the server "
                                                         "pinned to one core, the clients to the others)")
    ap.add_argument("--idle", type=int, default=0, help="measure RSS per idle session with this many sessions")
    ap.add_argument("--soak", type=float, default=0, help="minutes of one view per second across all pages")
    ap.add_argument("--rate", type=float, default=1.0, help="views per second in --soak")
    ap.add_argument("--front-end", action="store_true", help="protocol sessions first fetch the front-end files a "
                                                              "first-time visitor's browser fetches (recorded once)")
    ap.add_argument("--pin", action="store_true", help="the server on one core, the clients on the others (always "
                                                         "with --agree): browsers then cannot take the server's core")
    ap.add_argument("--timeout", type=float, default=120, help="seconds a view may take")
    ap.add_argument("--model", default="demo-switch-8")
    ap.add_argument("--server-flag", action="append", default=[], help="extra `streamlit run` option")
    args = ap.parse_args()
    if max(args.sessions, default=0) > MAX_SESSIONS or args.idle > MAX_SESSIONS:
        raise SystemExit(f"at most {MAX_SESSIONS} sessions per round")
    if (args.client == "browser" or args.agree or args.front_end) and not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: install Debian's chromium (bash scripts/setup.sh --dev does).")
    cpus = None
    if (args.agree or args.pin) and len(os.sched_getaffinity(0)) >= 2:  # the server on one core, clients on others
        cpus = {min(os.sched_getaffinity(0))}
        os.sched_setaffinity(0, os.sched_getaffinity(0) - cpus)
    server = Server(args.model, flags=tuple(args.server_flag), cpus=cpus)
    try:
        figures = warm_up(server, args.timeout)
        assets: dict[str, tuple[str, ...]] = {}
        if args.front_end or args.agree:  # what a first-time visitor's browser fetches, per page
            assets = {p: tuple(asyncio.run(front_end_requests(server.url, p, query(p, 30_000), figures[p],
                                                              args.timeout))) for p in PAGES}
            print("front end per first visit: " + ", ".join(f"{p} {len(a)} files" for p, a in assets.items()))
        print(f"model {args.model}, {os.cpu_count()} cores, server flags {args.server_flag or 'none'}"
              + (f"; server pinned to core {sorted(cpus)}, clients to {sorted(os.sched_getaffinity(0))}" if cpus else ""))
        if args.cost:
            cost(server, args.client, args.views, args.timeout, figures, args.profile)
        if args.agree:
            agree(server, args.timeout, figures, assets)
        if args.sessions:
            load(server, args.client, args.sessions, args.within, args.pages, args.timeout, figures,
                 assets if args.front_end else None)
        if args.idle:
            idle(server, args.idle, args.timeout)
        if args.soak:
            soak(server, args.soak, args.rate, args.timeout)
        print(f"server peak RSS {server.peak_rss / 2**30:.2f} GiB, model loads {server.model_loads()}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
