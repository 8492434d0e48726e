"""Every page through streamlit's AppTest on a tiny model, including hostile input."""
from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.models.adapters import family_info
from core.models.loading import load_model
from core.studies.word_pair import compare_word, context_strip
from core.tracing.tracer import Tracer

pytestmark = pytest.mark.app  # every test here runs pages through AppTest

TIMEOUT = 120


@pytest.fixture()
def app_env(tiny_model_dir, tmp_cache, monkeypatch):
    monkeypatch.setenv("ROUTING_LENS_MODEL", str(tiny_model_dir))
    return tiny_model_dir


def _app(page: str | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.get("help"), "a bare expression was rendered by streamlit's magic"


def _array(values) -> list[float]:
    """A plotly spec's data array: a plain list, or plotly 7's typed array {'dtype', 'bdata' (base64)}."""
    if isinstance(values, dict) and "bdata" in values:
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)


def _charts(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def test_trace_page_renders_heatmaps(app_env):
    at = _app()
    _no_exception(at)
    # 2 example sentences x 2 stacks x (top-1 grid + layer stats), and the first sentence's 2 per-layer heatmaps per
    # stack: the second sentence's expanders are closed, and a closed one is not drawn
    assert _charts(at) == 12
    at.session_state["heat-open-1-encoder"] = True  # its expander opened: its heatmaps are drawn
    at.run()
    _no_exception(at)
    assert _charts(at) == 14
    # per sentence and stack, balance and decision margins per layer, from the trace on screen
    tables = [t.value for t in at.table if "CV of load (0 = balanced)" in t.value.columns]
    assert len(tables) == 4 and all(len(t) == 2 for t in tables)
    assert all(0 <= float(v) <= 1 for t in tables for v in t["median decision margin"])
    at.radio(key="trace_stacks").set_value("encoder").run()
    _no_exception(at)
    assert _charts(at) == 8  # 2 x (grid + stats) + both sentences' encoder heatmaps (the second's still open)
    at.radio(key="trace_level").set_value("token").run()
    _no_exception(at)
    assert len(at.get("download_button")) >= 2


HOSTILE = ["", "   \n  ", "bank " * 2000, "🙂🎉 emoji only 🙂", "中文的银行在河边", "שלום עולם مرحبا بالعالم",
           "<img src=x onerror=alert(1)>", "<script>alert('x')</script>", "\u200b\u200b"]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_trace_page_survives_hostile_input(app_env, text):
    at = _app()
    at.text_area(key="trace_text").set_value(text).run()
    _no_exception(at)
    if not text.strip():
        assert at.info and _charts(at) == 0
    elif "<" in text:
        assert any(text in t.value for t in at.text)  # shown literally, as text
        assert not at.get("html")
    if len(text) > 5000:
        assert any("only the first" in w.value for w in at.warning)


def test_compare_page_jss_equals_core_metrics(app_env, tiny_model_dir):
    at = _app("app_pages/compare.py")
    _no_exception(at)
    s1, s2 = "I sat on the river bank .", "The bank raised its rates ."
    at.text_input(key="cmp_s1").set_value(s1)
    at.text_input(key="cmp_s2").set_value(s2)
    at.text_input(key="cmp_s3").set_value("")  # two sentences alone: no control
    at.text_input(key="cmp_w").set_value("bank").run()
    _no_exception(at)
    tracer = Tracer(load_model(str(tiny_model_dir)))
    t1, t2 = tracer.trace([s1, s2])
    expected = compare_word(t1, (s1.index("bank"), s1.index("bank") + 4), t2, (4, 8))
    shown = {m.label.split()[0]: float(m.value) for m in at.metric}
    for stack, comp in expected.items():
        assert shown[stack] == pytest.approx(comp.mean_jss, abs=6e-4)
    # JSS per layer (with its yardsticks), each stack's distributions and the word's path through its layers, and the
    # strip of shared words ("the", "bank")
    assert _charts(at) == 6
    paths = [json.loads(c.proto.spec) for c in at.get("plotly_chart")
             if "top-1 path" in json.loads(c.proto.spec)["layout"]["title"]["text"]]
    assert len(paths) == 2  # one per stack: a link per sentence between its two sparse layers
    for fig, (_stack, comp) in zip(paths, expected.items()):
        assert len(fig["data"][0]["link"]["source"]) == 2 * (len(comp.layers) - 1)
        tops = [np.asarray(p).argmax(-1) for p in (comp.p1, comp.p2)]
        assert f"the same expert at {int((tops[0] == tops[1]).sum())} of" in fig["layout"]["title"]["text"].replace(
            "<br>", " ")
    assert at.query_params["w"] == ["bank"] or at.query_params["w"] == "bank"
    strip = context_strip(t1, t2)
    assert set(strip.word) == {"the", "bank"}
    figures = {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    bars = next(f for f in figures.values() if "shared word" in f["layout"]["title"]["text"].replace("<br>", " "))["data"]
    for bar in bars:
        part = strip[strip["stack"] == bar["name"]]
        assert _array(bar["y"]) == pytest.approx(list(part.jss), abs=1e-6)
    jss_lines = next(f for f in figures.values() if "per layer" in f["layout"]["title"]["text"].replace("<br>", " "))["layout"]
    yardsticks = [a["text"] for a in jss_lines["annotations"]]
    assert any("same sentence twice" in t for t in yardsticks) and any("unrelated words" in t for t in yardsticks)
    assert "demo" in " ".join(c.value for c in at.caption).lower() or "real router" in " ".join(
        c.value for c in at.caption)


@pytest.mark.parametrize("s1,s2,word,expect", [
    ("the bank is here", "no such word", "bank", "does not occur in sentence 2"),
    ("bank, bank and bank.", "the bank.", "bank", "radio"),
    ("On the bank, we sat.", "(bank) rates rose!", "bank", "ok"),
    ("<script>alert(1)</script> bank", "bank 🙂", "bank", "ok"),
    ("river bank", "river bank", "", "ok"),  # auto-detected
    ("", "bank", "bank", "info"),
])
def test_compare_page_odd_input(app_env, s1, s2, word, expect):
    at = _app("app_pages/compare.py")
    at.text_input(key="cmp_s1").set_value(s1)
    at.text_input(key="cmp_s2").set_value(s2)
    at.text_input(key="cmp_s3").set_value("")  # two sentences alone: no control
    at.text_input(key="cmp_w").set_value(word).run()
    _no_exception(at)
    if expect == "radio":
        assert at.radio(key="cmp_occ1") is not None and len(at.metric) == 2
    elif expect == "ok":
        assert len(at.metric) == 2
    elif expect == "info":
        assert at.info and not at.metric
    else:
        assert any(expect in w.value for w in at.warning)


def test_preset_fills_the_inputs(app_env):
    at = _app("app_pages/compare.py")
    from core.studies.word_pair import wic_presets

    box = at.selectbox(key="cmp_preset")
    chosen = next(p for p in wic_presets() if p.label == box.options[1])
    assert chosen.control  # the presets open on classic triplets: a same-meaning control beside the pair
    assert at.text_input(key="cmp_s1").value != chosen.sentence1  # the page opened on another pair
    box.set_value(box.options[1]).run()
    _no_exception(at)
    assert (at.text_input(key="cmp_s1").value, at.text_input(key="cmp_s2").value, at.text_input(key="cmp_w").value,
            at.text_input(key="cmp_s3").value) == (chosen.sentence1, chosen.sentence2, chosen.word, chosen.control)
    assert len(at.metric) == 4  # per stack: sentence 1 ⇄ 2 and sentence 1 ⇄ control
    assert "when its meaning changed" in at.success[0].value
    wic = next((p for p in wic_presets() if not p.control), None)
    if wic is None:
        pytest.fail("No WiC preset: the benchmark data folder is missing (ROUTING_LENS_DATA or ../shared/data).")
    box.set_value(wic.label).run()
    _no_exception(at)
    assert at.text_input(key="cmp_s3").value == "" and len(at.metric) == 2  # a WiC pair has no control


def test_bad_local_model_keeps_previous_model(app_env):
    at = _app()
    at.sidebar.selectbox(key="model_picker").set_value("Local folder…").run()
    at.sidebar.text_input(key="model_local_folder").set_value("/no/such/folder").run()
    _no_exception(at)
    assert any("does not exist" in e.value for e in at.sidebar.error)
    assert at.session_state["model"] == str(app_env)
    assert _charts(at) == 12  # the page still works on the previous model


def test_learn_walks_a_token_to_the_drop_the_library_makes(app_env, tiny_model_dir):
    """Every stage renders from the model's own numbers, and at the page's capacity the token it shows as dropped
    (and the count) is what transformers' own router drops when given that capacity at that layer."""
    from transformers.models.switch_transformers.modeling_switch_transformers import load_balancing_loss_func

    from core.models.adapters.switch import switch_routers

    at = _app("app_pages/learn.py")
    _no_exception(at)
    keys = {c.proto.id for c in at.get("plotly_chart")}
    assert len(keys) == 7  # logits, softmax, choice, queue, residual path, load balance, JSS
    sentence = at.text_input(key="learn_text").value
    capacity = at.slider(key="learn_capacity").value
    position = at.selectbox(key="learn_token").value
    layer = at.select_slider(key="learn_layer").value
    stack = at.radio(key="learn_stack").value
    assert stack == "encoder"  # the page opens on the encoder, whose rows are the input tokens
    loaded = load_model(str(tiny_model_dir), dtype="float32")
    router = dict(switch_routers(loaded.model)[stack])[layer]
    router.expert_capacity = capacity
    seen = {}
    hook = router.register_forward_hook(lambda _m, _i, out: seen.update(dispatch=out[0], logits=out[2]))
    ids = loaded.tokenizer(sentence, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        loaded.model(input_ids=ids, decoder_input_ids=loaded.model._shift_right(ids))
    hook.remove()
    library_dropped = (seen["dispatch"][0].sum(-1) == 0).numpy()
    assert library_dropped.any(), "the page's default capacity must reach a drop"
    from core.studies.walkthrough import is_word

    tokens = loaded.tokenizer.convert_ids_to_tokens(ids[0])
    words = [i for i in np.flatnonzero(library_dropped) if is_word(tokens[i])]
    assert words and position == int(words[0])  # the page follows the first dropped word (never a marker)
    markdown = " ".join(m.value for m in at.markdown)
    assert "**dropped**" in markdown
    assert any(f"{int(library_dropped.sum())} of {len(library_dropped)} tokens are dropped" in c.value
               for c in at.caption)
    # the load-balancing loss is transformers' own for these router probabilities
    probs = torch.softmax(seen["logits"].float(), -1)
    expected = float(load_balancing_loss_func(probs, probs.argmax(-1)))
    shown = next(float(m.value) for m in at.metric if "Auxiliary loss" in m.label)
    assert shown == pytest.approx(expected, abs=2e-3)
    # a smaller capacity drops more, a capacity as large as the sentence drops nothing
    at.slider(key="learn_capacity").set_value(len(library_dropped)).run()
    _no_exception(at)
    assert any(f"0 of {len(library_dropped)} tokens are dropped" in c.value for c in at.caption)


def test_learn_keeps_the_moefied_model_apart(app_env, monkeypatch):
    monkeypatch.setenv("ROUTING_LENS_MODEL", "moefied-minilm-8")
    at = _app("app_pages/learn.py")
    _no_exception(at)
    assert not at.get("plotly_chart")  # no walkthrough on a model without a router
    assert any("no router" in i.value for i in at.info)
    assert any("Routing without a router" in h.value for h in at.header)


def test_benchmarks_page_renders_saved_results(app_env, tmp_cache, tiny_model_dir):
    """Tabs around a claims matrix: the page opens on Claims, whose cells are claims.csv's verdicts (a model-level
    claim in each of its stack columns, "not applicable" where a claim cannot be judged), every verdict with a CI."""
    import pandas as pd

    from core.lens import reproduce
    from core.lens.compute import results_dir
    from core.viz.claims_plots import SYMBOLS

    tracer = Tracer(load_model(str(tiny_model_dir), dtype="float32"))
    folder = results_dir(["tiny"], 20)
    reproduce([tracer], folder, limit=20)
    at = _app("app_pages/benchmarks.py")
    _no_exception(at)
    assert [tab.label for tab in at.tabs] == ["Claims", "Tables 1–2", "Figures 1–3", "Router or representation?",
                                              "Across models", "Router designs", "Open questions", "Sensitivity",
                                              "Downloads"]
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert figures[0]["layout"]["title"]["text"].replace("<br>", " ").startswith("The paper's claims")  # the first thing drawn
    matrix = figures[0]["data"][0]
    saved = pd.read_csv(folder / "claims.csv")
    assert set(saved.verdict) <= {"supported", "contradicted", "inconclusive"} and len(saved) >= 5
    assert saved[["ci_low", "ci_high"]].notna().all().all()  # no verdict rests on a point estimate
    columns = list(matrix["x"])
    assert columns == ["tiny · encoder", "tiny · decoder"] or set(columns) == {f"{tracer.loaded.name} · encoder",
                                                                              f"{tracer.loaded.name} · decoder"}
    for r in saved.itertuples():
        row = next(i for i, label in enumerate(matrix["y"]) if label.replace("<br>", " ").startswith(r.claim))
        for stack in (["encoder", "decoder"] if r.stack == "both" else [r.stack]):
            column = columns.index(f"{r.model} · {stack}")
            assert matrix["text"][row][column].startswith(SYMBOLS[r.verdict]), (r.claim, stack)
            assert r.evidence.split(" [")[0] in matrix["hovertext"][row][column].replace("<br>", " ")
    judged = {(r.claim, s) for r in saved.itertuples() for s in (["encoder", "decoder"] if r.stack == "both"
                                                                  else [r.stack])}
    texts = [cell for row in matrix["text"] for cell in row]
    assert sum(t.startswith(SYMBOLS["not applicable"]) for t in texts) == len(texts) - len(judged)
    assert [t["name"] for t in figures[0]["data"][1:]] == [f"{SYMBOLS[v]} {v}" for v in SYMBOLS]  # the legend
    assert (folder / "claims_matrix.csv").is_file() and "\\toprule" in (folder / "claims_matrix.tex").read_text()
    assert any("How each claim is tested" in c.value or "CI" in c.value for c in at.caption)
    assert len(at.dataframe) >= 3  # the evidence list, table 1, table 2
    assert any("**tiny**" in m.value or f"**{tracer.loaded.name}**" in m.value for m in at.markdown)  # one line each
    assert len(at.get("download_button")) >= 9
    shown = next(d.value for d in at.dataframe if "ρ [95% CI]" in d.value.columns)
    assert list(shown["stack"]) == ["encoder", "decoder", "encoder", "decoder"]
    if not _charts(at) > 3:
        assert any("Figure 3 needs" in i.value for i in at.info)
    titles = [f["layout"]["title"]["text"].replace("<br>", " ") for f in figures]
    assert titles and not [t for t in titles if "float32" in t]  # the precision is said once, in the page's caption
    assert any("computed in float32" in m.value for m in at.markdown)
    fig2 = next(f for f in figures if f["layout"]["title"]["text"].replace("<br>", " ").startswith("Fig. 2"))
    assert all(trace.get("error_y", {}).get("array") for trace in fig2["data"])  # d with its CI at every layer
    fig1 = next(f for f in figures if f["layout"]["title"]["text"].replace("<br>", " ").startswith("Fig. 1"))
    assert all("n = " in trace["name"] for trace in fig1["data"] if trace.get("showlegend", True))
    assert any("--sensitivity" in c.value for c in at.caption)
    assert any("A subsample: a typical ρ here is known to about ±" in i.value for i in at.info)  # 20 rows: said


def test_a_difference_of_correlations_within_noise_is_inconclusive():
    """The association-vs-similarity claim on planted Table 1 rows: ρ 0.12 vs 0.05 from 353 and 999 pairs differ by
    less than their noise (point estimate +0.07, which the old rule called supported): inconclusive. The same
    difference from 20,000 pairs each is supported, and reversed it is contradicted."""
    import numpy as np
    import pandas as pd

    from core.measures.claim_tests import correlation_ci
    from core.studies.claims import judge_claims
    from core.studies.headline import association_gap

    def table1(rho_a: float, n_a: int, rho_s: float, n_s: int) -> pd.DataFrame:
        rows = []
        for setting, dataset, rho, n in (("association", "WordSim353", rho_a, n_a), ("similarity", "SimLex-999",
                                                                                  rho_s, n_s)):
            low, high = correlation_ci(rho, n)
            rows.append({"model": "m", "stack": "encoder", "setting": setting, "dataset": dataset, "rho": rho,
                         "ci_low": low, "ci_high": high, "p": 0.5, "n": n})
        return pd.DataFrame(rows)

    def verdict(t1: pd.DataFrame) -> str:
        names = t1.apply(lambda r: f"Table 1 ρ · {r.dataset} {r.setting}", axis=1)
        numbers = pd.concat([t1.assign(number=names, value=t1.rho, layer=np.nan)[
            ["number", "model", "stack", "layer", "value", "ci_low", "ci_high", "p", "n"]], association_gap(t1)])
        claims = judge_claims(numbers)
        return claims[claims.claim.str.startswith("Routing follows association")].verdict.iloc[0]

    assert verdict(table1(0.12, 353, 0.05, 999)) == "inconclusive"
    assert verdict(table1(0.12, 20_000, 0.05, 20_000)) == "supported"
    assert verdict(table1(0.05, 20_000, 0.12, 20_000)) == "contradicted"


def test_benchmarks_asks_the_decoder_reading_only_when_a_model_offers_two(app_env, monkeypatch):
    """The reading radio is there while a Switch model is on offer, and gone when every model on offer (and the
    one loaded) has one reading only (decoder-only models read their decoder one way)."""
    at = _app("app_pages/benchmarks.py")
    assert [r.key for r in at.radio if r.key == "bench_decoder_read"], "a Switch model is on offer: asked"
    import ui.benchmark_run
    from core.models.registry import list_models

    causal = [e for e in list_models() if e.family not in ("switch", "nllb_moe", "")]
    assert causal and all(len(family_info(e.family).decoder_reads) == 1 for e in causal)
    monkeypatch.setattr(ui.benchmark_run, "list_models", lambda: causal)
    monkeypatch.setenv("ROUTING_LENS_MODEL", "demo-mixtral-8")
    at = _app("app_pages/benchmarks.py")
    _no_exception(at)
    assert not [r for r in at.radio if r.key == "bench_decoder_read"]


@pytest.mark.slow
def test_benchmarks_page_runs_and_shows_the_sensitivity_table(app_env, tmp_cache):
    at = _app("app_pages/benchmarks.py")
    at.number_input(key="bench_limit").set_value(20)
    at.checkbox(key="bench_sensitivity").check()
    at.button[0].click().run()
    _no_exception(at)
    assert any(s.value == "Sensitivity to the open choices" for s in at.subheader)
    table = next(d.value for d in at.dataframe if "flips under" in d.value.columns)
    for col in ("precision: bfloat16", "decoder reading: label", "capacity: off", "flips under"):
        assert col in table.columns, col
    evidence = next(d.value for d in at.dataframe if "evidence" in d.value.columns)
    assert "survives every choice" in evidence  # each cell says whether its verdict survives every choice
    matrix = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    marks = [cell for row in matrix["text"] for cell in row if not cell.startswith("not applicable")]
    assert marks and all(cell.endswith(("✓", "⚠")) for cell in marks)
    changed = [h for row in matrix["hovertext"] for h in row if "changes under" in h]
    assert all("changes under " in h and len(h.split("changes under ")[1]) > 3 for h in changed)


def test_concurrent_sessions_get_their_own_results_and_one_model(app_env, monkeypatch):
    import core.models.loading as models

    calls = []
    real = models.load_model
    monkeypatch.setattr(models, "load_model", lambda *a, **k: calls.append(a) or real(*a, **k))
    from ui.model_cache import _load

    _load.clear()
    from streamlit import config

    # Each AppTest compiles the script in its own thread; keep magic's ast.parse out of it (CPython 3.11's AST
    # conversion is not thread-safe). The app's .streamlit/config.toml does the same for the server.
    monkeypatch.setattr(config, "get_option", lambda key, _real=config.get_option: False
                        if key == "runner.magicEnabled" else _real(key))
    sentences = ["the bank of the river", "a bat flew out", "spring is here at last", "he lit a match"]
    results: dict[int, AppTest] = {}

    def session(i: int) -> None:
        at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
        at.session_state["trace_text"] = sentences[i]
        at.run()
        results[i] = at

    threads = [threading.Thread(target=session, args=(i,)) for i in range(len(sentences))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1, "the model must be loaded once for all sessions"
    for i, at in results.items():
        _no_exception(at)
        assert [t.value for t in at.text][0] == sentences[i]
        assert _charts(at) == 8  # one sentence: 2 stacks x 4 charts


def test_benchmarks_page_labels_results_from_models_csv_alone(app_env, tmp_cache, tiny_model_dir):
    """Bug 4: the select box label read every CSV of every saved result on each rerun. An older result whose big
    CSVs are gone (or unreadable) must still be listed, labelled from models.csv, and the newest one shown."""
    import os
    import time

    from core.lens import reproduce
    from core.lens.compute import results_dir

    tracer = Tracer(load_model(str(tiny_model_dir), dtype="float32"))
    older = results_dir(["older"], 10)
    reproduce([tracer], older, limit=10)
    for name in ("wic_pairs", "wic_kde", "cohens_d", "polysemy", "polysemy_trend", "table1", "table2"):
        (older / f"{name}.csv").unlink()
    past = time.time() - 60
    os.utime(older, (past, past))
    newer = results_dir(["newer"], 12)
    reproduce([tracer], newer, limit=12)
    at = _app("app_pages/benchmarks.py")
    _no_exception(at)
    box = at.selectbox(key="bench_result")
    assert box.value == str(newer)
    labels = box.options  # AppTest lists the formatted labels
    # listed by models, precision, rows and date — never by the folder's hash
    assert any(Path(tracer.loaded.name).name in label and "10 rows per dataset" in label and "float32" in label
               for label in labels), labels
    assert not any(older.name in label or newer.name in label for label in labels)


def test_placement_caption_follows_the_named_threshold(app_env, monkeypatch):
    """Bug 5: the sidebar shows the placement for models past a named size (settings), not a bare 5e8."""
    import ui.sidebar

    at = _app()
    _no_exception(at)
    assert not any("Placement" in c.value for c in at.sidebar.caption)  # a tiny model, loaded whole
    monkeypatch.setattr(ui.sidebar, "PLACEMENT_CAPTION_MIN_PARAMS", 0)
    at = _app()
    _no_exception(at)
    assert any("Placement" in c.value and "loads whole" in c.value for c in at.sidebar.caption)


def test_decoder_reading_control_on_trace_and_compare(app_env, tiny_model_dir):
    """Both readings are one click away on the pages, and the page's numbers follow the choice."""
    at = _app()
    _no_exception(at)
    at.radio(key="trace_decoder_read").set_value("label").run()
    _no_exception(at)
    assert any("where it is predicted" in c.value for c in at.caption)
    assert _charts(at) == 12
    at = _app("app_pages/compare.py")
    _no_exception(at)
    input_jss = [m.value for m in at.metric]
    at.radio(key="cmp_decoder_read").set_value("label").run()
    _no_exception(at)
    label_jss = [m.value for m in at.metric]
    assert input_jss[0] == label_jss[0] and input_jss[1] != label_jss[1]  # encoder unchanged, decoder moves
    assert any("where it is predicted" in c.value for c in at.caption)


def test_compare_checks_a_half_precision_pair_against_float32(app_env, tiny_model_dir, monkeypatch):
    from core.settings import PRECISION_JSS_TOLERANCE
    from core.studies.word_pair import precision_check

    monkeypatch.setenv("ROUTING_LENS_DTYPE", "bfloat16")
    s1, s2 = "I sat on the river bank .", "The bank raised its rates ."
    at = _app("app_pages/compare.py")
    at.text_input(key="cmp_s1").set_value(s1)
    at.text_input(key="cmp_s2").set_value(s2)
    at.text_input(key="cmp_s3").set_value("")  # two sentences alone: no control
    at.text_input(key="cmp_w").set_value("bank").run()
    _no_exception(at)
    spans = ((s1.index("bank"), s1.index("bank") + 4), (4, 8))
    pairs = {}
    for dtype in ("bfloat16", "float32"):
        t1, t2 = Tracer(load_model(str(tiny_model_dir), dtype=dtype)).trace([s1, s2])
        pairs[dtype] = compare_word(t1, spans[0], t2, spans[1])
    checks = precision_check(pairs["bfloat16"], pairs["float32"])
    assert {c.stack for c in checks} == {"encoder", "decoder"}
    moved = [c for c in checks if c.moved(PRECISION_JSS_TOLERANCE)]
    warnings = " ".join(w.value for w in at.warning)
    captions = " ".join(c.value for c in at.caption)
    if moved:
        assert "rounding, not context" in warnings
        for c in moved:
            assert f"{c.jss_shown:.3f}" in warnings and f"{c.jss_float32:.3f}" in warnings
    else:
        assert "checked against float32" in captions and "rounding" not in warnings

    monkeypatch.setenv("ROUTING_LENS_DTYPE", "float32")
    at = _app("app_pages/compare.py")
    _no_exception(at)
    assert any("Computed in float32" in c.value for c in at.caption)


def test_compare_places_the_pair_among_the_models_own_wic_pairs(app_env, tmp_cache, tiny_model_dir):
    from core.lens import reproduce
    from core.lens.compute import results_dir
    from core.studies.pair_reference import place_pair, wic_reference

    at = _app("app_pages/compare.py")
    assert any("Run **Benchmarks**" in c.value for c in at.caption)  # no saved result yet: says how to get one
    tracer = Tracer(load_model(str(tiny_model_dir), dtype="float32"))
    folder = results_dir(["tiny"], 30)
    reproduce([tracer], folder, limit=30)
    at = _app("app_pages/compare.py")
    _no_exception(at)
    shown = {m.label.split()[0]: float(m.value) for m in at.metric if "1 ⇄ 2" in m.label}  # not the control's
    expected = place_pair(wic_reference(folder, tracer.loaded.name), shown)
    assert {p.stack for p in expected} == {"encoder", "decoder"}
    said = " ".join(m.value for m in at.markdown)
    for p in expected:
        assert f"more different than {p.more_different_than_same:.0%} of same-meaning WiC pairs" in said
    # the pair drawn on the model's own same/different-meaning densities, at its JSS
    reference = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                     if "WiC pairs" in json.loads(c.proto.spec)["layout"]["title"]["text"].replace("<br>", " "))
    marks = sorted(s["x0"] for s in reference["layout"]["shapes"])
    assert marks == pytest.approx(sorted(p.jss for p in expected), abs=6e-4)  # expected: from the shown metrics
    # the saved run is listed by the model folder's name, never its server path
    assert str(tiny_model_dir) not in " ".join(_app("app_pages/benchmarks.py").selectbox(key="bench_result").options)


def test_presenter_mode_hides_the_sidebar_and_advances(app_env, tmp_cache, tiny_model_dir):
    from core.lens import reproduce
    from core.lens.compute import results_dir

    reproduce([Tracer(load_model(str(tiny_model_dir), dtype="float32"))], results_dir(["tiny"], 20), limit=20)
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.query_params["present"] = "1"
    at.run()
    _no_exception(at)
    assert at.sidebar.children == {} and len(at.sidebar.selectbox) == 0  # no sidebar, no model picker
    assert not at.get("selectbox") and not at.get("text_input")  # no controls but the navigation
    assert "The question" in at.title[0].value
    from ui.presenter import MIN_FONT, STORY, TITLES

    seen, takeaways = [at.title[0].value], {}
    for step in STORY[1:]:
        at.button(key="present_next").click().run()
        _no_exception(at)
        seen.append(at.title[0].value)
        takeaways[step] = [m.value for m in at.markdown if m.value.startswith("**")]
        charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        if not charts:  # a 20-row run can lack a step's data (Figure 3's lemmas): said so, not blank
            assert [i for i in at.info if "nothing to show" in i.value], step
            continue
        assert len(charts) == 1, step  # one figure per step
        layout = charts[0]["layout"]
        if step != "claims":  # every figure projector-sized: no text under the minimum; the matrix sizes its own
            assert layout["font"]["size"] >= MIN_FONT, step
        assert layout["height"] <= 560, step  # with its title and takeaway, inside 720 px (the browser test measures)
    assert seen == [TITLES[s] for s in STORY]
    assert "context helps" not in " ".join(seen)  # a title never claims what the numbers may not show
    for step in ("fig1", "fig2", "table2", "claims"):
        assert takeaways[step], step  # each result step states its finding in one line
    assert at.query_params["step"] in ([str(len(STORY))], str(len(STORY)))
    assert at.button(key="present_next").disabled
    at.button(key="present_back").click().run()
    assert at.title[0].value == TITLES[STORY[-2]]
    at.button(key="present_exit").click().run()
    _no_exception(at)
    assert "present" not in at.query_params and not at.session_state["presenting"]


def test_a_deck_of_compare_links(app_env, tmp_cache):
    from ui.presenter import deck, parse_compare_link

    link = "http://server/compare?s1=I+sat+on+the+river+bank&s2=The+bank+raised+rates&w=bank"
    assert parse_compare_link(link).word == "bank" and parse_compare_link("s1=a&s2=b") is None
    steps = deck([link, "nonsense", link.replace("bank&", "bank+today&")])
    assert [n for n, _ in steps].count("compare") == 2  # the invalid link is skipped, the two valid ones kept
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.query_params.update({"present": "1", "step": "2", "compare": link})
    at.run()
    _no_exception(at)
    assert at.title[0].value == "One word, two contexts"
    assert "river" in " ".join(m.value for m in at.markdown)
    assert at.success and "bank" in at.success[0].value  # the verdict, not a bare number
    # a link with a control: the ordering, and the control's line beside the partner's
    at.query_params["compare"] = link + "&s3=We+walked+along+the+river+bank"
    at.run()
    _no_exception(at)
    assert "when its meaning changed" in at.success[0].value
    lines = [t["name"] for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]
    assert any("1 ⇄ 3 (same meaning)" in n for n in lines) and any("1 ⇄ 2" in n for n in lines)


def test_the_sidebar_enters_presenter_mode(app_env):
    """The button marks the session and the address (AppTest does not follow the st.rerun that switches the page;
    the real-browser test sees the switch)."""
    at = _app()
    at.sidebar.button(key="model_present").click().run()
    _no_exception(at)
    assert at.query_params["present"] in (["1"], "1") and at.session_state["presenting"]
