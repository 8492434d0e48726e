"""Writing to routing on tiny models: no-op interventions leave every output bit for bit, a forced route's block
output is the hand-built mixture of the forced experts with the family's own weights, a swap between identical
contexts changes nothing, steering at strength 0 is the identity, and what cannot be written says why."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.errors import InputError
from core.models.adapters import DECODER_FAMILIES
from core.models.loading import load_model
from core.studies.outcomes import log_probs, outcome
from core.tracing.interventions import Intervention, intervening
from core.tracing.tracer import Tracer
from helpers import build_tiny_decoder

TEXT = "The bank raised its interest rates again this spring."
SHORT = "A bat flew out."  # few tokens: some experts stay unused
FAMILIES = ["mixtral", "olmoe", "granitemoe", "jamba", "deepseek_v3"]  # renormalising, not, top-k then softmax,
# hybrid, sigmoid scores with a selection bias inside groups


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = {f: load_model(str(build_tiny_decoder(tmp_path_factory.mktemp(f), f, experts=16)), dtype="float32",
                         lm_head=True) for f in FAMILIES}
    out["switch"] = load_model("demo-switch-8", dtype="float32", lm_head=True)
    return out


def _ids(loaded, text=TEXT):
    return torch.tensor([loaded.tokenizer(text)["input_ids"]])


def _chosen(loaded, stack: str, text: str = SHORT):
    s = Tracer(loaded, cache=None).trace(text)[0].stacks[stack]
    return s.layers, s.selected


@pytest.mark.parametrize("family", [*FAMILIES, "switch"])
def test_forcing_the_chosen_route_or_banning_an_unused_expert_changes_no_output(models, family):
    loaded = models[family]
    stack = "encoder" if family == "switch" else "decoder"
    layers, selected = _chosen(loaded, stack)
    ids = _ids(loaded, SHORT)
    base, _ = log_probs(loaded, ids)
    block, token = int(layers[0]), 2
    same = [Intervention("force", stack, (block,), (token,), tuple(int(e) for e in selected[0, token]))]
    unused = sorted(set(range(loaded.num_experts)) - set(selected[0].reshape(-1).tolist()))
    ban = [Intervention("ban", stack, (block,), None, (unused[0],))]
    steer0 = [Intervention("steer", stack, None, None, (0, 1), strength=0.0)]
    for ivs in (same, ban, steer0):
        with intervening(loaded, ivs):
            after, _ = log_probs(loaded, ids)
        assert torch.equal(base, after), ivs[0].describe()
    other = [Intervention("force", stack, (block,), (token,), (unused[0],))]
    with intervening(loaded, other):
        moved, _ = log_probs(loaded, ids)
    assert not torch.equal(base, moved)


@pytest.mark.parametrize("family", ["mixtral", "olmoe", "granitemoe", "deepseek_v3", "switch"])
def test_a_forced_route_is_the_hand_built_mixture_with_the_familys_own_weights(models, family):
    """At the forced layer, the experts module's output for the forced token is Σ w_j · expert_j(h), each expert run
    alone, w the family's weights for the forced set (softmax renormalised for Mixtral, the plain softmax
    probabilities for OLMoE, a softmax over the two logits for GraniteMoE, the sigmoid scores renormalised and scaled
    for DeepSeek-V3, the softmax probability for Switch)."""
    from core.tracing.self_check import experts_beside

    loaded = models[family]
    adapter, model = loaded.adapter, loaded.model
    stack = "encoder" if family == "switch" else "decoder"
    block, router = adapter.routers(model)[stack][0]
    experts = experts_beside(model, router, {id(m): n for n, m in model.named_modules()})
    forced = {"switch": (3,), "deepseek_v3": (3, 5)}.get(family, (3, 11))  # DeepSeek-V3: one group (of 2) per token
    token = 2
    seen = {}
    hooks = [router.register_forward_hook(lambda _m, _i, out: seen.update(logits=adapter.route_of(out)[0])),
             experts.register_forward_pre_hook(lambda _m, args: seen.update(hidden=args[0])),
             experts.register_forward_hook(lambda _m, _i, out: seen.update(out=out))]
    try:
        with intervening(loaded, [Intervention("force", stack, (int(block),), (token,), forced)]):
            log_probs(loaded, _ids(loaded))
    finally:
        for h in hooks:
            h.remove()
    logits = seen["logits"].reshape(-1, loaded.num_experts)[token]
    hidden = seen["hidden"].reshape(-1, seen["hidden"].shape[-1])[token : token + 1]
    if family == "mixtral":
        p = torch.softmax(logits.float(), -1)[list(forced)]
        w = p / p.sum()
    elif family in ("olmoe", "switch"):
        w = torch.softmax(logits.float(), -1)[list(forced)]
    elif family == "deepseek_v3":  # sigmoid scores of the set, renormalised, scaled (its selection bias: choice only)
        sig = torch.sigmoid(logits.float())[list(forced)]
        w = sig / (sig.sum() + 1e-20) * router.routed_scaling_factor
    else:
        w = torch.softmax(logits.float()[list(forced)], -1)
    expected = sum(w[j] * adapter.run_one_expert(experts, hidden, e).reshape(-1) for j, e in enumerate(forced))
    got = seen["out"].reshape(-1, seen["out"].shape[-1])[token]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_a_swap_between_identical_contexts_changes_nothing(models):
    """Copying the word's route from one occurrence onto the same word in the same sentence (layer by layer) is the
    identity: every log-probability bit for bit."""
    from core.studies.swap import swap_outcome

    for family in ("mixtral", "switch"):
        loaded = models[family]
        result = swap_outcome(loaded, TEXT, TEXT, (4, 8), (4, 8))  # "bank"
        assert result.mean_kl == 0.0 and result.loss_after == result.loss_before


def test_what_cannot_be_written_says_why(models, tmp_path):
    with pytest.raises(InputError, match="no sparse decoder block 9"):
        with intervening(models["mixtral"], [Intervention("force", "decoder", (9,), None, (1,))]):
            pass
    with pytest.raises(InputError, match="Expert 99 does not exist"):
        with intervening(models["mixtral"], [Intervention("ban", "decoder", None, None, (99,))]):
            pass
    with pytest.raises(InputError, match="would not choose the forced experts"):  # two groups; it routes within one
        outcome(models["deepseek_v3"], TEXT, [Intervention("force", "decoder", None, (2,), (3, 11))])
    llama4 = load_model(str(build_tiny_decoder(tmp_path / "l4", "llama4")), dtype="float32", lm_head=True)
    with pytest.raises(InputError, match="scaled inputs"):
        outcome(llama4, TEXT, [Intervention("ban", "decoder", None, None, (1,))])
    with pytest.raises(InputError, match="one expert"):
        outcome(models["switch"], TEXT, [Intervention("top_k", "encoder", None, None, k=2)])


def test_an_outcome_reports_every_position_with_the_original_beside(models):
    loaded = models["mixtral"]
    iv = Intervention("ban", "decoder", None, None, (0, 1, 2, 3))
    result = outcome(loaded, TEXT, [iv])
    frame = result.frame
    assert list(frame.columns) == ["position", "token", "loss_before", "loss_after", "kl", "top5_before", "top5_after"]
    assert len(frame) == len(_ids(loaded)[0]) - 1 and (frame.kl >= 0).all() and result.mean_kl > 0
    assert result.interventions == ["intervened: e0, e1, e2, e3 banned at every sparse decoder layer, every token"]
    assert all(len(t.split()) == 5 for t in frame.top5_before)


def test_reproduce_swap_writes_the_swap_study_and_its_claim(tmp_path, tmp_cache):
    """`reproduce --swap` on the bundled Mixtral demo: per layer and for every layer at once, Cohen's d of the output
    change (different − same meaning) with its CI, the per-pair KL, and a verdict in the claims matrix."""
    import pandas as pd

    from core.cli import main
    from core.studies.claims import claims_matrix
    from core.studies.swap import SWAP_CLAIM

    out = tmp_path / "out"
    assert main(["reproduce", "--model", "demo-mixtral-8", "--limit", "24", "--swap", "--out", str(out)]) == 0
    swap = pd.read_csv(out / "swap.csv")
    assert set(swap.layer) == {-1, 0, 1, 2, 3} and swap[["d", "ci_low", "ci_high"]].notna().all().all()
    pairs = pd.read_csv(out / "swap_pairs.csv")
    assert (pairs.kl >= 0).all() and set(pairs.label) == {"T", "F"}
    claims = pd.read_csv(out / "claims.csv")
    row = claims[claims.claim == SWAP_CLAIM]
    assert len(row) == 1 and row.verdict.iloc[0] in ("supported", "contradicted", "inconclusive")
    matrix = claims_matrix(claims)
    assert matrix[matrix.claim == SWAP_CLAIM].iloc[0]["demo-mixtral-8 · decoder"] == row.verdict.iloc[0]
    assert "swap" in (out / "report.html").read_text().lower()


def test_the_counterfactual_scan_finds_a_planted_tie_and_reuse_changes_no_score():
    """demo-switch-8 with expert b made a copy of the expert a token chose (its weights and its router row): the
    alternative route to b scores exactly the router's own loss (a tie); every other alternative is scored, and reusing
    the blocks below the layer gives the same scores as recomputing them."""
    from core.studies.counterfactual import alternatives, scan

    loaded = load_model("demo-switch-8", dtype="float32", lm_head=True)  # a fresh copy to plant in
    stack, token = "encoder", 3
    layers, selected = _chosen(loaded, stack, TEXT)
    block = int(layers[1])
    a = int(selected[1, token, 0])
    b = (a + 1) % loaded.num_experts
    sparse = loaded.model.get_encoder().block[block].layer[-1].mlp
    with torch.no_grad():
        sparse.router.classifier.weight[b] = sparse.router.classifier.weight[a]
        for pa, pb in zip(sparse.experts[f"expert_{a}"].parameters(), sparse.experts[f"expert_{b}"].parameters()):
            pb.copy_(pa)
    frame = scan(loaded, TEXT, token, block, stack)
    assert len(frame) == loaded.num_experts and frame.is_router.sum() == 1
    pair = frame[frame.route.isin([f"e{a}", f"e{b}"])]  # the router now picks one of the two identical experts
    assert pair.ties_router.all() and pair.is_router.sum() == 1 and (frame.ties_router.sum() == 2)
    assert frame.margin.iloc[0] == 0.0  # a planted tie: the decision's margin is exactly 0
    slow = scan(loaded, TEXT, token, block, stack, reuse_below=False).set_index("route").loss
    fast = frame.set_index("route").loss
    np.testing.assert_allclose(fast.loc[slow.index], slow, rtol=1e-5, atol=1e-6)
    assert alternatives((2, 5), 4) == [(2, 5), (0, 5), (1, 5), (3, 5), (0, 2), (1, 2), (2, 3)]


def test_a_top_k_scan_scores_every_one_swap_route_with_the_familys_weights(models):
    from core.studies.counterfactual import scan

    loaded = models["mixtral"]
    layers, _selected = _chosen(loaded, "decoder", TEXT)
    frame = scan(loaded, TEXT, 3, int(layers[1]))
    assert len(frame) == 1 + 2 * (16 - 2) and frame.is_router.sum() == 1
    assert all(abs(sum(w) - 1) < 1e-6 for w in frame.weights)  # Mixtral renormalises; weights kept at full precision
    assert all(isinstance(e, list) and len(e) == 2 for e in frame.experts)
    assert frame.margin.nunique() == 1 and 0 <= frame.margin.iloc[0] <= 1


def test_steering_ranks_experts_by_risk_difference_and_strength_zero_is_the_identity(models):
    """Two sets of texts: the experts are ranked by the difference of their activation rates (with a CI); steering
    at strength 0 changes no likelihood; raising the expert set A uses most makes set A's likelihood move."""
    from core.studies.steering import rank_experts, steer_effect

    loaded = models["mixtral"]
    river = ["I sat on the river bank and watched the water flow.", "A bat flew out of the cave at dusk."]
    money = ["The bank raised its interest rates again this spring.", "She deposited money at the bank."]
    ranked = rank_experts(Tracer(loaded, cache=None), river, money)
    assert len(ranked) == 3 * 16 and ranked.risk_difference.abs().is_monotonic_decreasing
    assert ((ranked.ci_low <= ranked.risk_difference) & (ranked.risk_difference <= ranked.ci_high)).all()
    top = ranked.iloc[0]
    experts = [(top["stack"], int(top.layer), int(top.expert))]
    still = steer_effect(loaded, {"river": river, "money": money}, experts, 0.0)
    assert (still.delta == 0).all() and (still.loglik_intact == still.loglik_steered).all()
    pushed = steer_effect(loaded, {"river": river, "money": money}, experts, 5.0)
    assert (pushed.delta != 0).all() and set(pushed.columns) >= {"ci_low", "ci_high", "experts"}


