"""The routing lab's router designs (core.models.router_designs): the selection bias balances a planted skew, expert
choice's trace is what the experts computed, hash routing ignores context, and every design saves and reloads."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from core.models.moefy import packaged_model_dir
from core.models.routed_experts import routed_blocks
from core.models.router_designs import ExpertChoiceRouter, SigmoidBiasRouter, update_bias
from core.settings import BUNDLED_MODELS_DIR
from core.studies.router_lab import LAB_DESIGNS
from core.tracing.tracer import Tracer

TINY = dict(sentences_per_source=40, partition_sentences=16, router_sentences=48, router_steps=5, heldout_sentences=8,
            max_length=24)


def test_the_selection_bias_balances_a_planted_skew():
    """Scores planted so that experts 0–1 win most tokens: the bias updates alone (no gradient) even the load."""
    torch.manual_seed(0)
    router = SigmoidBiasRouter(hidden=8, num_experts=8, top_k=2)
    with torch.no_grad():
        router.linear.weight.normal_()
        router.linear.weight[:2] += 0.5  # experts 0 and 1 read a direction every token has
    x = torch.randn(4096, 8) + 0.5

    def load() -> torch.Tensor:
        return router.select(router(x)).float().sum(0)

    skew = load().max() / load().mean()
    assert skew > 2.5
    for _ in range(400):
        router.bias.copy_(update_bias(router.bias, router.select(router(x))))
    assert load().max() / load().mean() < 1.15 < skew  # measured 2.54 → 1.07 (γ 0.01, 400 steps)
    assert (router.select(router(x)).sum(-1) == 2).all()  # still k experts per token


def test_a_banned_expert_is_never_chosen_despite_its_bias():
    router = SigmoidBiasRouter(hidden=4, num_experts=4, top_k=2)
    router.bias.copy_(torch.tensor([5.0, 0, 0, 0]))
    out = router(torch.randn(16, 4))
    out[..., 0] = float("-inf")
    assert not router.select(out)[:, 0].any()


def test_expert_choice_takes_each_experts_top_tokens_of_each_text_only():
    """Two texts of 5 and 3 real tokens (padding after): every expert takes ⌈k·T/E⌉ tokens of each text; padding is
    never taken, and a text's choice does not depend on the other text."""
    torch.manual_seed(1)
    router = ExpertChoiceRouter(hidden=6, num_experts=4, top_k=2)
    x = torch.randn(2 * 5, 6)
    router.attention_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    taken = router.select(router(x)).view(2, 5, 4)
    assert (taken[0].sum(0) == 3).all() and (taken[1, :3].sum(0) == 2).all()  # ⌈2·5/4⌉ = 3, ⌈2·3/4⌉ = 2
    assert not taken[1, 3:].any()
    router.attention_mask = torch.ones(1, 3, dtype=torch.long)
    alone = router.select(router(x[5:8]))
    assert torch.equal(alone, taken[1, :3])


def _lab_model(name: str):
    from core.models.loading import load_model

    if not (BUNDLED_MODELS_DIR / name / "router.json").is_file():
        pytest.fail(f"models/{name}/ is missing: build the lab with `python -m core lab --train-only`.")
    return load_model(name, dtype="float32")


def test_expert_choice_traces_the_experts_each_token_was_processed_by():
    """The traced distribution is non-zero exactly on the experts whose neurons ran for the token, as the sparse
    loop recorded them (RoutedExperts.ran); a token no expert took is marked dropped."""
    lm = _lab_model("lab-expert-choice")
    tracer = Tracer(lm, cache=None)
    assert tracer.batch_size == 1  # the batch is the text
    for text in ("The bank raised its interest rate again.", "They sat on the bank of the river and watched."):
        trace = tracer.trace([text])[0]
        stack = trace.stacks["encoder"]
        with torch.inference_mode():  # the whole forward pass (the tracer stops after the last router)
            lm.model(**lm.tokenizer([text], return_tensors="pt"))
        for li, block in enumerate(routed_blocks(lm.model)):
            ran = block.ran.numpy()  # which experts' neurons the sparse loop ran for each token
            assert ran.shape[0] == stack.token_probs.shape[1]
            np.testing.assert_array_equal(stack.token_probs[li] > 0, ran)
            np.testing.assert_array_equal(stack.dropped[li], ~ran.any(-1))


