"""The lesson on the offline default (minilm-router-16) through the pages, as a class meets it: Compare opens on a
classic triplet with its verdict, Learn never shows a drop on a model without capacity, and the interventions the
default lacks say why, in one line."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.studies.homonym_triplets import TRIPLETS

pytestmark = pytest.mark.app
TIMEOUT = 180


@pytest.fixture
def default_app(tmp_cache, monkeypatch):
    monkeypatch.delenv("ROUTING_LENS_MODEL", raising=False)


def _page(page: str) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_compare_opens_on_a_triplet_and_says_the_ordering_first(default_app):
    at = _page("app_pages/compare.py")
    first = TRIPLETS[0]
    assert (at.text_input(key="cmp_s1").value, at.text_input(key="cmp_s2").value,
            at.text_input(key="cmp_s3").value) == (first.base, first.different, first.same)
    verdict = at.success[0].value
    assert verdict.startswith(f"*{first.word}* was routed more differently when its meaning changed")
    shown = {m.label: float(m.value) for m in at.metric}
    assert shown["encoder JSS, sentence 1 ⇄ 2"] < shown["encoder JSS, sentence 1 ⇄ control"]
    assert any("How much one word shows" in c.value for c in at.caption)
    # the same pair without its control: judged against short same-meaning pairs, never WiC's long ones
    at.text_input(key="cmp_s3").set_value("").run()
    assert not at.exception
    assert "short sentence pairs in which a word keeps its meaning" in at.success[0].value
    assert len(at.metric) == 1 and "WiC" not in at.success[0].value
    # the swap is absent on this model, and the page says why in one line
    assert any("no language-model head" in c.value and "demo-mixtral-8" in c.value for c in at.caption)


def test_learn_on_the_default_shows_no_drop_and_its_k_experts(default_app):
    at = _page("app_pages/learn.py")
    tokens = at.selectbox(key="learn_token")
    assert tokens.options and not any("(dropped)" in o for o in tokens.options)  # the formatted labels
    assert not [s for s in at.slider if s.key == "learn_capacity"]  # no capacity on the token's own path
    said = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "top-8 experts" in said and "no capacity limit at inference" in said
    headers = [h.value for h in at.subheader]
    assert not any("Dropped" in h or "capacity queue" in h for h in headers), headers
    assert "6 · Send it elsewhere" in headers
    assert any("no language-model head" in c.value for c in at.caption)


def test_an_intervention_is_read_in_words_and_kept_while_other_panels_run(tmp_cache, monkeypatch):
    monkeypatch.setenv("ROUTING_LENS_MODEL", "demo-mixtral-8")
    at = _page("app_pages/compare.py")
    at.button(key="cmp-swap-go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("only “bank”'s tokens are re-routed" in c.value for c in at.caption)
    reading = [m.value for m in at.markdown if "mean KL" in m.value and "nats" in m.value]
    assert reading and ("top prediction" in reading[0])
    assert any("predicts text poorly" in r for r in reading)  # the teaching model's predictions are noise
    at.toggle(key="cmp_controls").set_value(True).run()  # another panel runs
    assert not at.exception, [e.value for e in at.exception]
    assert any("routed as given (a swap)" in w.value for w in at.warning)  # the swap's result is still there
    warning = next(w.value for w in at.warning if "routed as given" in w.value)
    assert "every token" not in warning and "blocks 1," not in warning


def _present(query: dict) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.query_params.update({"present": "1", **query})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _spec(at: AppTest) -> dict:
    import json

    return json.loads(at.get("plotly_chart")[0].proto.spec)


def test_presenter_figures_read_on_a_projector(default_app):
    """Step 3 zooms Figure 1 to where its curves are (0.976 vs 0.968 apart on screen), step 9's legend lies in rows
    under the plot, and every slide of a deck of Compare links shares one y axis."""
    fig1 = _spec(_present({"step": "3"}))
    low, high = fig1["layout"]["xaxis"]["range"]
    assert 0.5 < low < high <= 1.01
    across = _spec(_present({"step": "9"}))
    assert across["layout"]["legend"]["orientation"] == "h"
    assert not [t["name"] for t in across["data"] if "(" in (t.get("name") or "")]
    t = TRIPLETS[0]
    links = [f"s1={t.base}&s2={t.different}&w={t.word}&s3={t.same}", "s1=A fly landed on my soup.&s2=Birds fly "
             "south.&w=fly"]
    ranges = [_spec(_present({"step": str(step), "compare": links}))["layout"]["yaxis"]["range"] for step in (2, 3)]
    assert ranges[0] == ranges[1]


def test_a_link_to_a_model_this_server_cannot_load_falls_back_on_the_page(default_app):
    """Offline, ?model=google/switch-base-8 opens Compare on the default with a note in the main area (the page
    still answers), never an empty page with the error in the sidebar."""
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.run()
    at.switch_page("app_pages/compare.py")
    at.query_params["model"] = "google/switch-base-8"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    note = [w.value for w in at.warning if "google/switch-base-8" in w.value]
    assert note and "minilm-router-16 instead" in note[0]
    assert at.success and "when its meaning changed" in at.success[0].value  # the page answers on the default


def test_experts_stacks_agree_and_jss_reads_as_a_number(default_app):
    """The page's stack picker and the Studies' one list the stacks in one order and open on the same one; the
    ablation table says which experts it lists; OpenMoE's early-learning JSS is a similarity, not a percentage."""
    import pandas as pd

    from core.viz.study_plots import early_learning_curve

    at = _page("app_pages/experts.py")
    top, studies = at.radio(key="xp_stack"), at.radio(key="st_stack_encoder")
    assert list(top.options) == list(studies.options) == ["encoder", "decoder"] and studies.value == "encoder"
    top.set_value("decoder").run()
    assert not at.exception and at.radio(key="st_stack_decoder").value == "decoder"
    assert any("measurably changes the loss" in c.value for c in at.caption)
    early = pd.DataFrame({"stack": "encoder", "layer": [1, 1], "order": [0, 1], "fraction": [0.1, 0.4],
                          "jss": [0.81, 0.9]})
    fig = early_learning_curve(early, "encoder")
    assert fig.layout.yaxis.tickformat == ".2f" and ":.3f}" in fig.data[0].hovertemplate


def test_a_result_without_a_sensitivity_table_shows_another_named_as_such(tiny_model_dir, tmp_cache, monkeypatch):
    """The bundled result leaves the sensitivity table out; its tab shows the first saved result that has one,
    saying whose it is, instead of an empty tab."""
    from core.lens import Lens
    from core.lens.compute import results_dir
    from core.models.loading import load_model
    from core.tracing.tracer import Tracer

    monkeypatch.setenv("ROUTING_LENS_MODEL", str(tiny_model_dir))
    Lens(Tracer(load_model(str(tiny_model_dir), dtype="float32"))).reproduce(results_dir(["tiny"], 20), limit=20,
                                                                             sensitivity=True, report=False)
    at = _page("app_pages/benchmarks.py")
    box = at.selectbox(key="bench_result")
    bundled = next(i for i, o in enumerate(box.options) if o.startswith("bundled with Routing Lens: demo-switch-8"))
    box.select_index(bundled).run()
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(i.value for i in at.info)
    assert "This result has no sensitivity table" in said and "Shown instead: the sensitivity table of" in said
    assert any("flips under" in d.value.columns for d in at.dataframe)