def test_over_a_sample_the_share_of_best_router_choices_has_a_ci(models):
    from core.studies.counterfactual import sample_scans

    texts = [TEXT, "I sat on the river bank and watched the water flow.", "A bat flew out of the cave at dusk."]
    draws, summary = sample_scans(models["mixtral"], texts, samples=6, seed=1)
    assert len(draws) == 6 and (draws.regret >= -1e-6).all() and (draws.alternatives == 28).all()
    whole = summary[summary.routes == "one-swap"].set_index("decisions").loc["all"]
    assert whole.n == 6 and whole.ci_low <= whole.router_best_share <= whole.ci_high
    assert set(summary.decisions) == {"all", "near-ties", "confident", "ρ(margin, regret)"}
    assert set(summary.routes) == {"one-swap", "one-swap + sampled"}
    # sampled routes widen the search: the best over both is never worse than the neighbourhood's
    assert (draws.best_loss_sampled <= draws.best_loss + 1e-12).all() and (draws.sampled > 0).all()


def test_the_lens_and_the_cli_write_to_routing(tmp_path, capsys):
    """Lens.force / ban / top_k / steer / swap / counterfactuals, and `python -m core intervene` with a CSV out; bad
    options fail before any model is loaded."""
    import pandas as pd

    from core.cli import main
    from core.lens import Lens

    lens = Lens("demo-mixtral-8", dtype="float32")
    forced = lens.force(TEXT, [3], layers=[1], tokens=[4])
    assert forced.interventions == ["intervened: forced to e3 at decoder block 1, token 4"]
    # causal: positions before the token keep their predictions. Not bitwise: the experts' batched matmuls see other
    # token counts once a token moves, and float32 sums in another order differ by ~1e-7 (thread-dependent)
    assert (forced.frame.kl.iloc[:3] < 1e-5).all() and forced.mean_kl > forced.frame.kl.iloc[:3].max() * 100
    assert lens.steer(TEXT, [2], 0.0).mean_kl == 0.0
    assert lens.ban(TEXT, [0, 1]).mean_kl > 0 and lens.top_k(TEXT, 1).mean_kl > 0
    assert lens.swap("I sat on the river bank.", "I sat on the river bank.", "bank").mean_kl == 0.0
    scan = lens.counterfactuals(TEXT, 3, 1)
    assert scan.is_router.sum() == 1 and len(scan) == 13
    out = tmp_path / "o.csv"
    assert main(["intervene", "--model", "demo-mixtral-8", "--text", TEXT, "--ban", "0,1", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert (frame.intervention == "intervened: e0, e1 banned at every sparse decoder layer, every token").all()
    assert main(["intervene", "--model", "demo-switch-8", "--text", "I sat on the bank of the river.", "--swap",
                 "The bank raised its rates.", "bank", "--out", str(tmp_path / "s.parquet")]) == 0
    assert pd.read_parquet(tmp_path / "s.parquet").kl.notna().all()
    capsys.readouterr()
    for bad in (["--force", "1", "--ban", "2"], ["--force", "x"], ["--counterfactuals", "--token", "1"],
                ["--force", "1", "--out", "x.txt"]):
        assert main(["intervene", "--model", "demo-mixtral-8", "--text", TEXT, *bad]) == 2
        assert capsys.readouterr().err.startswith("error:")


@pytest.mark.app
def test_trace_compare_and_learn_write_to_routing_and_say_so(tmp_cache, monkeypatch):
    """Trace's force menu, Compare's swap and Learn's "send it elsewhere" on demo-mixtral-8: each result opens with
    the intervention stated and the original beside the intervened prediction."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ROUTING_LENS_MODEL", "demo-mixtral-8")
    at = AppTest.from_file("../app.py", default_timeout=180)
    at.run()
    at.switch_page("app_pages/trace.py")
    at.run()
    at.radio(key="force-0-decoder-kind").set_value("ban")
    at.button(key="force-0-decoder-go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("banned at decoder block" in w.value and "not the model's own" in w.value for w in at.warning)
    assert any("top-5, intervened" in t.value.columns for t in at.table)
    at.switch_page("app_pages/compare.py")
    at.run()
    at.button(key="cmp-swap-go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("routed as given (a swap)" in w.value for w in at.warning)
    at.switch_page("app_pages/learn.py")
    at.run()
    at.button(key="learn-force-go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Intervened: forced to e" in w.value for w in at.warning)


@pytest.mark.parametrize("family", sorted(set(DECODER_FAMILIES) - {"llama4", "dbrx"}))  # their routing is not written
def test_every_familys_own_rule_is_its_router_rerun(family, tmp_path):
    """Re-running a family's router on its own inputs with no shift gives back its own choice and weights exactly
    (so bans, steers and forced sets follow each family's rule: sigmoid scores, biases, groups, scaling); a ban moves
    only the tokens that had chosen the banned expert, and the new choice never holds it."""
    from core.models.adapters.rerouting import rerun

    loaded = load_model(str(build_tiny_decoder(tmp_path / family, family)), dtype="float32", lm_head=True)
    (block, router), *_ = loaded.adapter.routers(loaded.model)["decoder"]
    seen = {}
    handle = router.register_forward_hook(lambda _m, a, kw, out: seen.update(call=(a, kw), out=out), with_kwargs=True)
    log_probs(loaded, _ids(loaded))
    handle.remove()
    logits, weights, index = seen["out"][:3]
    again_i, again_w = rerun(router, seen["call"], torch.zeros(logits.shape), loaded.num_experts)
    assert torch.equal(again_i, index) and torch.equal(again_w, weights)
    banned = int(index[0, 0])
    seen.clear()
    with intervening(loaded, [Intervention("ban", "decoder", (int(block),), None, (banned,))]):
        handle = router.register_forward_hook(lambda _m, _a, out: seen.update(out=out))  # after the rewrite
        log_probs(loaded, _ids(loaded))
    handle.remove()
    new_w, new_i = seen["out"][1], seen["out"][2]
    hit = (index == banned).any(-1)
    assert not (new_i == banned).any() and torch.equal(new_i[~hit], index[~hit]) and torch.equal(new_w[~hit], weights[~hit])


def test_outcomes_name_ids_past_the_tokenizers_vocabulary(models):
    """Real checkpoints pad their vocabulary past their tokenizer's (OLMoE: 50,304 rows for 50,280 tokens): a top-5
    that holds such an id is named "<id N>", not a crash (found by bench/real_size.py)."""
    from core.tracing.encoding import token_names

    tok = models["mixtral"].tokenizer
    assert token_names(tok, [0, len(tok) + 5]) == [tok.convert_ids_to_tokens(0), f"<id {len(tok) + 5}>"]
