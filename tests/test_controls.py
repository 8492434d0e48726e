"""Router or representation: the captured router inputs change nothing and reproduce the routing; the controls on
planted cases (a router that ignores context, a random router, identical chosen sets); `reproduce --controls` end
to end on a tiny model."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.measures.metrics import cohens_d_along, jss
from core.measures.representation import (
    chosen_overlap,
    cosine,
    partial_point_biserial,
    random_routers,
    retention,
    softmax_probs,
)
from core.models.loading import load_model
from core.tracing.tracer import Tracer

TEXTS = ["I sat on the river bank and watched the water.", "The bank raised its interest rates."]


@pytest.mark.parametrize("model", ["tiny", "demo-mixtral-8"])
def test_capturing_router_inputs_changes_no_output_and_reproduces_the_routing(tiny_model_dir, model):
    loaded = load_model(str(tiny_model_dir) if model == "tiny" else model, dtype="float32")
    plain = Tracer(loaded, cache=None)
    capture = plain.capturing_inputs()
    assert capture._lock is plain._lock  # one model, one forward pass at a time, whichever tracer asks
    for a, b in zip(plain.trace(TEXTS), capture.trace(TEXTS)):
        assert a.router_inputs is None and b.router_inputs is not None
        for stack in a.stacks:
            np.testing.assert_array_equal(a.stacks[stack].token_probs, b.stacks[stack].token_probs)
            np.testing.assert_array_equal(a.stacks[stack].selected, b.stacks[stack].selected)
            for li, (_block, module) in enumerate(capture.routers[stack]):
                weight = loaded.adapter.router_weight(module).float().numpy()
                again = softmax_probs(b.router_inputs[stack][li], weight)  # the trained router on its own inputs
                np.testing.assert_allclose(again, b.stacks[stack].token_probs[li], atol=2e-5)


def test_random_routers_keep_each_experts_norm_and_only_change_directions():
    weight = np.random.default_rng(0).standard_normal((8, 16)) * np.arange(1, 9)[:, None]
    routers = random_routers(weight, 20, seed=1)
    assert routers.shape == (20, 8, 16)
    np.testing.assert_allclose(np.linalg.norm(routers, axis=-1), np.repeat(np.linalg.norm(weight, axis=-1)[None],
                                                                           20, axis=0))
    assert not np.allclose(routers[0], routers[1])
    np.testing.assert_array_equal(routers, random_routers(weight, 20, seed=1))  # seeded: the same run twice


def _planted_pairs(n: int = 600, seed: int = 0):
    """Pairs of 16-d inputs: same-meaning pairs (first half) are closer than different-meaning ones."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, 16))
    spread = np.where(np.arange(n) < n // 2, 0.4, 1.2)[:, None]
    b = a + spread * rng.standard_normal((n, 16))
    return a, b, np.arange(n) < n // 2


def test_a_router_that_ignores_context_has_d_zero_and_retention_zero():
    """Routing that is the same whatever the context (every pair's JSS drawn from one set of values, T and F alike)
    has d = 0, so it retains none of the representation's clear d."""
    a, b, same = _planted_pairs()
    cos = cosine(a, b)
    flat = np.tile(np.linspace(0.5, 0.9, 300), 2)  # T and F get exactly the same JSS values
    assert cohens_d_along(flat[same], flat[~same]) == pytest.approx(0.0, abs=1e-12)
    kept = retention(flat, cos, same)
    assert kept.value == pytest.approx(0.0, abs=1e-12) and kept.ci_low < 0 < kept.ci_high
    no_signal = retention(flat, np.tile(np.linspace(0.1, 0.2, 300), 2), same)  # no representation effect either
    assert np.isnan(no_signal.ci_low)  # a ratio over a d that may be 0: undefined, not a number with a CI


def test_retention_is_the_ratio_of_the_two_ds_in_float64():
    """Float32 router inputs: the cosine is taken in float64, so retention equals d(routing) / d(cosine) to 1e-9."""
    from core.measures.metrics import effect_size

    rng = np.random.default_rng(0)
    same = np.repeat([True, False], 150)
    x = rng.standard_normal((600, 16)).astype(np.float32)
    x[300:] += np.concatenate([np.full((150, 16), 0.8), np.zeros((150, 16))]).astype(np.float32)
    cos = cosine(x[:300], x[300:])
    routing = cos * 0.5 + rng.normal(0, 0.05, 300)
    kept = retention(routing, cos, same)
    ratio = effect_size(routing[same], routing[~same]).d / effect_size(cos[same], cos[~same]).d
    assert cos.dtype == np.float64 and abs(kept.value - ratio) <= 1e-9 * abs(ratio)


def test_random_routers_are_seeded_per_model_stack_and_layer():
    from core.measures.representation import router_seed

    w = np.random.default_rng(0).standard_normal((8, 16))
    draws = [random_routers(w, 3, router_seed(0, m, s, b)) for m, s, b in
             (("a", "encoder", 1), ("a", "decoder", 1), ("b", "encoder", 1), ("a", "encoder", 3))]
    assert all(not np.allclose(draws[0], d) for d in draws[1:])
    np.testing.assert_array_equal(draws[0], random_routers(w, 3, router_seed(0, "a", "encoder", 1)))


def test_a_random_router_sits_inside_the_random_router_baseline():
    """A "trained" router that is itself one more random router of the trained shape: its d lies within the
    baseline's 2.5–97.5 % band, so the control claim cannot be supported for it."""
    a, b, same = _planted_pairs()
    weight = np.random.default_rng(3).standard_normal((8, 16))
    trained = random_routers(weight, 1, seed=99)[0]
    d_trained = cohens_d_along(*(lambda j: (j[same], j[~same]))(jss(softmax_probs(a, trained),
                                                                     softmax_probs(b, trained))))
    baseline = random_routers(weight, 200, seed=7)
    d_random = [cohens_d_along(*(lambda j: (j[same], j[~same]))(jss(softmax_probs(a, w), softmax_probs(b, w))))
                for w in baseline]
    low, high = np.percentile(d_random, [2.5, 97.5])
    assert low < d_trained < high and low > 0  # inputs that differ by meaning move every router a little


def test_identical_chosen_sets_overlap_one_disjoint_below_zero_random_near_zero():
    p = np.array([0.4, 0.3, 0.1, 0.1, 0.05, 0.05, 0.0, 0.0])
    assert chosen_overlap(p, p, 2) == 1.0
    q = p[::-1].copy()  # top-2 sets {0, 1} and {6, 7}... ties broken by order: disjoint
    assert chosen_overlap(p, np.array([0.0, 0.0, 0.1, 0.1, 0.05, 0.05, 0.4, 0.3]), 2) == pytest.approx(-1 / 3)
    rng = np.random.default_rng(0)
    many = chosen_overlap(rng.dirichlet(np.ones(8), 20_000), rng.dirichlet(np.ones(8), 20_000), 2)
    assert abs(many.mean()) < 0.02 and q.shape == p.shape


def test_partial_correlation_removes_what_the_covariate_explains():
    rng = np.random.default_rng(0)
    label = rng.random(2000) < 0.5
    cov = label + rng.standard_normal(2000)  # the representation follows the label
    explained = 2 * cov  # routing that is nothing but the representation
    own = cov + 1.5 * label + rng.standard_normal(2000)  # routing with a label effect of its own
    assert np.isnan(partial_point_biserial(label, explained, cov).value)  # nothing left once the cosine is out
    near = partial_point_biserial(label, explained + 0.01 * rng.standard_normal(2000), cov)
    assert near.ci_low < 0 < near.ci_high  # a little noise of its own: no label effect beyond the covariate
    r = partial_point_biserial(label, own, cov)
    assert r.value > 0.3 and r.ci_low > 0 and r.p < 1e-6


@pytest.mark.slow
def test_reproduce_controls_end_to_end_on_a_tiny_model(tiny_model_dir, tmp_path, tmp_cache):
    """`python -m core reproduce --controls`: the three control files, the control claim, and the same main
    outputs as without --controls."""
    from core.cli import main

    assert main(["reproduce", "--model", str(tiny_model_dir), "--limit", "16", "--out", str(tmp_path / "c"),
                 "--controls"]) == 0
    assert main(["reproduce", "--model", str(tiny_model_dir), "--limit", "16", "--out", str(tmp_path / "p")]) == 0
    controls = pd.read_csv(tmp_path / "c" / "controls.csv")
    assert set(controls["stack"]) == {"encoder", "decoder"} and (controls.layer_pos == -1).sum() == 2
    per_layer = controls[controls.layer_pos >= 0]
    assert per_layer[["d_routing", "d_cosine", "d_random_mean", "partial_r"]].notna().all().all()
    assert (per_layer.d_random_low <= per_layer.d_random_high).all()
    from core.studies.controls import RANDOM_MAX, RANDOM_ROUTERS, RANDOM_SE

    assert (per_layer.random_routers >= RANDOM_ROUTERS).all()  # enough random routers: the SE rule, or the cap
    assert ((per_layer.d_random_se <= RANDOM_SE) | (per_layer.random_routers + RANDOM_ROUTERS > RANDOM_MAX)).all()
    scws = pd.read_csv(tmp_path / "c" / "controls_scws.csv")
    assert set(scws.setting) == {"without context", "with context"} and scws.rho_cosine.notna().all()
    pairs = pd.read_csv(tmp_path / "c" / "controls_pairs.csv")
    wic = pd.read_csv(tmp_path / "c" / "wic_pairs.csv")
    merged = pairs.merge(wic, on=["pair", "stack", "layer_pos"], suffixes=("", "_main"))
    np.testing.assert_allclose(merged.jss, merged.jss_main, atol=1e-6)  # the same routing as the main run
    claims = pd.read_csv(tmp_path / "c" / "claims.csv")
    control = claims[claims.claim.str.contains("random router")]
    assert len(control) == 2 and control[["ci_low", "ci_high"]].notna().all().all()
    for name in ("table1", "table2", "cohens_d"):  # --controls adds files, and changes none
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "c" / f"{name}.csv"),
                                      pd.read_csv(tmp_path / "p" / f"{name}.csv"))
    assert "Router or representation" in (tmp_path / "c" / "report.html").read_text()


