"""The full-data results shipped with the project (results/bundled/, `python -m core reproduce --bundled`): complete,
compact, and what a fresh run of the same models gives."""
from __future__ import annotations

import numpy as np
import pytest

from core.results.bundled import BUNDLED_MODELS, bundled_dir
from core.results.store import Results

FOLDER = bundled_dir()


@pytest.fixture(scope="module")
def bundled() -> Results:
    if not (FOLDER / "models.parquet").is_file():
        pytest.fail(f"{FOLDER} has no bundled results: regenerate them with `python -m core reproduce --bundled`.")
    return Results.load(FOLDER)


def test_bundled_results_are_complete_full_data_and_small(bundled):
    assert list(bundled.models.model) == list(BUNDLED_MODELS)
    assert bundled.run_info is not None and not bundled.run_info.subsample  # the full datasets (run.json)
    assert bundled.run_info.models == list(BUNDLED_MODELS)
    assert set(bundled.wic_pairs.model) == set(BUNDLED_MODELS)
    assert len(bundled.table1) and len(bundled.table2) and len(bundled.cohens_d) and len(bundled.polysemy)
    files = list(FOLDER.iterdir())
    assert not [f for f in files if f.suffix == ".csv"] and not (FOLDER / "report.html").exists()
    # "a few MB in all": nine models with their per-pair controls are 9.0 MB (float64 JSS per pair and layer does not
    # compress: zstd level 19 saves 0.3 %)
    assert sum(f.stat().st_size for f in files) < 10 * 2**20


@pytest.mark.parametrize("model", ["demo-switch-8", "demo-mixtral-8", "moefied-minilm-8"])
def test_bundled_wic_pairs_match_a_fresh_run_on_a_subsample(bundled, model):
    """Twelve WiC pairs traced afresh (no cache) the way reproduce reads them: every layer's JSS as shipped."""
    from core.data.datadir import data_dir
    from core.measures.metrics import jss
    from core.models.loading import load_model
    from core.studies.experiments import BenchmarkData
    from core.studies.targets import Target, route_targets
    from core.tracing.tracer import Tracer

    wic = BenchmarkData.load(data_dir()).wic
    rng = np.random.default_rng(7)
    pairs = np.sort(rng.choice(len(wic), size=12, replace=False))
    sub = wic.iloc[pairs]
    tracer = Tracer(load_model(model, dtype="float32"), cache=None)
    targets = ([Target(t, word_index=i) for t, i in zip(sub.sentence1, sub.idx1)]
               + [Target(t, word_index=i) for t, i in zip(sub.sentence2, sub.idx2)])
    routes = route_targets(tracer, targets, ("encoder", "decoder"), "WiC subsample")
    shipped = bundled.wic_pairs[bundled.wic_pairs.model == model]
    checked = 0
    for stack, v in routes.items():
        fresh = jss(v[: len(sub)], v[len(sub):])  # (pairs, layers)
        for row, pair in enumerate(pairs):
            rows = shipped[(shipped["stack"] == stack) & (shipped.pair == pair)].sort_values("layer_pos")
            np.testing.assert_allclose(rows.jss.to_numpy(), fresh[row], rtol=0, atol=1e-5)
            checked += len(rows)
    assert checked >= 12


@pytest.mark.app
def test_benchmarks_opens_on_the_bundled_figures_with_no_run(tmp_cache, tiny_model_dir, monkeypatch):
    import json

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ROUTING_LENS_MODEL", str(tiny_model_dir))
    at = AppTest.from_file("../app.py", default_timeout=180)
    at.run()
    at.switch_page("app_pages/benchmarks.py")
    at.run()
    assert not at.exception
    assert any("bundled with Routing Lens" in m.value for m in at.markdown)  # nothing run yet: the bundled result
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"].replace("<br>", " ") for c in at.get("plotly_chart")]
    assert any(t.startswith("Fig. 1") or "WiC" in t for t in titles) and len(titles) >= 4
    assert len(at.dataframe) >= 3  # the claims' evidence, Table 1, Table 2
    published = next(t.value for t in at.table if t.value.index.name == "checkpoint (published)")
    assert "google/switch-base-8" in published.index
    assert not any("A subsample" in i.value for i in at.info)  # full data: no CI warning


def test_bundled_results_carry_the_controls(bundled):
    """`reproduce --bundled --controls`: every bundled model with a trained router has its controls (per layer and
    the stack mean), its SCWS rows and the control claim judged on a CI; the MoE-fied ones are named in the notes."""
    routed = {"demo-switch-8", "demo-switch-16", "demo-mixtral-8", "minilm-router-8", "minilm-router-16",
              "minilm-router-32"}
    assert bundled.run_info.controls and set(bundled.controls.model) == routed
    per_layer = bundled.controls[bundled.controls.layer_pos >= 0]
    assert per_layer[["d_routing", "d_cosine", "d_random_mean", "retention", "partial_r"]].notna().any().all()
    # two Switch models × two stacks, one decoder-only stack, three MiniLMs with trained routers (one encoder each)
    assert (bundled.controls.layer_pos == -1).sum() == 8
    assert set(bundled.controls_scws.setting) == {"without context", "with context"}
    control = bundled.claims[bundled.claims.claim.str.contains("random router")]
    assert len(control) == 8 and control[["ci_low", "ci_high"]].notna().all().all()
    assert any("moefied-minilm-8" in n.text and "no trained router" in n.text for n in bundled.notes)
    assert "d_overlap" in bundled.controls and bundled.controls[bundled.controls.model == "demo-mixtral-8"].d_overlap.notna().any()


@pytest.mark.parametrize("model", ["demo-switch-8", "demo-mixtral-8"])
def test_bundled_ablations_cover_every_expert(model):
    """results/ablation/<model>-brown (`python -m core ablate … --corpus nltk:brown`): every expert of every sparse
    layer removed once, overall and per Brown domain with CIs; demo-switch-8 also set against its corpus statistics."""
    import pandas as pd

    from core.corpus.results import ablation_folder
    from core.models.loading import load_model

    folder = ablation_folder(model)
    assert folder is not None and folder.parent.name == "ablation", f"no bundled ablation of {model}"
    frame = pd.read_parquet(folder / "ablation.parquet")
    loaded = load_model(model, dtype="float32")
    layers = {(s, int(b)) for s, found in loaded.adapter.routers(loaded.model).items() for b, _m in found}
    overall = frame[frame.group_kind == "all"]
    assert {(s, int(layer)) for s, layer in zip(overall["stack"], overall.layer)} == layers
    assert len(overall) == len(layers) * loaded.num_experts and overall[["ci_low", "ci_high"]].notna().all().all()
    assert frame[frame.group_kind == "domain"].group.nunique() >= 10  # the sample spans Brown's categories
    if model == "demo-switch-8":
        link = pd.read_parquet(folder / "observational_vs_causal.parquet")
        assert len(link) == len(layers) and link.rho.notna().all()
