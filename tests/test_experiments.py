"""The analysis pipeline measures what it claims: planted signals come out, shuffled ones do not;
and the reproduction CLI runs end to end on a tiny real model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.studies.experiments import BenchmarkData, Results, run
from fakes import LEMMAS, E, FakeLoaded, FakeTracer, sense_count, write_synthetic_data


def test_planted_signal_is_found_and_shuffled_signal_is_not(tmp_path):
    alpha = write_synthetic_data(tmp_path)
    data = BenchmarkData.load(tmp_path)
    planted = run([FakeTracer(alpha, sense_planted=True)], data, sense_count)
    for frame in (planted.table1, planted.table2):
        assert (frame.rho > 0.99).all(), frame[["stack", "setting", "rho"]]
        assert (frame.p < 1e-10).all() and (frame.n == 120).all()
    d = planted.cohens_d
    assert (d.d > 3).all() and len(d) == 2 * 2 * 2  # pooled + model, 2 stacks, 2 layers
    assert len(planted.polysemy) == 2 * len(LEMMAS)

    keys = list(alpha)
    values = np.random.default_rng(1).permutation([alpha[k] for k in keys])
    shuffled = run([FakeTracer(dict(zip(keys, values)), sense_planted=False)], data, sense_count)
    for frame in (shuffled.table1, shuffled.table2):
        assert (frame.rho.abs() < 0.3).all(), frame[["stack", "setting", "rho"]]
    assert (shuffled.cohens_d.d.abs() < 0.5).all()


def test_kde_integrates_to_about_one(tmp_path):
    alpha = write_synthetic_data(tmp_path)
    res = run([FakeTracer(alpha, sense_planted=False)], BenchmarkData.load(tmp_path), sense_count)
    for _, g in res.wic_kde.groupby(["model", "stack", "label"]):
        assert 0.8 < np.trapezoid(g.density, g.x) < 1.05


COLUMNS = {
    "table1": ["model", "experts", "family", "decoder_read", "dtype", "table", "stack", "setting", "dataset", "rho", "p", "n", "ci_low", "ci_high",
               "published_rho", "difference"],
    "table2": ["model", "experts", "family", "decoder_read", "dtype", "table", "stack", "setting", "dataset", "rho", "p", "n", "ci_low", "ci_high",
               "published_rho", "difference"],
    "wic_pairs": ["model", "experts", "family", "decoder_read", "dtype", "pair", "split", "lemma", "pos", "label", "stack", "layer_pos", "layer", "jss", "margin", "rerouted"],
    "wic_kde": ["model", "stack", "label", "x", "density", "n"],
    "cohens_d": ["model", "stack", "layer_pos", "layer", "d", "ci_low", "ci_high", "p", "mean_T", "mean_F", "n_T", "n_F",
                 "near_tie_share", "d_confident", "d_confident_low", "d_confident_high", "near_tie_share_half",
                 "near_tie_share_double"],
    "polysemy": ["model", "experts", "family", "stack", "lemma", "pos", "senses", "senses_all_pos", "mean_jss_T",
                 "mean_jss_F", "difference", "n_T", "n_F"],
    "polysemy_trend": ["model", "stack", "slope", "intercept", "r", "p", "n", "senses"],
    "dropped": ["model", "experts", "family", "decoder_read", "dtype", "texts", "stack", "layer_pos", "layer", "dropped", "tokens", "share"],
    "layer_rho": ["model", "experts", "family", "decoder_read", "dtype", "table", "stack", "setting", "dataset", "rho", "p", "n",
                  "ci_low", "ci_high", "layer_pos", "layer"],
    "context_gain": ["model", "experts", "family", "decoder_read", "dtype", "stack", "dataset", "rho_without", "rho_with", "gain", "ci_low",
                     "ci_high", "p", "n", "williams_t", "williams_p"],
    "scws_footnote": ["statistic", "value", "paper", "n_identical", "n_pairs", "welch_p_scores"],
    "comparison": ["model", "family", "architecture", "experts", "top_k", "stack", "association ρ", "similarity ρ",
                   "SCWS ρ without context", "SCWS ρ with context", "context gain", "WiC mean JSS same",
                   "WiC mean JSS different", "WiC Cohen's d", "max layer d", "polysemy r", "WiC pairs"],
}


def test_reproduce_cli_end_to_end_on_tiny_model(tiny_model_dir, tmp_path, tmp_cache):
    from core.cli import main

    out = tmp_path / "out"
    rc = main(["reproduce", "--model", str(tiny_model_dir), "--limit", "40", "--out", str(out), "--dtype", "float32"])
    assert rc == 0
    for name, cols in COLUMNS.items():
        frame = pd.read_csv(out / f"{name}.csv")
        assert list(frame.columns) == cols, name
    t1, t2 = pd.read_csv(out / "table1.csv"), pd.read_csv(out / "table2.csv")
    assert len(t1) == 4 and len(t2) == 4
    for frame in (t1, t2):
        assert frame[["rho", "p", "ci_low", "ci_high"]].notna().all().all()
        assert frame.rho.between(-1, 1).all() and (frame.n == 40).all()
        # a local Switch model with 8 experts is not google/switch-base-8: no published value, no difference beside it
        assert frame.published_rho.isna().all() and frame.difference.isna().all()
    d = pd.read_csv(out / "cohens_d.csv")
    assert np.isfinite(d.d).all() and set(d["stack"]) == {"encoder", "decoder"}
    pairs = pd.read_csv(out / "wic_pairs.csv")
    assert len(pairs) == 40 * 2 * 2 and pairs.jss.between(0, 1).all()
    html = (out / "report.html").read_text()
    assert "Table 1" in html and "Fig. 1" in html and "published ρ" in html
    assert "google/switch-base-8 (published)" in html and "for reference only" in html  # the separate paper rows
    assert "<script src=\"https://cdn" not in html and "plotly" in html.lower()
    res = Results.load(out)
    assert len(res.table1) == 4
    # warm cache: a second run traces nothing new

    before = len(list((tmp_cache / "traces").rglob("*.rlt")))
    assert main(["reproduce", "--model", str(tiny_model_dir), "--limit", "40", "--out", str(out), "--dtype",
                 "float32"]) == 0
    assert len(list((tmp_cache / "traces").rglob("*.rlt"))) == before


def test_reproduce_bad_limit_is_a_clear_error(tiny_model_dir, capsys):
    from core.cli import main

    assert main(["reproduce", "--model", str(tiny_model_dir), "--limit", "1"]) == 2
    assert "--limit must be at least 3" in capsys.readouterr().err


def test_reproduce_reads_wordnet_from_the_given_data_dir(tiny_model_dir, tmp_cache, tmp_path, monkeypatch):
    """Bug 2: `reproduce(data_dir=...)` must take WordNet's lexnames from that folder too. Here the data exists
    only there: no default location holds any, and the cache has no WordNet copy yet."""
    from core.data import datadir
    from core.lens import reproduce
    from core.models.loading import load_model
    from core.tracing.tracer import Tracer

    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not (shared / "wordnet" / "lexnames").is_file():
        pytest.fail(f"The benchmark data is missing: expected it in {shared} (../shared/data beside the repository).")
    only_here = tmp_path / "my-data"
    only_here.mkdir()
    for name in ("wordsim353", "simlex999", "scws", "wic", "wordnet"):
        (only_here / name).symlink_to(shared / name)
    monkeypatch.delenv("ROUTING_LENS_DATA", raising=False)
    monkeypatch.setattr(datadir, "candidates", lambda: [])
    assert not (tmp_cache / "nltk_data").exists()
    tracer = Tracer(load_model(str(tiny_model_dir), dtype="float32"))
    results = reproduce([tracer], tmp_path / "out", data_dir=only_here, limit=30)
    assert (tmp_cache / "nltk_data" / "corpora" / "wordnet" / "lexnames").is_file()
    assert len(results.table1) and (tmp_path / "out" / "report.html").is_file()


def test_senses_are_lemma_exact_and_of_the_wic_part_of_speech():
    """`len(synsets("drawing"))` reaches "draw" and verbs: 42; drawing as a noun, lemma-exact, has 6 senses."""
    from core.data.wordnet import count_senses, wordnet

    wn = wordnet()
    assert count_senses(wn, "drawing", "N") == (6, 42)
    strict, all_pos = count_senses(wn, "bank", "N")
    assert all_pos == len(wn.synsets("bank"))
    assert strict == len([s for s in wn.synsets("bank", pos="n") if "bank" in s.lemma_names()]) < all_pos


def test_polysemy_frame_keeps_bothsense_counts_and_the_trend_uses_the_strict_one(tmp_path):
    alpha = write_synthetic_data(tmp_path)
    results = run([FakeTracer(alpha, sense_planted=True)], BenchmarkData.load(tmp_path), sense_count)
    poly = results.polysemy
    assert {"pos", "senses", "senses_all_pos"} <= set(poly.columns)
    assert (poly.senses_all_pos == 2 * poly.senses).all()  # the fake's two counts, kept apart
    from scipy import stats

    trend = results.polysemy_trend.set_index(["model", "stack"])
    for (model, stack), g in poly.groupby(["model", "stack"]):
        ok = g[g.senses > 0]
        expected = stats.linregress(ok.senses, ok.difference)  # the strict count, not senses_all_pos
        assert trend.loc[(model, stack), "slope"] == pytest.approx(expected.slope)
        assert trend.loc[(model, stack), "n"] == len(ok)


def test_published_values_sit_only_beside_the_papers_checkpoints(tmp_path):
    """google/switch-base-N gets the paper's ρ and a difference; any other model of the family only a reference."""
    import dataclasses

    from core.models.registry import resolve
    from core.viz.report import paper_reference

    alpha = write_synthetic_data(tmp_path)
    data = BenchmarkData.load(tmp_path)
    paper = FakeTracer(alpha, sense_planted=True)
    paper.loaded = dataclasses.replace(FakeLoaded(), entry=resolve(f"google/switch-base-{E}"),
                                       name=f"google/switch-base-{E}")
    other = FakeTracer(alpha, sense_planted=True)
    results = run([paper, other], data, sense_count)
    t1 = results.table1
    beside = t1[t1.model == f"google/switch-base-{E}"]
    assert beside.published_rho.notna().all() and np.allclose(beside.difference, beside.rho - beside.published_rho)
    assert t1[t1.model == "fake"].published_rho.isna().all()
    assert list(results.models.paper_reference) == [False, True]
    reference = paper_reference(results, "table1")
    assert set(reference.paper) == {f"google/switch-base-{E} (published)"} and len(reference) == 4


