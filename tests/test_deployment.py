"""Deployment mode: in a locked-down server no URL and no widget loads, downloads or reveals anything outside the
allowlist; and in either mode a link's `model` never loads a path. Every entry point: URL parameters, the sidebar,
Compare's second model, Benchmarks."""
from __future__ import annotations

import threading
import time

import pytest
from streamlit.testing.v1 import AppTest

from ui.deployment import NOT_OFFERED, Deployment, default_allowlist, url_model
from ui.run_queue import RunQueue

pytestmark = pytest.mark.app  # every test here runs pages through AppTest

TIMEOUT = 120
PROBES = ["/etc", "../../root", "/root/.ssh", "models/../../etc", "C:\\Windows", "google/switch-base-128",
          "bert-base-uncased", "<script>alert(1)</script>", "x" * 20_000]


def _compare(query: dict[str, str]) -> AppTest:
    at = AppTest.from_file("../app_pages/compare.py", default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    return at


def _texts(at: AppTest) -> str:
    """Everything the page shows a visitor, as one string."""
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "text", "title", "subheader", "metric"):
        parts += [str(getattr(e, "value", "")) + str(getattr(e, "label", "")) for e in at.get(kind)]
    parts += [str(e.value) + str(e.options) for e in at.selectbox]
    return "\n".join(parts)


@pytest.fixture()
def served(tiny_model_dir, tmp_cache, monkeypatch):
    monkeypatch.setenv("ROUTING_LENS_MODEL", str(tiny_model_dir))
    monkeypatch.delenv("ROUTING_LENS_DEPLOY", raising=False)
    monkeypatch.delenv("ROUTING_LENS_ALLOWLIST", raising=False)
    return tiny_model_dir


def test_url_model_only_ever_names_a_registered_allowed_model():
    open_ = Deployment(False, frozenset())
    locked = Deployment(True, frozenset(default_allowlist()))
    for probe in PROBES[:5]:
        assert url_model(probe, open_) is None and url_model(probe, locked) is None  # a path: never, in either mode
    assert url_model("google/switch-base-8", open_) == "google/switch-base-8"  # registered, researcher mode
    assert url_model("google/switch-base-8", locked) is None  # not on the allowlist
    assert url_model("demo-switch-8", locked) == "demo-switch-8"
    assert set(default_allowlist()) >= {"demo-switch-8", "moefied-minilm-8"}
    assert not any(n.startswith("google/") for n in default_allowlist())


@pytest.mark.parametrize("probe", PROBES[:4])
def test_a_link_never_loads_a_path_even_outside_deployment_mode(served, probe):
    at = _compare({"model": probe})
    assert not at.exception
    assert at.session_state["model_ctx"] == str(served)  # the default, not the link's path
    shown = _texts(at)
    assert NOT_OFFERED in shown
    assert "config.json" not in shown and "does not exist" not in shown and "/root" not in shown


def test_locked_sidebar_offers_the_allowlist_only(served, monkeypatch):
    monkeypatch.setenv("ROUTING_LENS_DEPLOY", "1")
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    picker = at.sidebar.selectbox(key="model_picker")
    allowed = set(default_allowlist()) | {str(served)}
    names = {o.split(" — ")[0] for o in picker.options}  # options are shown as "name — description"
    assert names <= allowed and "Local folder…" not in names and len(names) >= 3
    assert not any(o.startswith("google/") for o in picker.options)


@pytest.mark.parametrize("probe", ["google/switch-base-8", "/etc", "<script>alert(1)</script>", "x" * 20_000])
def test_locked_links_load_nothing_outside_the_allowlist(served, monkeypatch, probe):
    monkeypatch.setenv("ROUTING_LENS_DEPLOY", "1")
    at = _compare({"model": probe, "model2": probe, "s1": "<script>alert(1)</script> bank " + "y" * 9000,
                   "s2": "the bank", "w": "bank"})
    assert not at.exception
    assert at.session_state["model_ctx"] == str(served)
    second = at.selectbox(key="cmp_model2")
    assert second.value is None and set(second.options) <= set(default_allowlist())
    shown = _texts(at)
    assert NOT_OFFERED in shown and "config.json" not in shown and "Hugging Face" not in shown
    assert len(at.text_input(key="cmp_s1").value) <= 5_000  # a link's text is capped like typed text


