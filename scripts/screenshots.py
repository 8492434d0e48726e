"""Every screenshot in the README and the docs, taken from the running app: `python scripts/screenshots.py`.

Starts `streamlit run app.py` on loopback with the bundled models and results (what a first visitor sees, no
environment overrides), drives Debian's Chromium through playwright, and writes docs/screenshots/*.png: each page
at 1400×1000 and every presenter step at 1280×720 (a projector). Files of steps that no longer exist are removed,
so no screenshot can go stale; tests/test_docs.py checks that every image the docs show is one this script makes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the app's modules, and the tests' server helper

from app_server import CHROMIUM, FLAGS, running_app  # noqa: E402
from ui.presenter import STORY, TITLES  # noqa: E402

PAGE = (1400, 1000)
PROJECTOR = (1280, 720)
PAGES = {"trace": "", "learn": "learn", "compare": "compare", "benchmarks": "benchmarks", "experts": "experts"}
DRAWN = ("() => [...document.querySelectorAll('.js-plotly-plot')].every(p => p.querySelector('.main-svg'))"
         " && !document.querySelector('[data-testid=\"stStatusWidget\"]')"
         " && !document.querySelector('[data-stale=\"true\"]')")  # the last step's figure is gone


def shot_names() -> list[str]:
    """The files this script writes (what the docs may show)."""
    return [f"{name}.png" for name in PAGES] + ["across-models.png"] + [f"present-{i + 1}.png" for i in range(len(STORY))]


def _drawn(page) -> None:
    page.wait_for_selector(".js-plotly-plot", timeout=120_000)
    page.wait_for_function(DRAWN, timeout=120_000)


def take(out: Path) -> list[Path]:
    """Write every screenshot into `out` and return the files written."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with running_app({}, out / "streamlit.log") as url, sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": PAGE[0], "height": PAGE[1]})
        for name, path in PAGES.items():
            page.goto(f"{url}/{path}")
            _drawn(page)
            page.screenshot(path=str(out / f"{name}.png"))
            written.append(out / f"{name}.png")
            if name == "benchmarks":
                page.get_by_role("tab", name="Across models").first.click()
                page.wait_for_selector(".st-key-families .js-plotly-plot", timeout=120_000)
                page.wait_for_function(DRAWN, timeout=120_000)
                page.locator(".st-key-families").scroll_into_view_if_needed()
                page.screenshot(path=str(out / "across-models.png"))
                written.append(out / "across-models.png")
        deck = browser.new_page(viewport={"width": PROJECTOR[0], "height": PROJECTOR[1]})
        deck.goto(f"{url}/?present=1")
        for i, step in enumerate(STORY):
            deck.wait_for_function("t => document.querySelector('h1')?.innerText === t", arg=TITLES[step],
                                   timeout=120_000)
            if step != "question":
                _drawn(deck)
            deck.screenshot(path=str(out / f"present-{i + 1}.png"))
            written.append(out / f"present-{i + 1}.png")
            deck.locator("body").press("ArrowRight")
        browser.close()
    (out / "streamlit.log").unlink(missing_ok=True)
    for stale in set(out.glob("*.png")) - set(written):  # a step or page that no longer exists
        stale.unlink()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="where the PNGs go")
    args = parser.parse_args(argv)
    for path in take(args.out):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
