"""Expert ablation: an expert that never receives a token costs nothing when removed (Δloss exactly 0), one that
does costs something, the decoder-only intervention chooses again without the expert, and `python -m core ablate`
runs end to end with the observational-vs-causal correlation."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

from core.corpus.sources import segments
from core.models.loading import load_model
from core.studies.ablation import Unit, ablate, examples, losses, token_class

TEXTS = {"river": "I sat on the river bank and watched the water flow past the reeds and the stones. ",
         "money": "The bank raised its interest rates again, and the savers moved their money elsewhere. "}


def _corpus(path):
    with path.open("w") as f:
        for i in range(12):
            for domain, text in TEXTS.items():
                f.write(json.dumps({"text": text * 3 + f"Line {i}.", "domain": domain}) + "\n")
    return path


def test_an_expert_that_receives_no_token_costs_nothing(tiny_model_dir, tmp_path):
    """Expert 7's router row made a copy of expert 0's: every tie goes to the lower index, so expert 7 is never
    chosen, and removing it changes no loss by a single bit. Removing expert 0, which takes those tokens, does."""
    loaded = load_model(str(tiny_model_dir), dtype="float32", lm_head=True)
    (block, router), *_ = loaded.adapter.routers(loaded.model)["encoder"]
    with torch.no_grad():
        router.classifier.weight[7] = router.classifier.weight[0]
    ex = examples(loaded, list(segments(str(_corpus(tmp_path / "c.jsonl")))), max_tokens=600)
    base = losses(loaded, ex)
    unused = losses(loaded, ex, Unit("encoder", int(block), 7))
    assert all(np.array_equal(a, b) for a, b in zip(base, unused))
    used = losses(loaded, ex, Unit("encoder", int(block), 0))
    assert any(not np.allclose(a, b) for a, b in zip(base, used))
    frame = ablate(loaded, list(segments(str(tmp_path / "c.jsonl"))), [Unit("encoder", int(block), 7)], 600)
    assert (frame.delta == 0).all() and set(frame.group_kind) == {"all", "domain", "class"}
    assert set(frame[frame.group_kind == "domain"].group) == {"river", "money"}


def test_the_decoder_only_intervention_chooses_again_without_the_expert():
    loaded = load_model("demo-mixtral-8", dtype="float32")
    adapter = loaded.adapter
    logits = torch.tensor([[2.0, 1.5, 0.1, -1.0, 0.0, 0.3, -0.2, 0.9]])
    probs = torch.softmax(logits, dim=-1)
    top, chosen = torch.topk(probs, adapter.top_k, dim=-1)
    kept, weights, again = adapter.without_expert((logits, top / top.sum(), chosen), expert=0)
    assert 0 not in again.tolist()[0] and again.tolist()[0] == [1, 7]
    assert float(weights.sum()) == pytest.approx(1.0)
    expected = probs[0, [1, 7]] / probs[0, [1, 7]].sum()
    assert weights[0].tolist() == pytest.approx(expected.tolist())
    assert torch.equal(kept, logits)  # the logits go on unchanged (only the aux loss reads them)
    untouched = adapter.without_expert((logits, top / top.sum(), chosen), expert=3)  # no token chose it
    assert torch.equal(untouched[1], top / top.sum()) and torch.equal(untouched[2], chosen)


ABLATABLE = ["mixtral", "olmoe", "qwen2_moe", "jamba", "granitemoe", "gpt_oss", "hunyuan_v1_moe"]


@pytest.mark.parametrize("family", ABLATABLE)
def test_removing_an_expert_no_token_chose_leaves_the_loss_bit_identical(family, tmp_path):
    """Renormalising (Mixtral, Hunyuan) or not (OLMoE, Qwen2-MoE, Jamba), or top-k then softmax (GraniteMoE,
    gpt-oss): only the tokens that had chosen the removed expert are routed again, so an expert no token chose at that
    layer changes no loss, bit for bit in float32; one that tokens chose changes theirs, by the family's own rule."""
    from core.corpus.sources import Segment
    from helpers import build_tiny_decoder

    loaded = load_model(str(build_tiny_decoder(tmp_path / family, family, experts=16)), dtype="float32", lm_head=True)
    ex = examples(loaded, [Segment(0, "s", "river", "I sat on the river bank.")], max_tokens=40)
    (block, router), *_ = loaded.adapter.routers(loaded.model)["decoder"]
    seen: list[torch.Tensor] = []
    handle = router.register_forward_hook(lambda _m, _i, out: seen.append(out))
    base = losses(loaded, ex)
    handle.remove()
    logits, weights, index = seen[0][:3]
    unused = sorted(set(range(loaded.num_experts)) - set(index.unique().tolist()))
    assert unused, "every expert was chosen: the sample is too long for this test"
    assert all(np.array_equal(a, b) for a, b in zip(base, losses(loaded, ex, Unit("decoder", int(block), unused[0]))))
    used = int(index[0, 0])
    assert any(not np.array_equal(a, b) for a, b in zip(base, losses(loaded, ex, Unit("decoder", int(block), used))))
    _l, new_w, new_i = loaded.adapter.without_expert((logits, weights, index), used)[:3]
    others = ~(index == used).any(-1)
    assert torch.equal(new_w[others], weights[others]) and torch.equal(new_i[others], index[others])
    assert not (new_i == used).any()
    if loaded.adapter.renormalises or loaded.adapter.scoring.key == "topk_softmax":
        torch.testing.assert_close(new_w.sum(-1), torch.ones(len(new_w)))
    else:  # the chosen probabilities as they are: unnormalised
        masked = torch.softmax(logits.float().masked_fill(torch.arange(16) == used, float("-inf")), -1)
        torch.testing.assert_close(new_w[~others], masked[~others].gather(-1, new_i[~others]))


