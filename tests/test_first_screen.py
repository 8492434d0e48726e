"""The answer on the first screen at 1280×720, on the models a class opens offline (no model named: Trace on the
Switch demo, Compare and Learn on minilm-router-16), in a real browser."""
from __future__ import annotations

import pytest

from app_server import _drawn, running_app

WIDTH, HEIGHT = 1280, 720


@pytest.fixture(scope="module")
def default_server(tmp_path_factory):
    env = dict(ROUTING_LENS_CACHE=str(tmp_path_factory.mktemp("cache")), ROUTING_LENS_MODEL="")
    with running_app(env, tmp_path_factory.mktemp("server") / "streamlit.log") as url:
        yield url


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    page.goto(url)
    page.wait_for_selector(".js-plotly-plot", timeout=120_000)
    _drawn(page, timeout=120_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    return page


def _top(page, selector: str) -> float:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not drawn"
    return box["y"]


def test_compare_says_its_verdict_on_the_first_screen(default_server, browser, tmp_path):
    page = _open(browser, f"{default_server}/compare")
    verdict = page.locator('[data-testid="stAlertContentSuccess"]').first
    verdict.wait_for(timeout=60_000)
    assert "when its meaning changed" in verdict.inner_text()
    top = verdict.bounding_box()["y"]
    page.screenshot(path=str(tmp_path / "compare.png"))
    assert top < HEIGHT, f"the verdict starts at {top:.0f} px"
    # the swap is absent on this model, and a line says why
    page.get_by_text("Does the difference matter?").first.click()
    page.get_by_text("no language-model head", exact=False).first.wait_for(timeout=30_000)


def test_trace_shows_its_top1_grid_on_the_first_screen(default_server, browser, tmp_path):
    page = _open(browser, default_server)
    top = _top(page, ".js-plotly-plot")
    page.screenshot(path=str(tmp_path / "trace.png"))
    assert top < HEIGHT - 100, f"the top-1 grid starts at {top:.0f} px"  # with its first rows, not just a title
    assert "top-1" in page.locator(".js-plotly-plot").first.inner_text().lower()


def test_learn_shows_a_figure_first_and_no_drop_on_a_model_without_capacity(default_server, browser, tmp_path):
    page = _open(browser, f"{default_server}/learn")
    top = _top(page, ".js-plotly-plot")
    page.screenshot(path=str(tmp_path / "learn.png"))
    assert top < HEIGHT - 100, f"Learn's first figure starts at {top:.0f} px"
    shown = page.locator("section.main, [data-testid='stMain']").first.inner_text()  # what is rendered and visible
    assert "dropped" not in shown.lower()
    assert "no language-model head" in shown  # step 6's absence, explained
