"""Every screenshot in the README and the docs, taken from the running app: `python scripts/screenshots.py`.

Starts `streamlit run app.py` on loopback with the bundled models and results (what a first visitor sees, no
environment overrides), drives Debian's Chromium through playwright, and writes docs/screenshots/*.png: each page
at 1400×1000 and every presenter step at 1280×720 (a projector). Files of steps that no longer exist are removed,
so no screenshot can go stale; tests/test_docs.py checks that every image the docs show is one this script makes.
"""
from __future__ import annotations

import argparse
import os
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
    return ([f"{name}.png" for name in PAGES] + ["across-models.png"] + [f"present-{i + 1}.png" for i in range(len(STORY))]
            + ["class-board.png", "class-phone.png"])


def _drawn(page) -> None:
    page.wait_for_selector(".js-plotly-plot", timeout=120_000)
    page.wait_for_function(DRAWN, timeout=120_000)


def take(out: Path) -> list[Path]:
    """Write every screenshot into `out` and return the files written."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    class_db = {"ROUTING_LENS_CLASS_DB": f"sqlite:///{out / 'class.sqlite'}"}  # a throwaway room, not the user's
    os.environ.update(class_db)
    with running_app(class_db, out / "streamlit.log") as url, sync_playwright() as play:
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
        written += _class_room(browser, url, out)
        browser.close()
    (out / "streamlit.log").unlink(missing_ok=True)
    for leftover in out.glob("class.sqlite*"):
        leftover.unlink()
    for stale in set(out.glob("*.png")) - set(written):  # a step or page that no longer exists
        stale.unlink()
    return written


CLASS_PAIRS = [("bank", "I sat on the river bank.", "She deposited the money at the bank.", "different"),
               ("bat", "A bat flew out of the cave at dusk.", "He swung the bat and hit the ball.", "different"),
               ("spring", "We planted tulips this spring.", "The spring in the mattress is broken.", "different"),
               ("ring", "She wore a gold ring.", "He bought her a diamond ring.", "same"),
               ("bank", "The bank raised its rates.", "The bank closed my account.", "same"),
               ("light", "The box is light.", "Turn on the light.", "different"),
               ("bark", "The dog's bark woke me.", "The dog began to bark.", "same")]


def _class_room(browser, url: str, out: Path) -> list[Path]:
    """The class room: the teacher's board at projector size after the class's pairs (submitted through the same
    call the page makes, each compared by the model), and a student's phone with their own result."""
    from core.lens import Lens
    from core.lens.classroom import submit_pair

    board = browser.new_page(viewport={"width": PROJECTOR[0], "height": PROJECTOR[1]})
    board.goto(f"{url}/class")
    board.get_by_role("button", name="Start a class").click()
    board.wait_for_function("() => location.search.includes('room=')", timeout=120_000)
    code = board.url.split("room=")[1][:6]
    lens = Lens(_default_model())
    for i, (word, s1, s2, judgement) in enumerate(CLASS_PAIRS):
        submit_pair(lens, code, f"shot-{i}", word, s1, s2, judgement, nickname=f"student {i + 1}")
    board.wait_for_function("n => [...document.querySelectorAll('[data-testid=\"stMetricValue\"]')]"
                            ".some(e => e.innerText.trim() === String(n))", arg=len(CLASS_PAIRS), timeout=120_000)
    _drawn(board)
    board.screenshot(path=str(out / "class-board.png"))
    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.goto(f"{url}/class?room={code}")
    phone.get_by_label("Word", exact=True).fill("bank")
    phone.get_by_label("Sentence 1", exact=True).fill("We walked along the bank of the river.")
    phone.get_by_label("Sentence 2", exact=True).fill("The bank gave me a loan.")
    phone.get_by_text("different meaning", exact=True).click()
    phone.get_by_role("button", name="Submit").click()
    phone.wait_for_selector("text=Stored", timeout=120_000)
    phone.screenshot(path=str(out / "class-phone.png"), full_page=True)
    return [out / "class-board.png", out / "class-phone.png"]


def _default_model() -> str:
    from core.models.registry import context_default_name

    return context_default_name()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="where the PNGs go")
    args = parser.parse_args(argv)
    for path in take(args.out):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