def test_dropped_share_counts_every_traced_slot(tmp_path):
    """A Switch model with expert capacity 1 drops most slots of a long text; the counter reports exactly that."""
    from core.models.loading import load_model
    from core.studies.targets import DropCounter
    from core.tracing.tracer import Tracer
    from helpers import build_tiny_switch

    folder = build_tiny_switch(tmp_path / "cap1", num_experts=4, expert_capacity=1)
    tracer = Tracer(load_model(str(folder), dtype="float32"))
    texts = ["the river bank was steep and the water ran fast", "a bat flew"]
    traces = tracer.trace(texts)
    counter = DropCounter()
    for t in traces:
        counter.add("test texts", t)
    frame = counter.frame({"model": "cap1"})
    assert set(frame["stack"]) == {"encoder", "decoder"} and len(frame) == 4
    for _, row in frame.iterrows():
        expected = sum(int(t.stacks[row["stack"]].dropped[row.layer_pos].sum()) for t in traces)
        assert row.dropped == expected and row.tokens == sum(len(t.tokens) for t in traces)
    assert frame.share.between(0.3, 1).all()  # capacity 1 of 4 experts: most of 13+ tokens cannot be served


def test_across_models_mean_of_per_model_d_and_average_rows(tmp_path):
    """Per-model results first; across models the mean of their d's (CI over models), pooled pairs kept apart; Tables
    1–2 get an average row, beside the paper's Avg. only when every averaged model is a paper checkpoint."""
    import dataclasses

    from core.measures.aggregate import MEAN_OF_MODELS
    from core.models.registry import resolve
    from core.studies.paper import published

    alpha = write_synthetic_data(tmp_path)
    data = BenchmarkData.load(tmp_path)
    tracers = []
    for name, noise in (("google/switch-base-8", False), ("google/switch-base-16", True)):
        t = FakeTracer(alpha, sense_planted=not noise)
        t.loaded = dataclasses.replace(FakeLoaded(), entry=resolve(name), name=name)
        tracers.append(t)
    results = run(tracers, data, sense_count)
    d = results.cohens_d
    per_model = d[d.model.isin(["google/switch-base-8", "google/switch-base-16"])]
    mean = d[d.model == MEAN_OF_MODELS]
    assert len(mean) == 4 and (d.model == "pooled").sum() == 4  # 2 stacks × 2 layers each
    for _, row in mean.iterrows():
        both = per_model[(per_model["stack"] == row["stack"]) & (per_model.layer_pos == row.layer_pos)].d
        assert row.d == pytest.approx(both.mean()) and row.ci_low < row.d < row.ci_high
    t1 = results.table1
    avg = t1[t1.model.str.startswith("average over E = 8")]
    assert len(avg) == 4
    paper_avg = published().query("table == 'table1' and experts == 0")
    for _, row in avg.iterrows():
        models = t1[(t1.model.str.startswith("google/")) & (t1["stack"] == row["stack"]) & (t1.setting == row.setting)]
        assert row.rho == pytest.approx(models.rho.mean())
        expected = paper_avg[(paper_avg["stack"] == row["stack"]) & (paper_avg.setting == row.setting)].published_rho
        assert row.published_rho == pytest.approx(float(expected.iloc[0]))
    single = run([FakeTracer(alpha, sense_planted=True)], data, sense_count)  # one model: nothing to average
    assert not single.table1.model.str.startswith("average").any() and MEAN_OF_MODELS not in set(single.cohens_d.model)