def test_token_classes_follow_the_corpus_statistics():
    assert [token_class(t) for t in ("▁,", "▁1984", "▁the", "▁Paris", "▁bank", "Ġand")] == [
        "punctuation", "digits", "function word", "capitalised", "other", "function word"]


@pytest.mark.slow
def test_ablate_end_to_end_with_the_observational_comparison(tiny_model_dir, tmp_path):
    """The CLI on the tiny model, one layer: Parquet out, the experts that hurt most printed, and the correlation of
    the corpus statistics' domain lift with Δloss across (expert, domain) cells."""
    from core.cli import main
    from core.corpus.run import CorpusSpec, run_local
    from core.corpus.stats import compute_for_run
    from core.tracing.tracer import Tracer

    corpus = _corpus(tmp_path / "c.jsonl")
    tracer = Tracer(load_model(str(tiny_model_dir), dtype="float32"), cache=None)
    run_local(tracer, CorpusSpec.for_tracer(tracer, str(corpus)), tmp_path / "run")
    compute_for_run(tmp_path / "run")
    block = int(tracer.routers["encoder"][0][0])
    assert main(["ablate", "--model", str(tiny_model_dir), "--corpus", str(corpus), "--stack", "encoder",
                 "--layer", str(block), "--max-tokens", "400", "--every", "1", "--out", str(tmp_path / "abl"),
                 "--stats", str(tmp_path / "run" / "stats")]) == 0
    frame = pd.read_parquet(tmp_path / "abl" / "ablation.parquet")
    assert sorted(frame[frame.group_kind == "all"].expert) == list(range(8))
    enough = frame.windows >= 2
    assert frame[enough][["delta", "ci_low", "ci_high"]].notna().all().all()
    assert frame[~enough].ci_low.isna().all()  # a class met in fewer than two windows has no CI, and says so
    links = pd.read_parquet(tmp_path / "abl" / "saliency_links.parquet")  # REAP beside Δloss and the lift
    assert set(links.comparison) == {"REAP vs Δloss, experts", "REAP vs Δloss, (expert, domain) cells",
                                     "REAP vs domain lift, (expert, domain) cells"}
    assert (links.n >= 3).all() and links.rho.between(-1, 1).all()
    assert enough[frame.group_kind.isin(["all", "domain"])].all()
    link = pd.read_parquet(tmp_path / "abl" / "observational_vs_causal.parquet")
    assert len(link) == 1 and link.cells.iloc[0] >= 8 and np.isfinite(link.rho.iloc[0])
    assert main(["ablate", "--model", str(tiny_model_dir), "--corpus", str(corpus), "--layer", "99"]) == 2


