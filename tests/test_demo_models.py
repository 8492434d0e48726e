"""The demo-model training command and the bundled checkpoints."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from transformers import AutoTokenizer

from core.cli import main
from core.models.loading import load_model
from core.models.registry import list_models
from core.settings import BUNDLED_MODELS_DIR
from core.tracing.tracer import Tracer

# Pinned so that an accidental change of a bundled checkpoint is caught. Retraining? Update these.
BUNDLED_SHA256 = {
    "demo-switch-8": "4cabbd15b4325ae7219396fbd00a845fabaa93c6e9d4f1276377b45ec42707b3",
    "demo-switch-16": "c3b3258d69439ab756879676ba42660947e82ef9f40330422859b3ea11e35cfc",
    "demo-mixtral-8": "882d6c8e010f8d4bc9608fdd4d09291a20dfbdad97290d05eab11404b934828b",
}
BUNDLE_LIMIT_BYTES = 30 * 10**6


def test_train_demo_micro_run_end_to_end(tmp_path, capsys):
    """A micro budget in seconds: the real corpus, tokenizer training, span corruption, save, load, trace."""
    out = tmp_path / "demo-switch-4"
    assert main(["train-demo", "--experts", "4", "--out", str(out), "--steps", "15", "--tiny", "--seed", "3"]) == 0
    for name in ("config.json", "model.safetensors", "tokenizer.json", "MODEL_CARD.md", "training_stats.json"):
        assert (out / name).is_file(), name
    stats = json.loads((out / "training_stats.json").read_text())
    assert stats["steps"] == 15 and stats["tokens_seen"] > 0 and set(stats["sentences_per_source"]) >= {"brown", "wordnet"}
    card = (out / "MODEL_CARD.md").read_text()
    assert "teaching model" in card and "unigram" in card and "Expert utilisation" in card
    loaded = load_model(str(out), dtype="float32")
    assert loaded.num_experts == 4
    trace = Tracer(loaded).trace("I sat on the river bank")[0]
    assert trace.stacks["encoder"].token_probs.shape[-1] == 4
    assert not list(tmp_path.glob(".*tmp*"))  # no half-written folder left behind


def test_train_causal_demo_micro_run_end_to_end(tmp_path):
    """The decoder-only demo: Mixtral architecture, next-token prediction, the bundled Switch demo's tokenizer."""
    out = tmp_path / "demo-mixtral-4"
    assert main(["train-demo", "--family", "mixtral", "--experts", "4", "--out", str(out), "--steps", "12", "--tiny"]) == 0
    stats = json.loads((out / "training_stats.json").read_text())
    assert stats["family"] == "mixtral" and stats["steps"] == 12 and stats["heldout_tokens"] > 0
    assert set(stats["expert_utilisation"]) == {f"decoder.{i}" for i in range(4)}
    assert "decoder" in stats["wic_check"]  # the WiC check ran through the real tracer
    card = (out / "MODEL_CARD.md").read_text()
    assert "decoder-only teaching model" in card and "left" in card
    tok_new, tok_switch = AutoTokenizer.from_pretrained(out), AutoTokenizer.from_pretrained(BUNDLED_MODELS_DIR / "demo-switch-8")
    assert tok_new.get_vocab() == tok_switch.get_vocab()  # same tokenizer: the two demos compare on equal terms
    loaded = load_model(str(out), dtype="float32")
    assert (loaded.family, loaded.num_experts, loaded.top_k, loaded.stacks) == ("mixtral", 4, 2, ("decoder",))
    assert not list(tmp_path.glob(".*tmp*"))


def test_train_demo_is_deterministic_with_seed(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert main(["train-demo", "--experts", "2", "--out", str(out), "--steps", "5", "--tiny", "--seed", "1"]) == 0
    from safetensors.numpy import load_file

    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


def test_train_demo_bad_arguments(capsys):
    assert main(["train-demo", "--experts", "0", "--out", "/tmp/x"]) == 2
    assert "--experts must be" in capsys.readouterr().err


def _bundled():
    entries = [e for e in list_models() if e.source == "bundled"]
    if not entries:
        pytest.fail(f"No bundled demo model under {BUNDLED_MODELS_DIR}: the repository must ship models/demo-switch-8.")
    return entries


def test_bundled_checkpoints_are_pinned_and_within_budget():
    entries = _bundled()
    assert "demo-switch-8" in {e.name for e in entries}
    total = 0
    for e in entries:
        weights = BUNDLED_MODELS_DIR / e.name / "model.safetensors"
        total += weights.stat().st_size
        assert hashlib.sha256(weights.read_bytes()).hexdigest() == BUNDLED_SHA256[e.name], e.name
        assert (BUNDLED_MODELS_DIR / e.name / "MODEL_CARD.md").is_file()
    assert total <= BUNDLE_LIMIT_BYTES


@pytest.mark.parametrize("name", sorted(BUNDLED_SHA256))
def test_bundled_checkpoint_loads_traces_and_agrees_with_its_tokenizer(name):
    folder = BUNDLED_MODELS_DIR / name
    loaded = load_model(str(folder))
    tok = AutoTokenizer.from_pretrained(folder)
    cfg = loaded.config
    assert cfg.vocab_size == len(tok)
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2) == (cfg.pad_token_id, cfg.eos_token_id, 2)
    assert tok.convert_tokens_to_ids("<extra_id_0>") == len(tok) - 1
    assert loaded.num_experts == int(name.rsplit("-", 1)[1])
    trace = Tracer(loaded).trace("I sat on the river bank")[0]
    assert trace.words == ["I", "sat", "on", "the", "river", "bank"]
    assert np.allclose(trace.stacks["decoder"].word_probs.sum(-1), 1, atol=1e-3)


def test_cli_default_model_is_the_bundled_demo(capsys, tmp_cache):
    _bundled()
    assert main(["trace", "--text", "I sat on the river bank"]) == 0
    captured = capsys.readouterr()
    assert "demo-switch-8" in captured.err and "google/switch-base-8" in captured.err
    assert "bank" in captured.out
