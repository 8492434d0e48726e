"""The MoE-fied MiniLM with trained routers (minilm-router-E): real sparse inference, exactness at k = E, seeded
training on NLTK text only, the bundled folders, the offline default, the ablation objective and the pages."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from core.data.datasets import load_scws, load_wic
from core.lens import Lens
from core.models.loading import load_model
from core.models.moefy import PACKAGED_WEIGHTS_SHA256, packaged_model_dir
from core.models.registry import CONTEXT_DEFAULT_FILE, context_default_name, list_models
from core.models.routed_experts import mode, routed_blocks
from core.settings import BUNDLED_MODELS_DIR, REPO_ROOT
from core.tracing.tracer import Tracer
from core.training.router_training import SOURCES, RouterSettings, train_routers, training_text
from helpers import open_page

ROUTED = ("minilm-router-8", "minilm-router-16", "minilm-router-32")
TINY = dict(sentences_per_source=40, partition_sentences=16, router_sentences=48, router_steps=5, heldout_sentences=8,
            max_length=24)


@pytest.fixture(scope="module")
def routed8():
    return load_model("minilm-router-8", dtype="float32")


@pytest.fixture(scope="module")
def dense():
    folder = packaged_model_dir()
    return AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


def test_the_three_models_are_bundled_and_listed():
    names = [e.name for e in list_models()]
    for name in ROUTED:
        folder = BUNDLED_MODELS_DIR / name
        record = json.loads((folder / "router.json").read_text())
        assert name in names and (folder / "routers.safetensors").is_file() and (folder / "MODEL_CARD.md").is_file()
        assert record["base_sha256"] == PACKAGED_WEIGHTS_SHA256
        s = record["settings"]
        assert s["top_k"] <= s["experts"] // 2  # at most half of the experts run
    seconds = [json.loads((BUNDLED_MODELS_DIR / n / "router.json").read_text())["seconds"]["training"] for n in ROUTED]
    assert sum(seconds) < 600  # training all three took under 10 minutes on 2 cores (as recorded when they were built)


def test_router_top_k_are_exactly_the_experts_whose_neurons_ran(routed8):
    """Read from the computation: the sparse loop records which experts it computed for which token."""
    model, tok = routed8.model, routed8.tokenizer
    enc = tok(["I sat on the river bank.", "The bank raised its interest rates again this spring."],
              return_tensors="pt", padding=True)
    logits = {}
    blocks = routed_blocks(model)
    handles = [b.router.register_forward_hook(lambda _m, _i, out, i=i: logits.__setitem__(i, out.detach()))
               for i, b in enumerate(blocks)]
    try:
        with torch.inference_mode():
            model(**enc)
    finally:
        for h in handles:
            h.remove()
    k, n_experts = routed8.top_k, routed8.num_experts
    for i, block in enumerate(blocks):
        ran = block.ran
        chosen = torch.zeros_like(ran).scatter_(1, logits[i].topk(k, dim=-1).indices, True)
        assert torch.equal(ran, chosen)
        assert int(ran.sum(1).max()) == k < n_experts  # real sparsity: k of E ran for every token
    # the tracer records the same choice
    (trace,) = Tracer(routed8).trace(["I sat on the river bank."])
    s = trace.stack("encoder")
    assert s.selected.shape[-1] == k
    assert np.array_equal(np.sort(s.selected, -1), np.sort(np.argsort(-s.token_probs, -1)[..., :k], -1))


def test_with_k_equal_to_e_the_sparse_model_is_the_dense_model(routed8, dense):
    dense_model, tok = dense
    enc = tok(["Routing in sparsely gated language models responds to context.", "A bat flew out of the cave."],
              return_tensors="pt", padding=True)
    with torch.inference_mode():
        want = dense_model(**enc).last_hidden_state
        with mode(routed8.model, "sparse", top_k=routed8.num_experts):
            got = routed8.model(**enc).last_hidden_state
        with mode(routed8.model, "dense"):
            reference = routed8.model(**enc).last_hidden_state
        sparse = routed8.model(**enc).last_hidden_state
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(reference, want, rtol=1e-5, atol=1e-5)
    assert (sparse - want).abs().max() > 1e-3  # top-k of E is not the dense model


@pytest.mark.slow
def test_training_is_deterministic_under_its_seed(dense):
    dense_model, tok = dense
    runs = [train_routers(dense_model, tok, RouterSettings(experts=4, top_k=2, seed=s, **TINY), "base")
            for s in (0, 0, 1)]
    (m1, r1), (m2, r2), (m3, _r3) = runs
    for a, b in zip(routed_blocks(m1), routed_blocks(m2)):
        assert torch.equal(a.router.weight, b.router.weight) and torch.equal(a.skip, b.skip)
        assert torch.equal(a.neuron_ids, b.neuron_ids)
    assert r1["fidelity"] == r2["fidelity"] and r1["training_text_sha256"] == r2["training_text_sha256"]
    assert not torch.equal(routed_blocks(m1)[0].router.weight, routed_blocks(m3)[0].router.weight)


@pytest.mark.slow
def test_training_reads_nltk_text_only_and_no_evaluation_text():
    """Checked against the benchmark files: no WiC sentence and no SCWS context is a training sentence, and none of
    eight words or more sits inside one. (Shorter ones are common phrases: 'as they say in the trade .' does.)"""
    assert "wordnet" not in SOURCES  # WiC is built from WordNet's examples
    train, held, _counts = training_text(RouterSettings(experts=8, top_k=4))

    def norm(s: str) -> str:
        return " ".join(s.lower().split())

    wic, scws = load_wic(), load_scws()
    bench = {norm(s) for s in [*wic.sentence1, *wic.sentence2, *scws.context1, *scws.context2]}
    assert len(bench) > 10_000
    ours = {norm(s) for s in train + held}
    assert not bench & ours
    grams = {tuple(w[i : i + 8]) for s in ours for w in [s.split()] for i in range(len(w) - 7)}
    inside = [b for b in bench if len(w := b.split()) >= 8 and all(tuple(w[i : i + 8]) in grams
                                                                 for i in range(len(w) - 7))]
    assert inside == []


@pytest.mark.slow
def test_the_bundled_folder_reloads_what_training_gave(tmp_path, dense):
    from core.models.router_folder import load_into, save

    dense_model, tok = dense
    enc = tok(["The match ended in a draw."], return_tensors="pt")
    for steps in (0, 2):  # routers only (the experts stay MiniLM's), and with a distillation (the experts move)
        model, record = train_routers(dense_model, tok, RouterSettings(experts=4, top_k=2, distill_steps=steps,
                                                                       distill_batch=4, **TINY), "base")
        save(model, record, tmp_path / f"r{steps}")
        fresh = AutoModel.from_pretrained(packaged_model_dir()).eval()
        load_into(fresh, tmp_path / f"r{steps}")
        with torch.inference_mode():
            torch.testing.assert_close(fresh(**enc).last_hidden_state, model(**enc).last_hidden_state)
        block = routed_blocks(model)[0]
        own = dense_model.encoder.layer[0].intermediate.dense.weight[block.neuron_ids]  # MiniLM's weights, as split
        assert torch.equal(block.w_in, own) != bool(steps)  # distillation moves the experts; routers alone do not
        assert len(record["distill_loss_first_last"]) == (2 if steps else 0)


def test_default_offline_model_orders_the_classic_pair_the_intuitive_way():
    name = context_default_name()
    record = json.loads(CONTEXT_DEFAULT_FILE.read_text())
    assert name == record["model"] and name in ROUTED
    assert record["mean_d"][name] == max(record["mean_d"][m] for m in ROUTED)  # the rule, applied
    lens = Lens(name)
    different = lens.compare("I sat on the river bank.", "The bank raised its rates.", "bank")
    same = lens.compare("I sat on the river bank.", "We walked along the bank of the river.", "bank")
    assert different.mean_jss["encoder"] < same.mean_jss["encoder"]


def test_ablation_measures_agreement_with_the_dense_model(routed8):
    from core.studies.ablation import Unit, examples, losses

    class Seg:
        def __init__(self, text):
            self.text, self.domain = text, "test"

    ex = examples(routed8, [Seg("I sat on the river bank and watched the water flow past the old mill. " * 3)],
                  max_tokens=40)
    base = np.concatenate(losses(routed8, ex))
    assert base.min() >= -1e-6 and 0 < base.mean() < 0.5  # 1 − cosine to the dense model, per token
    busiest = int(routed_blocks(routed8.model)[0].ran.sum(0).argmax())  # the expert layer 0 ran most, just now
    removed = np.concatenate(losses(routed8, ex, Unit("encoder", 0, busiest)))
    assert removed.shape == base.shape and removed.mean() > base.mean()  # losing it moves the model from the dense


def test_damaged_or_foreign_router_folders_are_clear_errors(tmp_path):
    import shutil

    from core.errors import ModelNotAvailableError
    from core.models.adapters.moefied import MoefiedSource
    from core.models.moefy import PACKAGED_NAME

    folder = tmp_path / "minilm-router-8"
    shutil.copytree(BUNDLED_MODELS_DIR / "minilm-router-8", folder)
    record = json.loads((folder / "router.json").read_text())
    (folder / "router.json").write_text(json.dumps({**record, "base_sha256": "0" * 64}))
    with pytest.raises(ModelNotAvailableError, match="other weights"):
        MoefiedSource(PACKAGED_NAME, 8, str(folder)).adapter()
    (folder / "router.json").write_text("{not json")
    with pytest.raises(ModelNotAvailableError, match="damaged"):
        MoefiedSource(PACKAGED_NAME, 8, str(folder)).adapter()
    (folder / "router.json").unlink()
    with pytest.raises(ModelNotAvailableError, match="No trained routers"):
        MoefiedSource(PACKAGED_NAME, 8, str(folder)).adapter()


@pytest.mark.slow
def test_train_router_cli_refuses_bad_settings():
    for args, says in ((["--experts", "7"], "split evenly"), (["--experts", "8", "--top-k", "9"], "between 1"),
                       (["--experts", "8", "16", "--top-k", "2"], "one expert count")):
        run = subprocess.run([sys.executable, "-m", "core", "train-router", *args], capture_output=True, text=True,
                             cwd=REPO_ROOT)
        assert run.returncode == 2 and says in run.stderr and "Traceback" not in run.stderr


@pytest.mark.app
def test_compare_and_learn_open_on_the_chosen_model_with_honest_labels(tmp_cache, monkeypatch):
    monkeypatch.delenv("ROUTING_LENS_MODEL", raising=False)
    at = open_page("app_pages/learn.py", timeout=180)
    assert not at.exception
    name = context_default_name()
    assert at.session_state["model_ctx"] == name
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "routers trained afterwards" in captions and "Not a model pretrained sparse" in captions
    assert any("neurons" in i.value and "skipped" in i.value for i in at.info)  # the neurons that did not run
    assert any("Softmax" in s.value for s in at.subheader) and len(at.get("plotly_chart")) >= 4  # the walkthrough
    assert any("did not run" in c.value for c in at.caption)  # this token's skipped experts, by name
    at.switch_page("app_pages/compare.py")
    at.run()
    assert not at.exception and at.session_state["model_ctx"] == name
    assert any("routers trained afterwards" in c.value for c in at.caption)  # what the model is, beside its numbers
    at.switch_page("app_pages/trace.py")
    at.run()
    assert not at.exception and at.session_state["model"] == "demo-switch-8"  # Trace keeps the Switch demo