def test_hash_routing_ignores_context():
    """The same token in two sentences gets the same experts and the same distribution, at every layer."""
    lm = _lab_model("lab-hash")
    tracer = Tracer(lm, cache=None)
    a, b = tracer.trace(["I deposited cash at the bank.", "We walked along the bank of the river."])
    ia = a.tokens.index("bank")
    ib = b.tokens.index("bank")
    pa, pb = a.stacks["encoder"].token_probs[:, ia], b.stacks["encoder"].token_probs[:, ib]
    np.testing.assert_array_equal(pa, pb)
    assert ((pa > 0).sum(-1) == 8).all()


@pytest.mark.slow
def test_hash_routing_gives_wic_d_zero_within_its_ci():
    """A context-free router cannot tell same from different meaning. On the WiC pairs whose target has the same token
    ids in both sentences — where only context can separate the labels — hash routing's same − different difference
    is 0 with a CI of [0, 0] and d = 0, while the trained softmax router's CI lies above 0. (On all pairs hash routing
    shows d ≈ +0.11: WiC's same-meaning pairs share the target's tokens more often; the lab reports both.)"""
    import pandas as pd

    from core.data.datasets import load_wic
    from core.studies.router_lab import form_matched, same_tokens

    wic = load_wic().head(2000)
    frames = []
    for name in ("lab-hash", "lab-softmax"):
        tracer = Tracer(_lab_model(name), cache=None)
        frames.append(_wic_pairs(tracer, wic))
    matched = same_tokens(wic, _lab_model("lab-hash").tokenizer)
    assert 0.5 < matched.mean() < 0.8
    result = form_matched(pd.concat(frames, ignore_index=True), matched).set_index("model")
    hashed = result.loc["lab-hash"]
    assert hashed.diff_form_matched == 0 and hashed.diff_form_matched_low <= 0 <= hashed.diff_form_matched_high
    assert hashed.d_form_matched == 0
    assert result.loc["lab-softmax"].diff_form_matched_low > 0


def _wic_pairs(tracer, wic):
    """The WiC pairs' JSS per layer, in the layout of the paper's analyses (model, pair, label, layer_pos, jss)."""
    import pandas as pd

    from core.measures.metrics import jss as similarity
    from core.studies.targets import Target, route_targets

    targets = ([Target(t, word_index=i) for t, i in zip(wic.sentence1, wic.idx1)]
               + [Target(t, word_index=i) for t, i in zip(wic.sentence2, wic.idx2)])
    probs = route_targets(tracer, targets, ("encoder",), "WiC")["encoder"]
    n = len(wic)
    sims = similarity(probs[:n], probs[n:])
    label = np.where(wic.label.to_numpy(), "T", "F")
    return pd.concat([pd.DataFrame({"model": tracer.loaded.name, "stack": "encoder", "pair": np.arange(n),
                                    "label": label, "layer_pos": li, "jss": sims[:, li]})
                      for li in range(sims.shape[1])], ignore_index=True)


@pytest.mark.slow
@pytest.mark.parametrize("design", ["sigmoid-bias", "expert-choice", "hash"])
def test_every_design_trains_saves_and_reloads(tmp_path, design):
    from core.models.router_folder import load_into, save
    from core.training.router_training import RouterSettings, train_routers

    folder = packaged_model_dir()
    dense, tok = AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    model, record = train_routers(dense, tok, RouterSettings(experts=4, top_k=2, design=design, **TINY), "base")
    save(model, record, tmp_path / design)
    fresh = AutoModel.from_pretrained(folder).eval()
    load_into(fresh, tmp_path / design)
    enc = tok(["The match ended in a draw.", "A short one."], return_tensors="pt", padding=True)
    with torch.inference_mode():
        torch.testing.assert_close(fresh(**enc).last_hidden_state, model(**enc).last_hidden_state)
    assert record["fidelity"]["curve"][0]["k"] == 2 and "load_cv" in record["fidelity"]["layers"][0]


def test_the_lab_designs_are_bundled_with_their_training_record():
    for design in LAB_DESIGNS:
        lm = _lab_model(design.name)
        assert (lm.num_experts, lm.top_k) == (design.experts, design.top_k)
        assert lm.adapter.design == design.design
        assert lm.adapter.record["settings"]["seed"] == 0