@pytest.mark.app
def test_compare_shows_the_pair_against_its_router_inputs_and_random_routers(tiny_model_dir, tmp_cache,
                                                                              monkeypatch):
    """The Compare toggle: per stack and layer, the routing JSS, the inputs' cosine and the random routers, equal
    to what the Lens computes for the same pair; off by default (it traces again)."""
    from streamlit.testing.v1 import AppTest

    from core.lens import Lens

    monkeypatch.setenv("ROUTING_LENS_MODEL", str(tiny_model_dir))
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.run()
    at.switch_page("app_pages/compare.py")
    at.run()
    assert not at.exception and not at.toggle(key="cmp_controls").value
    s1, s2, word = at.text_input(key="cmp_s1").value, at.text_input(key="cmp_s2").value, at.text_input(key="cmp_w").value
    at.toggle(key="cmp_controls").set_value(True).run()
    assert not at.exception
    table = next(t.value for t in at.table if "cosine of the router inputs" in t.value.columns)
    lens = Lens(Tracer(load_model(str(tiny_model_dir), dtype="float32"), cache=None))
    pair = lens.compare(s1, s2, word)
    expected = lens.pair_controls(s1, s2, pair.spans)
    assert len(table) == len(expected) == 4  # two stacks × two sparse layers
    assert list(table["routing JSS"]) == [f"{v:.3f}" for v in expected.jss]
    assert list(table["cosine of the router inputs"]) == [f"{v:.3f}" for v in expected.cosine]
    assert expected.jss.tolist() == pytest.approx([pair.stacks[s].jss[li] for s, li in zip(expected["stack"],
                                                                                            expected.layer_pos)])