def test_per_layer_rho_sits_beside_the_stack_mean(tmp_path):
    """Tables 1–2 per sparse layer: one row per table row and layer; the planted signal is in every layer."""
    alpha = write_synthetic_data(tmp_path)
    results = run([FakeTracer(alpha, sense_planted=True)], BenchmarkData.load(tmp_path), sense_count)
    layers = results.layer_rho
    assert len(layers) == 2 * (len(results.table1) + len(results.table2))  # two sparse layers per stack
    assert set(layers.layer) == {1, 3} and (layers.rho > 0.99).all() and (layers.n == 120).all()
    merged = layers.merge(results.table1, on=["model", "stack", "setting"], suffixes=("_layer", "_mean"))
    assert np.allclose(merged.rho_layer, merged.rho_mean)  # the fake routes both layers alike


def test_trend_over_expert_counts_needs_three_and_finds_a_planted_decline(tmp_path):
    import dataclasses

    alpha = write_synthetic_data(tmp_path)
    data = BenchmarkData.load(tmp_path)
    keys = list(alpha)
    rng = np.random.default_rng(7)
    tracers = []
    for experts, shuffled in ((8, 0), (16, len(keys) // 2), (32, len(keys))):
        mixed = dict(alpha)
        picked = rng.choice(keys, size=shuffled, replace=False)
        for k, v in zip(picked, rng.permutation([alpha[k] for k in picked])):
            mixed[k] = v  # the more experts, the more of the planted signal is shuffled away
        t = FakeTracer(mixed, sense_planted=True)
        t.loaded = dataclasses.replace(FakeLoaded(), name=f"fake-{experts}", num_experts=experts)
        tracers.append(t)
    trend = run(tracers, data, sense_count).expert_trend
    assoc = trend[trend.number == "table1 association"]
    assert len(assoc) == 2 and (assoc.n == 3).all() and (assoc.experts == "8, 16, 32").all()
    assert (assoc.rho_over_experts == -1).all()
    assert run(tracers[:2], data, sense_count).expert_trend.empty  # two expert counts: no trend is reported


def test_near_tie_flips_are_counted_and_left_out_of_d_confident():
    """Four re-routed pairs, two of them near-ties (margin < 0.05): the share is one half, and d without them is d on
    the other pairs; pairs saved without margins give NaN, not a number."""
    from core.studies.wic import near_ties

    g = pd.DataFrame({"label": ["T"] * 4 + ["F"] * 4, "jss": [0.9, 0.8, 0.85, 0.2, 0.3, 0.4, 0.1, 0.95],
                      "rerouted": [False, False, True, True, True, True, False, True],
                      "margin": [0.5, 0.5, 0.3, 0.01, 0.4, 0.2, 0.5, 0.02]})
    out = near_ties(g)
    assert out["near_tie_share"] == pytest.approx(2 / 5)
    kept = g[~(g.rerouted & (g.margin < 0.05))]
    from core.measures.metrics import effect_size

    assert out["d_confident"] == pytest.approx(effect_size(kept.jss[kept.label == "T"].to_numpy(),
                                                           kept.jss[kept.label == "F"].to_numpy()).d)
    assert np.isnan(near_ties(g.drop(columns=["margin", "rerouted"]))["near_tie_share"])