@pytest.mark.app
def test_the_experts_page_sets_domain_lift_against_the_loss_of_removing_an_expert(tmp_cache, tiny_model_dir,
                                                                                   monkeypatch):
    """An ablation of demo-switch-8 in the user's cache (one encoder layer, a short Brown sample) beside the bundled
    Brown statistics: the Experts page draws lift against Δloss and states the correlation."""
    from streamlit.testing.v1 import AppTest

    from core.cli import main

    monkeypatch.setenv("ROUTING_LENS_MODEL", str(tiny_model_dir))
    assert main(["ablate", "--model", "demo-switch-8", "--corpus", "nltk:brown", "--stack", "encoder", "--layer", "1",
                 "--max-tokens", "800", "--stats", "results/corpus/demo-switch-8-brown"]) == 0
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.run()
    at.switch_page("app_pages/experts.py")
    at.run()
    assert not at.exception
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"].replace("<br>", " ") for c in at.get("plotly_chart")]
    assert any("observational vs causal" in t for t in titles), titles
    assert any("Spearman ρ between domain lift and Δloss" in c.value for c in at.caption)
    top = next((t.value for t in at.table if "Δloss per token [95% CI]" in t.value.columns), pd.DataFrame())
    rest = [c.value for c in at.caption if "no measurable cost when removed" in c.value]
    assert len(top) <= 5 and (len(top) or rest)  # the costly experts listed, the others summarised in one line
    for cell in top.get("Δloss per token [95% CI]", []):  # every listed cost is measurable: its CI excludes 0
        low, high = map(float, re.findall(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", cell)[1:3])
        assert low > 0 or high < 0, cell


def test_a_decoder_only_model_is_ablated_on_its_next_token_loss(tmp_path):
    """demo-mixtral-8 with its LM head: the intact next-token loss is the model's own (the LM head's cross-entropy
    on the shifted ids), and removing an expert its tokens use moves it."""
    loaded = load_model("demo-mixtral-8", dtype="float32", lm_head=True)
    assert loaded.adapter.objective == "next token"
    sample = list(segments(str(_corpus(tmp_path / "c.jsonl"))))
    ex = examples(loaded, sample, max_tokens=300)
    assert 300 - 64 < sum(len(t) for t in ex.targets) <= 300  # a bound, met to within one window
    base = losses(loaded, ex)
    ids = torch.tensor([ex.inputs[0]])
    with torch.inference_mode():
        own = loaded.model(input_ids=ids, labels=ids).loss  # transformers' own shifted loss
    assert float(base[0].mean()) == pytest.approx(float(own), rel=1e-4)
    (block, _router), *_ = loaded.adapter.routers(loaded.model)["decoder"]
    frame = ablate(loaded, sample, [Unit("decoder", int(block), e) for e in range(8)], 300)
    overall = frame[frame.group_kind == "all"]
    assert len(overall) == 8 and (overall.delta.abs() > 0).any() and frame.objective.eq("next token").all()


@pytest.mark.parametrize("model", ["demo-mixtral-8", "demo-switch-8"])
def test_reap_saliency_doubles_when_an_experts_output_doubles(model, tmp_path):
    """REAP = mean over an expert's tokens of gate weight × ‖output‖: doubling one expert's output projection doubles
    its saliency at that layer and leaves the other experts' there unchanged (the layer's inputs do not move)."""
    from core.studies.saliency import reap

    loaded = load_model(model, dtype="float32", lm_head=True)
    ex = examples(loaded, list(segments(str(_corpus(tmp_path / "c.jsonl")))), max_tokens=300)
    before = reap(loaded, ex)
    stack = "decoder" if model.endswith("mixtral-8") else "encoder"
    (block, _router), *_ = loaded.adapter.routers(loaded.model)[stack]
    first = before[(before["stack"] == stack) & (before.layer == int(block)) & (before.group_kind == "all")]
    expert = int(first.sort_values("tokens").expert.iloc[-1])
    with torch.no_grad():
        for name, param in loaded.model.named_parameters():
            parts = name.split(".")
            in_layer = (f"layers.{block}." in name) if stack == "decoder" else (f"{stack}.block.{block}." in name)
            if in_layer and "experts" in parts and ("down_proj" in name or "wo" in parts):
                if "down_proj" in name:
                    param[expert] *= 2  # (E, d, ff): this expert's slice
                elif f"expert_{expert}" in parts:
                    param *= 2
    after = reap(loaded, ex)
    a = after[(after["stack"] == stack) & (after.layer == int(block)) & (after.group_kind == "all")].set_index("expert")
    b = first.set_index("expert")
    assert a.loc[expert, "saliency"] == pytest.approx(2 * b.loc[expert, "saliency"], rel=1e-5)
    others = b.index.drop(expert)
    np.testing.assert_allclose(a.loc[others, "saliency"], b.loc[others, "saliency"], rtol=1e-5)
    assert set(before.group_kind) == {"all", "domain"} and (before.tokens > 0).all()


@pytest.mark.parametrize("model", ["demo-switch-8", "demo-mixtral-8"])
def test_reusing_the_blocks_below_the_removed_expert_changes_no_loss(model, tmp_path):
    """The ablation's removals reuse the intact pass's blocks below their layer: the same Δloss as recomputing
    everything, encoder and decoder units alike."""
    loaded = load_model(model, dtype="float32", lm_head=True)
    sample = list(segments(str(_corpus(tmp_path / "c.jsonl"))))
    units = [Unit(s, int(b), e) for s, found in loaded.adapter.routers(loaded.model).items() for b, _m in found[-1:]
             for e in (0, 5)]
    fast = ablate(loaded, sample, units, 400, reuse=True)
    slow = ablate(loaded, sample, units, 400, reuse=False)
    np.testing.assert_allclose(fast.delta.to_numpy(), slow.delta.to_numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family", ["deepseek_v3", "glm4_moe", "minimax_m2", "lfm2_moe", "ernie4_5_moe", "deepseek_v2",
                                    "phimoe", "qwen3_next", "granitemoeshared"])
def test_every_decoder_family_is_ablated_by_its_own_rule(family, tmp_path):
    """Sigmoid scorers with selection biases and groups, SparseMixer, shared experts: removing an expert re-runs the
    family's router with it banned, so an expert no token chose changes no loss (bit for bit) and one they chose does."""
    from core.corpus.sources import Segment
    from helpers import build_tiny_decoder

    loaded = load_model(str(build_tiny_decoder(tmp_path / family, family, experts=16)), dtype="float32", lm_head=True)
    ex = examples(loaded, [Segment(0, "s", "river", "I sat on the river bank.")], max_tokens=40)
    (block, router), *_ = loaded.adapter.routers(loaded.model)["decoder"]
    seen: list = []
    handle = router.register_forward_hook(lambda _m, _i, out: seen.append(out[2]))
    base = losses(loaded, ex)
    handle.remove()
    unused = sorted(set(range(16)) - set(seen[0].unique().tolist()))
    assert all(np.array_equal(a, b) for a, b in zip(base, losses(loaded, ex, Unit("decoder", int(block), unused[0]))))
    used = int(seen[0][0, 0])
    assert any(not np.array_equal(a, b) for a, b in zip(base, losses(loaded, ex, Unit("decoder", int(block), used))))