@pytest.mark.slow
def test_locked_benchmarks_caps_runs_and_offers_the_allowlist_only(served, monkeypatch):
    monkeypatch.setenv("ROUTING_LENS_DEPLOY", "1")
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.run()
    at.switch_page("app_pages/benchmarks.py")
    at.run()
    assert not at.exception
    models = at.multiselect(key="bench_models")
    assert set(models.options) <= set(default_allowlist()) | {str(served)}
    rows = at.number_input(key="bench_limit")
    assert rows.max == 200 and rows.min == 3  # no full-dataset run from a shared server
    assert at.checkbox(key="bench_sensitivity").disabled
    at.button[0].click().run()  # a capped run goes through the queue
    assert not at.exception
    assert len(at.dataframe) >= 3


def test_run_queue_serves_in_order_and_tells_each_its_place():
    """Conditions, not times: the first run holds its turn until both later visitors are seen waiting."""
    queue = RunQueue()
    order, places = [], {}
    first_in, release = threading.Event(), threading.Event()

    def first():
        with queue.turn():
            first_in.set()
            release.wait(30)
            order.append(0)

    def later(i: int):
        with queue.turn(lambda ahead: places.setdefault(i, ahead), poll_s=0.05):
            order.append(i)

    threads = [threading.Thread(target=first)]
    threads[0].start()
    assert first_in.wait(30)
    for i in (1, 2):
        t = threading.Thread(target=later, args=(i,))
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 30
        while i not in places and time.monotonic() < deadline:  # until visitor i is queued and told its place
            time.sleep(0.01)
    release.set()
    for t in threads:
        t.join(30)
    assert order == [0, 1, 2]
    assert places == {1: 1, 2: 2}  # one run ahead of the second visitor, two ahead of the third


@pytest.mark.parametrize(("raw", "shown"), [
    ("/root has no config.json", "root has no config.json"),
    ("Could not load '/srv/app/cache/m': OSError: No such file: '/srv/app/cache/m/config.json'",
     "Could not load 'm': OSError: No such file: 'config.json'"),
    ("C:\\Users\\ann\\data.csv is bad", "data.csv is bad"),
    ("~/cache/traces/ab/x.rlt is corrupt", "x.rlt is corrupt"),
    ("google/switch-base-8 and a/b, 3/4, and / or, http://x.org/a", "google/switch-base-8 and a/b, 3/4, and / or, "
                                                                   "http://x.org/a"),
])
def test_messages_shown_to_a_visitor_never_carry_a_server_path(raw, shown):
    from core.errors import DataError
    from ui.errors import message, scrub

    assert scrub(raw) == shown
    assert "/srv" not in message(DataError(raw)) and "/srv" not in message(OSError(raw))


def test_models_in_memory_are_bounded_by_a_memory_budget(tiny_model_dir, tiny_model_dir_4, tmp_cache, monkeypatch):
    from ui import model_cache

    model_cache._load.clear()
    model_cache._resident.clear()
    first = model_cache.get_tracer(str(tiny_model_dir))
    size = sum(p.numel() * p.element_size() for p in first.loaded.model.parameters())
    monkeypatch.setenv("ROUTING_LENS_MODEL_MEMORY_GIB", str(1.5 * size / 2**30))  # room for one of them, not two
    assert model_cache.get_tracer(str(tiny_model_dir)) is first  # held, not reloaded
    model_cache.get_tracer(str(tiny_model_dir_4))
    assert [name for name, _ in model_cache.resident_models()] == [str(tiny_model_dir_4)]  # the first was evicted
    monkeypatch.setenv("ROUTING_LENS_MODEL_MEMORY_GIB", "100")
    model_cache.get_tracer(str(tiny_model_dir))
    assert len(model_cache.resident_models()) == 2  # a budget with room keeps both
