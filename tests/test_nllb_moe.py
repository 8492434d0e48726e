"""NLLB-MoE: an encoder–decoder with top-2 routers, traced in both stacks like Switch, its trace checked against what
the model's own modules were handed, and the upstream dispatch fault of transformers 5.23 reported, not hidden."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from core.models.loading import load_model
from core.tracing.self_check import self_check
from core.tracing.tracer import Tracer
from helpers import build_tiny_nllb_moe

TEXTS = ["The bank raised its interest rates again this spring.", "A bat flew out of the cave at dusk."]


@pytest.fixture(scope="module")
def nllb_dir(tmp_path_factory):
    return build_tiny_nllb_moe(tmp_path_factory.mktemp("tiny-nllb-moe"))


def _handed(loaded, text: str) -> tuple[dict, dict]:
    """Per (stack, layer): the router's logits (a hook on its classifier) and the combine weights its experts module
    was handed (a pre-hook on that module's third argument), read from the model's own modules."""
    logits, gates, handles = {}, {}, []
    for name, module in loaded.model.named_modules():
        parts = name.split(".")
        if "layers" not in parts[:-1]:
            continue
        key = (parts[parts.index("layers") - 1], int(parts[parts.index("layers") + 1]))
        if name.endswith("router.classifier"):
            handles.append(module.register_forward_hook(lambda _m, _i, out, k=key: logits.__setitem__(k, out.detach())))
        elif type(module).__name__ == "NllbMoeExperts":
            handles.append(module.register_forward_pre_hook(lambda _m, args, k=key: gates.__setitem__(k, args[2].detach())))
    ids = torch.tensor([loaded.tokenizer(text)["input_ids"]])
    start = torch.full((1, 1), loaded.config.decoder_start_token_id)
    with torch.no_grad():
        loaded.model(input_ids=ids, attention_mask=torch.ones_like(ids), decoder_input_ids=torch.cat([start, ids], 1))
    for h in handles:
        h.remove()
    return logits, gates


def test_both_stacks_are_traced_with_the_routers_distribution_and_the_experts_the_model_was_handed(nllb_dir):
    loaded = load_model(str(nllb_dir), dtype="float32")
    assert (loaded.family, loaded.adapter.stacks, loaded.top_k, loaded.num_experts) == (
        "nllb_moe", ("encoder", "decoder"), 2, 8)
    assert loaded.adapter.scoring.key == "top2_capacity"
    trace = Tracer(loaded, cache=None).trace(TEXTS[0])[0]
    logits, gates = _handed(loaded, TEXTS[0])
    for stack, s in trace.stacks.items():
        assert list(s.layers) == [1, 3]
        offset = loaded.adapter.decoder_offset() if stack == "decoder" else 0
        for li, block in enumerate(s.layers):
            row = slice(offset, offset + s.token_probs.shape[1])
            expected = torch.softmax(logits[(stack, int(block))][row].float(), -1).numpy()
            np.testing.assert_allclose(s.token_probs[li], expected, atol=1e-6)
            handed = gates[(stack, int(block))][row].numpy()
            assert ((handed > 0).sum(-1) == 2).all()  # nothing dropped at the default eval capacity
            np.testing.assert_array_equal(np.sort(s.selected[li], -1), np.sort(np.argsort(-handed, -1)[:, :2], -1))
        assert not s.dropped.any()


def test_batching_changes_no_routing(nllb_dir):
    tracer = Tracer(load_model(str(nllb_dir), dtype="float32"), cache=None)
    together = tracer.trace(TEXTS)
    for text, batched in zip(TEXTS, together):
        alone = tracer.trace(text)[0]
        for stack in ("encoder", "decoder"):
            np.testing.assert_allclose(alone.stacks[stack].token_probs, batched.stacks[stack].token_probs, atol=1e-5)
            np.testing.assert_array_equal(alone.stacks[stack].selected, batched.stacks[stack].selected)


def test_a_capacity_drop_is_recorded_where_the_model_gave_a_token_no_expert(nllb_dir, tmp_path):
    """At an eval capacity of 10 % of the tokens, the trace's dropped tokens are exactly those whose combine weights
    the model zeroed; lifting the capacity (the sensitivity table's "capacity off") drops none, and restores it."""
    config = json.loads((nllb_dir / "config.json").read_text())
    folder = tmp_path / "small-capacity"
    folder.mkdir()
    for f in nllb_dir.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "config.json").write_text(json.dumps({**config, "moe_eval_capacity_token_fraction": 0.1}))
    loaded = load_model(str(folder), dtype="float32")
    assert loaded.adapter.capacity is not None
    enc = Tracer(loaded, cache=None).trace(TEXTS[0])[0].stacks["encoder"]
    _logits, gates = _handed(loaded, TEXTS[0])
    for li, block in enumerate(enc.layers):
        np.testing.assert_array_equal(enc.dropped[li], (gates[("encoder", int(block))] == 0).all(-1).numpy())
    assert enc.dropped.any()
    # a token that kept one of its two experts went to that one alone: it stands in both slots, never the dropped one
    for li, block in enumerate(enc.layers):
        g = gates[("encoder", int(block))]
        one = ((g > 0).sum(-1) == 1).numpy()
        assert one.any(), block
        kept = g.argmax(-1).numpy()
        np.testing.assert_array_equal(enc.selected[li][one], np.stack([kept[one], kept[one]], -1))
    assert "capacity" in loaded.adapter.one_text_per_forward  # a fraction of the batch's tokens: each text alone
    with loaded.adapter.without_capacity(loaded.model):
        assert not Tracer(loaded, cache=None).trace(TEXTS[0])[0].stacks["encoder"].dropped.any()
    assert Tracer(loaded, cache=None).trace(TEXTS[0])[0].stacks["encoder"].dropped.any()


def test_the_upstream_dispatch_fault_fails_the_self_check_plainly(nllb_dir, monkeypatch, capsys):
    """transformers 5.23's NLLB-MoE runs experts 0 and 1 for every token: the reading matches what the block meant to
    dispatch, the output does not, and `check-model` says so (exit 1). With the module's forward given the index it
    should receive, the same check passes: the check tests the model, not the adapter."""
    from transformers.models.nllb_moe import modeling_nllb_moe as nllb

    from core.cli import main

    loaded = load_model(str(nllb_dir), dtype="float32")
    result = self_check(loaded)
    assert result.ok is False and all(layer.reading_matches for layer in result.layers)
    assert "FAILED" in result.summary() and "router's decision" in result.summary()
    assert "experts 0 and 1" in loaded.adapter.sidebar_note()
    monkeypatch.setenv("ROUTING_LENS_MODEL", str(nllb_dir))
    assert main(["check-model", str(nllb_dir)]) == 1
    assert "FAILED" in capsys.readouterr().out

    faulty = nllb.NllbMoeExperts.forward

    def fixed(self, hidden, mask, gates):  # dispatch by the experts with a combine weight, as the block means to
        if gates.shape[-1] != self.num_experts:  # already an index (one expert run alone)
            return faulty(self, hidden, mask, gates)
        weights, index = gates.topk(2, dim=-1)
        return faulty(self, hidden, index, weights)

    monkeypatch.setattr(nllb.NllbMoeExperts, "forward", fixed)
    assert self_check(loaded).ok is True


def test_the_papers_analysis_runs_on_both_stacks(nllb_dir, tmp_path, tmp_cache):
    from core.cli import main

    out = tmp_path / "out"
    assert main(["reproduce", "--model", str(nllb_dir), "--limit", "30", "--out", str(out), "--dtype", "float32"]) == 0
    t1 = pd.read_csv(out / "table1.csv")
    assert set(t1["stack"]) == {"encoder", "decoder"} and t1.published_rho.isna().all()
    comparison = pd.read_csv(out / "comparison.csv")
    assert set(comparison.architecture) == {"encoder-decoder"} and set(comparison.top_k) == {2}
    assert comparison[["association ρ", "SCWS ρ with context", "WiC Cohen's d"]].notna().all().all()
    assert set(pd.read_csv(out / "cohens_d.csv")["stack"]) >= {"encoder", "decoder"}


@pytest.mark.app
def test_every_page_runs_on_nllb_moe_and_the_sidebar_warns_of_the_fault(nllb_dir, tmp_cache, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ROUTING_LENS_MODEL", str(nllb_dir))
    at = AppTest.from_file("../app.py", default_timeout=180)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "**Router:** softmax, top-2" in " ".join(c.value for c in at.sidebar.caption)
    assert any("Self-check FAILED" in w.value for w in at.sidebar.warning)
    for page in ("app_pages/trace.py", "app_pages/learn.py", "app_pages/compare.py", "app_pages/experts.py"):
        at.switch_page(page)
        at.run()
        assert not at.exception, (page, [e.value for e in at.exception])
