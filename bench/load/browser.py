"""The browser client: each view a fresh Chromium context (Debian's /usr/bin/chromium through playwright). It is the
check that the protocol client measures what a visitor sees; it cannot load a 2-core server with many sessions,
because the browsers then take the cores from the server."""
from __future__ import annotations

import asyncio
import time

from bench.load.protocol import View

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
RUNNING = '[data-testid="stStatusWidget"]'


async def browser_view(browser, url: str, page: str, query: str, figures: int, timeout_s: float) -> View:
    """Open `url/page?query` in a fresh context; done when the page shows its `figures` figures (as many as the
    protocol client counted on that page) and has stopped running."""
    view = View(page, query)
    context = await browser.new_context(viewport={"width": 1300, "height": 900})
    tab = await context.new_page()
    t0 = time.perf_counter()
    try:
        await tab.goto(f"{url}/{page}" + (f"?{query}" if query else ""))
        await tab.wait_for_function(
            f"() => document.querySelectorAll('.js-plotly-plot').length >= {figures}"
            f" && document.querySelector('h1') && !document.querySelector('{RUNNING}')", timeout=timeout_s * 1000)
        view.finished_s = time.perf_counter() - t0
        view.figures = await tab.locator(".js-plotly-plot").count()
        if view.figures:
            view.last_figure_s = view.finished_s
        for text in await tab.locator('[data-testid="stException"]').all_inner_texts():
            view.exceptions.append(text[:200])
    except Exception as err:  # noqa: BLE001 - recorded; the other sessions go on
        view.error = f"{type(err).__name__}: {str(err)[:150]}"
    finally:
        await context.close()
    return view


async def browser_views(url: str, specs: list[tuple[str, str, float, int]], timeout_s: float) -> list[View]:
    """Views (page, query, start offset in seconds, figures expected) in one Chromium, concurrently."""
    from playwright.async_api import async_playwright

    async def one(page: str, query: str, delay: float, figures: int) -> View:
        await asyncio.sleep(delay)
        return await browser_view(browser, url, page, query, figures, timeout_s)

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            return list(await asyncio.gather(*(one(*s) for s in specs)))
        finally:
            await browser.close()
