"""The browser client: each view a fresh Chromium context (Debian's /usr/bin/chromium through playwright). It is the
check that the protocol client measures what a visitor sees; it cannot load a 2-core server with many sessions,
because the browsers then take the cores from the server."""
from __future__ import annotations

import asyncio
import time
import urllib.parse

from bench.load.protocol import View, record

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
RUNNING = '[data-testid="stStatusWidget"]'


async def _open(tab, address: str, figures: int, timeout_s: float) -> None:
    await tab.goto(address)
    await tab.wait_for_function(
        f"() => document.querySelectorAll('.js-plotly-plot').length >= {figures}"
        f" && document.querySelector('h1') && !document.querySelector('{RUNNING}')", timeout=timeout_s * 1000)


async def browser_view(browser, url: str, page: str, query: str, figures: int, timeout_s: float,
                       warm: bool = False) -> View:
    """Open `url/page?query` in a fresh context (`warm`: after the page's plain address in that context, so the
    front end is cached, as for a student's second link). Its websocket frames give the times the protocol client
    measures (the page's request to run the script → script finished, → last figure); `page_s` is navigation →
    the `figures` figures (as many as the protocol client counted on that page) drawn and the page not running."""
    view = View(page, query)
    context = await browser.new_context(viewport={"width": 1300, "height": 900})
    tab = await context.new_page()
    if warm:
        try:
            await _open(tab, f"{url}/{page}", figures, timeout_s)
        except Exception as err:  # noqa: BLE001 - recorded; the other sessions go on
            view.error = f"warming up: {type(err).__name__}: {str(err)[:150]}"
            await context.close()
            return view
    opened: list[float] = []
    ended: list[bool] = []

    def on_websocket(ws) -> None:
        """The page's own Streamlit connection, read with the protocol client's parser: the same two times, from
        the page's first message (its request to run the script), as the protocol client sends it on connecting."""
        if not ws.url.endswith("/_stcore/stream"):
            return
        ws.on("framesent", lambda data: opened or opened.append(time.perf_counter()))
        ws.on("framereceived", lambda data: isinstance(data, bytes) and opened and not ended
              and record(data, view, opened[0]) and ended.append(True))

    tab.on("websocket", on_websocket)
    t0 = time.perf_counter()
    try:
        await _open(tab, f"{url}/{page}" + (f"?{query}" if query else ""), figures, timeout_s)
        view.page_s = time.perf_counter() - t0
        if not ended:
            view.error = "the page finished without a script-finished message on its socket"
        for text in await tab.locator('[data-testid="stException"]').all_inner_texts():
            view.exceptions.append(text[:200])
    except Exception as err:  # noqa: BLE001 - recorded; the other sessions go on
        view.error = f"{type(err).__name__}: {str(err)[:150]}"
    finally:
        await context.close()
    return view


async def browser_views(url: str, specs: list[tuple[str, str, float, int]], timeout_s: float,
                        warm: bool = False) -> list[View]:
    """Views (page, query, start offset in seconds, figures expected) in one Chromium, concurrently."""
    from playwright.async_api import async_playwright

    async def one(page: str, query: str, delay: float, figures: int) -> View:
        await asyncio.sleep(delay)
        return await browser_view(browser, url, page, query, figures, timeout_s, warm)

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            return list(await asyncio.gather(*(one(*s) for s in specs)))
        finally:
            await browser.close()


async def front_end_requests(url: str, page: str, query: str, figures: int, timeout_s: float) -> list[str]:
    """The addresses a first-time visitor's browser fetches from the server for one page (the front end's files,
    its configuration, the favicon; not the websocket): what `open_view(..., assets=…)` fetches to cost the
    server what a new browser costs it."""
    from playwright.async_api import async_playwright

    host = urllib.parse.urlsplit(url).netloc
    seen: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            context = await browser.new_context()
            tab = await context.new_page()
            tab.on("request", lambda r: urllib.parse.urlsplit(r.url).netloc == host and r.method == "GET"
                   and not r.url.endswith("/_stcore/stream") and seen.append(r.url))
            await _open(tab, f"{url}/{page}" + (f"?{query}" if query else ""), figures, timeout_s)
        finally:
            await browser.close()
    return seen
