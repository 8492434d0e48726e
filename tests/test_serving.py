"""Serving a class: the serving configuration, figures shared between sessions, deep links on a fresh server, and
links whose text carries markdown or HTML (real browser: Debian's Chromium)."""
from __future__ import annotations

import subprocess
import sys
import tomllib
import urllib.parse

import pytest
from streamlit.testing.v1 import AppTest

from app_server import ROOT, running_app
from ui.safe_text import WORD_JOINER

TIMEOUT = 120
NAV = ["Trace", "Learn", "Compare", "Benchmarks", "Experts", "Class"]  # Learn second: the explainer beside the landing page


def test_serving_configuration_has_file_watching_off_and_a_viewer_toolbar():
    """What `streamlit run app.py` reads from .streamlit/config.toml, as Streamlit itself resolves it."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none" and config["server"]["runOnSave"] is False
    probe = ("from streamlit import config; config.get_config_options(force_reparse=True); "
             "print(*(config.get_option(k) for k in ('server.fileWatcherType', 'server.runOnSave', "
             "'runner.postScriptGC', 'client.toolbarMode')))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["none", "False", "False", "viewer"]


def _compare(s1: str, s2: str, word: str) -> AppTest:
    at = AppTest.from_file("../app_pages/compare.py", default_timeout=TIMEOUT)
    at.query_params.update({"s1": s1, "s2": s2, "w": word})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.app
def test_a_second_session_opening_the_same_compare_link_builds_no_figure_again(tiny_model_dir, tmp_cache,
                                                                               monkeypatch):
    from ui.figures import builds

    monkeypatch.setenv("ROUTING_LENS_MODEL", str(tiny_model_dir))
    link = ("I sat on the river bank at dawn.", "The bank raised its rates at dawn.", "bank")
    before = sum(builds.values())
    first = _compare(*link)
    built = sum(builds.values()) - before
    assert built >= 3 and len(first.get("plotly_chart")) >= 3  # the first visitor's figures were built
    second = _compare(*link)  # a new session: its own session state, the same address
    assert sum(builds.values()) - before == built
    assert len(second.get("plotly_chart")) == len(first.get("plotly_chart"))
    assert [c.proto.spec for c in second.get("plotly_chart")] == [c.proto.spec for c in first.get("plotly_chart")]
    _compare("We walked along the bank of the river.", "A bank lent them money.", "bank")
    assert sum(builds.values()) - before > built  # other sentences: their own figures


def _wait_for_page(page, ready: str) -> None:
    """Until the page's own element is there and the script has stopped running."""
    page.wait_for_function(
        f"() => document.querySelector('h1') && document.querySelector({ready!r})"
        " && !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=90_000)


DEEP_LINKS = [  # page address, a query string, the page's title, an element the page shows when done
    ("", "text=" + urllib.parse.quote("The spring in the mattress is broken."), "Trace", ".js-plotly-plot"),
    ("compare", urllib.parse.urlencode({"s1": "I sat on the bank.", "s2": "The bank lent money.", "w": "bank"}),
     "Compare", ".js-plotly-plot"),
    ("benchmarks", "bench=1", "Benchmarks", "[data-testid='stForm']"),
    ("learn", "step=1", "Learn", ".js-plotly-plot"),
    ("experts", "token=bank", "Experts", ".js-plotly-plot"),
]


@pytest.mark.parametrize(("path", "query", "title", "ready"), DEEP_LINKS, ids=[d[2] for d in DEEP_LINKS])
def test_a_deep_link_opened_first_on_a_fresh_server_shows_the_app(browser, tiny_model_dir, tmp_path, path, query,
                                                                  title, ready):
    """The class arrives through the teacher's link before anyone has opened /: the app's navigation (labels, no
    raw file names), its wide layout and the intended page, with and without parameters."""
    env = {"ROUTING_LENS_MODEL": str(tiny_model_dir), "ROUTING_LENS_CACHE": str(tmp_path / "cache")}
    with running_app(env, tmp_path / "streamlit.log") as url:
        for address in (f"{url}/{path}?{query}", f"{url}/{path}"):
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.goto(address)
            _wait_for_page(page, ready)
            assert page.locator("h1").first.inner_text().startswith(title), address
            page.wait_for_selector('[data-testid="stSidebarNavLink"]')
            links = [t.split("\n") for t in page.locator('[data-testid="stSidebarNavLink"]').all_inner_texts()]
            assert [lines[-1] for lines in links] == NAV, address  # the app's labels, not file names
            assert all(len(lines) > 1 and lines[0] for lines in links), links  # each with its icon
            width = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()["width"]
            assert width > 900, (address, width)  # the wide layout (the centred one is 736 px at most)
            assert page.locator('[data-testid="stException"]').count() == 0
            context.close()


def test_present_address_opened_first_on_a_fresh_server_opens_presenter_mode(browser, tiny_model_dir, tmp_path):
    env = {"ROUTING_LENS_MODEL": str(tiny_model_dir), "ROUTING_LENS_CACHE": str(tmp_path / "cache")}
    with running_app(env, tmp_path / "streamlit.log") as url:
        for address, heading in ((f"{url}/present", "The question"), (f"{url}/?present=1&step=2", "One word")):
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.goto(address)
            _wait_for_page(page, "h1")
            page.wait_for_function(f"() => document.querySelector('h1').innerText.startsWith({heading!r})")
            assert page.locator('[data-testid="stSidebarNavLink"]').count() == 0  # no navigation while presenting
            context.close()


EVIL = ("[click here](https://elsewhere.invalid/login) ![t](https://elsewhere.invalid/pixel.png) "
        "<img src=https://elsewhere.invalid/i.png> <b>BOLDX</b> https://elsewhere.invalid/bare www.elsewhere.invalid")
DECK = "?" + urllib.parse.urlencode({"s1": f"the bank {EVIL}", "s2": f"{EVIL} a bank", "w": "bank"})
HOSTILE_LINKS = [  # address, an element the page shows when done
    ("compare?" + urllib.parse.urlencode({"s1": f"the bank {EVIL}", "s2": f"{EVIL} a bank", "w": "bank"}),
     ".js-plotly-plot"),
    ("compare?" + urllib.parse.urlencode({"s1": f"bank {EVIL} bank", "s2": "a bank", "w": "bank"}),
     "[data-testid='stRadio']"),  # the word twice: the occurrence picker quotes the sentence
    ("compare?" + urllib.parse.urlencode({"s1": "the bank", "s2": "a bank", "w": EVIL}), "[data-testid='stAlert']"),
    ("?" + urllib.parse.urlencode({"present": "1", "step": "2", "compare": DECK}), ".js-plotly-plot"),
    ("?" + urllib.parse.urlencode({"present": "1", "step": "2", "compare": DECK.replace("w=bank", "w=" + urllib.parse
                                                                                           .quote(EVIL[:60]))}),
     "[data-testid='stAlert']"),
    ("?" + urllib.parse.urlencode({"text": EVIL}), ".js-plotly-plot"),
    ("experts?" + urllib.parse.urlencode({"token": "[x](https://elsewhere.invalid/t)"}), "[data-testid='stAlert']"),
]


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    env = {"ROUTING_LENS_MODEL": str(tiny_model_dir), "ROUTING_LENS_CACHE": str(tmp_path_factory.mktemp("cache"))}
    with running_app(env, tmp_path_factory.mktemp("server") / "streamlit.log") as url:
        yield url


@pytest.mark.parametrize(("address", "ready"), HOSTILE_LINKS, ids=range(len(HOSTILE_LINKS)))
def test_text_from_a_link_stays_text(server, browser, address, ready):
    """Markdown or HTML in a link's sentences, word or deck renders no anchor, image or HTML element, and the
    browser asks no other host for anything."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    hosts: set[str] = set()
    page.on("request", lambda r: hosts.add(urllib.parse.urlsplit(r.url).hostname or ""))
    page.goto(f"{server}/{address}")
    _wait_for_page(page, ready)
    planted = page.evaluate("""() => [
        ...document.querySelectorAll('[href*="elsewhere"], [src*="elsewhere"], [srcset*="elsewhere"]')].length
        + [...document.querySelectorAll('b, strong, u, em, i')].filter(e => e.textContent.includes('BOLDX')).length""")
    assert planted == 0
    assert hosts <= {"127.0.0.1", ""}, hosts
    assert page.locator('[data-testid="stException"]').count() == 0
    shown = page.inner_text("body") + " ".join(page.locator("input, textarea").evaluate_all("es => es.map(e => e.value)"))
    if ready == ".js-plotly-plot":
        # the characters themselves, as text (an invisible word joiner keeps a bare URL from becoming a link)
        assert "[click here](https://elsewhere.invalid/login)" in shown.replace(WORD_JOINER, "")
    context.close()
