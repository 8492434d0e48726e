"""MoE-fied dense encoders: partition, activation-mass routing, one-stack handling in analyses and pages."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest
from transformers import BertConfig, BertModel

from core.models.loading import load_model
from core.models.moefy import balanced_kmeans, packaged_model_dir, partition
from core.tracing.tracer import Tracer
from helpers import open_page


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory):
    """A tiny random BERT with the packaged MiniLM tokenizer (no download)."""
    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=2, max_position_embeddings=128))
    model.save_pretrained(folder)
    for f in packaged_model_dir().iterdir():
        if f.name.startswith(("tokenizer", "vocab", "special_tokens")):
            shutil.copy(f, folder / f.name)
    return folder


def test_partition_covers_every_neuron_once_balanced_and_deterministic(tiny_bert_dir, tmp_path):
    model = BertModel.from_pretrained(tiny_bert_dir)
    parts, cached = partition(model, 8, seed=0, cache=tmp_path)
    assert not cached and len(parts) == 2
    for p in parts:
        assert p.shape == (64,) and set(np.unique(p)) == set(range(8))  # every neuron in exactly one expert
        sizes = np.bincount(p, minlength=8)
        assert sizes.max() - sizes.min() <= 1 and sizes.sum() == 64
    again, cached = partition(model, 8, seed=0, cache=tmp_path)
    assert cached and all(np.array_equal(a, b) for a, b in zip(parts, again))
    fresh, cached = partition(model, 8, seed=0, cache=tmp_path / "other")
    assert not cached and all(np.array_equal(a, b) for a, b in zip(parts, fresh))  # deterministic for a seed


def test_balanced_kmeans_groups_similar_rows():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 16))
    rows = np.concatenate([c + 0.01 * rng.normal(size=(10, 16)) for c in centers])
    labels = balanced_kmeans(rows, 4, seed=0)
    for g in range(4):
        assert len(set(labels[g * 10 : (g + 1) * 10])) == 1


def test_routing_equals_activation_mass_from_a_hook(tiny_bert_dir):
    loaded = load_model(f"moefied:{tiny_bert_dir}@4")
    assert loaded.num_experts == 4 and loaded.stacks == ("encoder",)
    text = "I deposited cash at the bank"
    acts = {}
    handles = [layer.intermediate.register_forward_hook(lambda m, i, o, k=k: acts.__setitem__(k, o.detach()))
               for k, layer in enumerate(loaded.model.encoder.layer)]
    with torch.no_grad():
        loaded.model(**loaded.tokenizer(text, return_tensors="pt"))
    for h in handles:
        h.remove()
    trace = Tracer(loaded).trace(text, stacks=("encoder", "decoder"))[0]
    assert list(trace.stacks) == ["encoder"]  # one stack, whatever was asked
    enc = trace.stacks["encoder"]
    for layer in range(2):
        a = np.clip(acts[layer][0].numpy(), 0, None)
        labels = loaded.adapter.partition[layer]
        mass = np.stack([a[:, labels == e].sum(axis=1) for e in range(4)], axis=1)
        expected = mass / mass.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(enc.token_probs[layer], expected, atol=1e-5)
        assert np.allclose(enc.token_probs[layer].sum(-1), 1, atol=1e-5)
        assert (enc.top1[layer] == expected.argmax(-1)).all()
        assert not enc.dropped[layer].any()


def test_reproduce_on_a_one_stack_model(tiny_bert_dir, tmp_path, tmp_cache):
    from core.cli import main

    out = tmp_path / "out"
    assert main(["reproduce", "--model", f"moefied:{tiny_bert_dir}@4", "--limit", "30", "--out", str(out)]) == 0
    for name in ("table1", "table2", "cohens_d", "wic_kde"):
        frame = pd.read_csv(out / f"{name}.csv")
        assert set(frame["stack"]) == {"encoder"}, name
    assert len(pd.read_csv(out / "table1.csv")) == 2 and len(pd.read_csv(out / "table2.csv")) == 2
    assert "MoE-fied" in (out / "notes.txt").read_text() and "MoE-fied" in (out / "report.html").read_text()


@pytest.mark.app
def test_packaged_minilm_loads_verified_and_compares_on_one_stack(tmp_cache, monkeypatch):
    monkeypatch.delenv("ROUTING_LENS_MODEL", raising=False)
    at = open_page("app_pages/compare.py", timeout=180)
    assert not at.exception
    from core.models.registry import context_default_name

    # Compare opens on a real router: offline, the MiniLM with trained routers chosen on WiC dev
    assert at.session_state["model_ctx"] == context_default_name() and context_default_name().startswith("minilm-router-")
    at.sidebar.selectbox(key="model_ctx_picker").set_value("moefied-minilm-8").run()  # the MoE-fied one, by choice
    assert not at.exception and at.session_state["model_ctx"] == "moefied-minilm-8"
    at.text_input(key="cmp_s1").set_value("I deposited cash at the bank")
    at.text_input(key="cmp_s2").set_value("We fished from the river bank")
    at.text_input(key="cmp_s3").set_value("")  # two sentences alone: no control
    at.text_input(key="cmp_w").set_value("bank").run()
    assert not at.exception
    assert [m.label.split()[0] for m in at.metric] == ["encoder"]  # one stack: no decoder panel
    # JSS by layer, the pair on its WiC densities (bundled results), the strip of shared words ("the", "bank"), the
    # encoder's per-layer distributions and the word's path through its layers
    assert len(at.get("plotly_chart")) == 5
    assert any("activation mass" in c.value for c in at.caption)
    at.switch_page("app_pages/learn.py")
    at.run()
    assert not at.exception and any("MoE-fied, not a Switch" in i.value for i in at.info)
    # no walkthrough without a router (issue 14): the page says so and keeps MoE-fication in its own section
    assert any("no router" in i.value for i in at.info) and not at.get("plotly_chart")
    assert any("Routing without a router" in h.value for h in at.header)
    at.switch_page("app_pages/trace.py")
    at.run()
    assert not at.exception and at.session_state["model"] == "demo-switch-8"  # Trace keeps the Switch demo


@pytest.mark.app
def test_benchmarks_page_runs_a_moefied_model(tiny_bert_dir, tmp_cache, monkeypatch):
    monkeypatch.setenv("ROUTING_LENS_MODEL", f"moefied:{tiny_bert_dir}@4")
    at = AppTest.from_file("../app.py", default_timeout=300)
    at.run()
    at.switch_page("app_pages/benchmarks.py")
    at.run()
    at.number_input(key="bench_limit").set_value(25)
    at.button[0].click()  # the form's "Run analyses"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table1 = next(d.value for d in at.dataframe if "ρ [95% CI]" in d.value.columns)
    assert set(table1["stack"]) == {"encoder"} and len(table1) == 2
    assert len(at.get("plotly_chart")) >= 2  # Fig. 1 (WiC KDE) and Fig. 2 (Cohen's d) for this model
    assert any("MoE-fied" in n.value for n in at.info)  # the run's notes, said once
