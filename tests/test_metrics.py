"""Metrics against scipy and hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from core.measures.metrics import cohens_d, jss, kde, spearman


def test_jss_identical_is_one_and_disjoint_is_zero():
    p = np.array([0.2, 0.3, 0.5])
    assert jss(p, p) == pytest.approx(1.0)
    assert jss(np.array([1.0, 0, 0]), np.array([0, 1.0, 0])) == pytest.approx(0.0)


def test_jss_hand_computed_and_vectorised():
    # p = (1, 0), q = (1/2, 1/2): m = (3/4, 1/4); JSD = 1/2 KL(p||m) + 1/2 KL(q||m) in bits
    kl_pm = np.log2(1 / 0.75)
    kl_qm = 0.5 * np.log2(0.5 / 0.75) + 0.5 * np.log2(0.5 / 0.25)
    expected = 1 - 0.5 * (kl_pm + kl_qm)
    assert jss(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(expected)
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(8), size=(5, 6))
    Q = rng.dirichlet(np.ones(8), size=(5, 6))
    got = jss(P, Q)
    assert got.shape == (5, 6)
    ref = np.array([[1 - jensenshannon(P[i, j], Q[i, j], base=2) ** 2 for j in range(6)] for i in range(5)])
    np.testing.assert_allclose(got, ref, atol=1e-12)
    assert ((got >= 0) & (got <= 1)).all()


def test_spearman_matches_scipy_and_ci_contains_rho():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    y = x + rng.normal(size=200)
    c = spearman(x, y)
    ref = stats.spearmanr(x, y)
    assert c.rho == pytest.approx(ref.statistic) and c.p == pytest.approx(ref.pvalue) and c.n == 200
    assert c.ci_low < c.rho < c.ci_high and c.ci_high - c.ci_low < 0.3


def test_spearman_degenerate_input_is_nan_not_error():
    c = spearman([1, 1, 1, 1], [1, 2, 3, 4])
    assert np.isnan(c.rho) and c.n == 4


def test_cohens_d_pooled_sd():
    a = np.array([2.0, 4.0, 6.0])
    b = np.array([1.0, 2.0, 3.0])
    pooled = np.sqrt((2 * a.var(ddof=1) + 2 * b.var(ddof=1)) / 4)
    assert cohens_d(a, b) == pytest.approx((4 - 2) / pooled)
    assert cohens_d(b, a) == pytest.approx(-(4 - 2) / pooled)


def test_kde_matches_scipy():
    rng = np.random.default_rng(2)
    v = rng.beta(5, 2, size=300)
    grid = np.linspace(0, 1, 11)
    np.testing.assert_allclose(kde(v, grid), stats.gaussian_kde(v)(grid))


def test_bounded_kde_keeps_the_mass_that_piles_up_below_one():
    """JSS cannot exceed 1; an unbounded KDE of values near 1 loses the mass beyond it, the reflected one does not."""
    rng = np.random.default_rng(3)
    v = 1 - rng.exponential(0.03, size=500)  # like same-meaning WiC pairs: most just below 1
    v = v[v >= 0]
    grid = np.linspace(0, 1, 2001)
    plain = np.trapezoid(kde(v, grid), grid)
    reflected = np.trapezoid(kde(v, grid, bounds=(0, 1)), grid)
    assert plain < 0.95  # a good share of the kernel mass fell beyond 1
    assert reflected == pytest.approx(1.0, abs=0.01)
    # Reflection is exactly the sum of the kernel density and its mirror images at the bounds.
    k = stats.gaussian_kde(v)
    np.testing.assert_allclose(kde(v, grid[:5], bounds=(0, 1)), k(grid[:5]) + k(-grid[:5]) + k(2 - grid[:5]))
    assert kde(v, np.array([1.2]), bounds=(0, 1))[0] == 0.0


def test_effect_size_ci_and_welch_p_match_scipy_and_cover_a_known_d():
    from core.measures.metrics import effect_size

    rng = np.random.default_rng(4)
    a = rng.normal(0.5, 1.0, size=400)  # true d = 0.5
    b = rng.normal(0.0, 1.0, size=500)
    e = effect_size(a, b)
    assert e.d == pytest.approx(cohens_d(a, b))
    assert e.ci_low < 0.5 < e.ci_high and e.ci_low < e.d < e.ci_high and e.ci_high - e.ci_low < 0.35
    assert e.p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue) and e.p < 1e-10
    # hand-computed case: d of [1, 2, 3] vs [0, 1, 2] is 1 / pooled SD 1 = 1
    assert effect_size([1, 2, 3], [0, 1, 2]).d == pytest.approx(1.0)
    null = effect_size(rng.normal(size=300), rng.normal(size=300))
    assert null.ci_low < 0 < null.ci_high and null.p > 0.01
    assert np.isnan(effect_size([1.0], [2.0, 3.0]).p)


def test_context_gain_finds_a_planted_gain_and_no_gain_in_a_null():
    from core.measures.metrics import correlation_gain

    rng = np.random.default_rng(5)
    y = rng.normal(size=600)
    without = y + rng.normal(scale=2.0, size=600)  # ρ ≈ 0.43
    with_ = y + rng.normal(scale=0.7, size=600)  # ρ ≈ 0.81
    g = correlation_gain(without, with_, y)
    assert g.rho_without == pytest.approx(stats.spearmanr(without, y).statistic)
    assert g.rho_with == pytest.approx(stats.spearmanr(with_, y).statistic)
    assert g.gain == pytest.approx(g.rho_with - g.rho_without) and g.ci_low > 0.2 and g.p < 0.01 and g.n == 600
    null = correlation_gain(without, y + rng.normal(scale=2.0, size=600), y)
    assert null.ci_low < 0 < null.ci_high and null.p > 0.05


@pytest.mark.parametrize(("r12", "r13", "r23", "n", "t", "df", "p"), [
    (0.80, 0.72, 0.89, 26, 1.361, 23, 0.187),  # Howell, Statistical Methods for Psychology (6th ed., p. 262)
    (0.20, 0.45, 0.80, 100, -4.56, 97, 1.5e-05),  # bruceR::cor_diff documentation: t(97) = -4.56, p = 1e-05
])
def test_williams_test_matches_published_worked_examples(r12, r13, r23, n, t, df, p):
    from core.measures.metrics import williams_test

    res = williams_test(r12, r13, r23, n)
    assert res.t == pytest.approx(t, abs=0.005) and res.df == df and res.p == pytest.approx(p, rel=0.05, abs=5e-4)


def test_williams_test_hand_cases_and_its_place_in_the_context_gain():
    from core.measures.metrics import correlation_gain, williams_test

    assert williams_test(0.5, 0.5, 0.3, 50).t == 0.0  # equal correlations: no difference
    a, b = williams_test(0.6, 0.3, 0.4, 80), williams_test(0.3, 0.6, 0.4, 80)
    assert a.t == pytest.approx(-b.t) and a.p == pytest.approx(b.p)  # antisymmetric, same two-sided p
    # a higher correlation between the two measures makes the same difference more significant
    assert williams_test(0.6, 0.3, 0.8, 80).p < williams_test(0.6, 0.3, 0.1, 80).p
    assert np.isnan(williams_test(0.5, 0.4, 0.3, 3).t)

    rng = np.random.default_rng(9)
    y = rng.normal(size=400)
    without = y + rng.normal(scale=2.0, size=400)
    with_ = y + rng.normal(scale=0.7, size=400)
    g = correlation_gain(without, with_, y)
    r23 = stats.spearmanr(with_, without).statistic
    assert g.williams_t == pytest.approx(williams_test(g.rho_with, g.rho_without, r23, 400).t)
    assert g.williams_t > 0 and g.williams_p < 0.01
    null = correlation_gain(without, y + rng.normal(scale=2.0, size=400), y)
    assert null.williams_p > 0.05


def test_precision_check_flags_flips_and_jss_moves():
    from core.studies.word_pair import StackComparison, precision_check

    a = np.array([[0.6, 0.4], [0.9, 0.1]])
    b = np.array([[0.5, 0.5], [0.2, 0.8]])
    shown = {"encoder": StackComparison([1, 3], a, b, np.array([0.9, 0.5]))}
    same = {"encoder": StackComparison([1, 3], a, b, np.array([0.9, 0.49]))}
    flipped = {"encoder": StackComparison([1, 3], a[:, ::-1], b, np.array([0.9, 0.5]))}
    assert not precision_check(shown, same)[0].moved(0.02)  # 0.005 apart, same experts
    assert precision_check(shown, same)[0].moved(0.001)
    check = precision_check(shown, flipped)[0]
    assert check.flipped_layers == [1, 3] and check.moved(1.0)
    assert precision_check(shown, {}) == []


def test_compare_figure_marks_top1_flips_and_scales_to_the_data():
    from core.viz.compare_plots import compare_distributions

    p1 = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    p2 = np.array([[0.5, 0.4, 0.1], [0.25, 0.1, 0.65]])
    fig = compare_distributions(p1, p2, [1, 3], "encoder")
    titles = [a.text for a in fig.layout.annotations]
    assert "same top-1 e0" in titles[0] and "e1 → e2 (flipped)" in titles[1]
    assert fig.layout.yaxis.range[1] == pytest.approx(0.77)  # 1.1 × the largest probability, not 1
    # a top-2 model: the set of its two largest experts, compared as a set
    top2 = [a.text for a in compare_distributions(p1, p2, [1, 3], "decoder", top_k=2).layout.annotations]
    assert top2[0].endswith("same top-2") and top2[1].endswith("1 of the top-2 changed")  # {e0, e1} → {e0, e2}


def test_place_pair_counts_the_pairs_routed_more_alike():
    import pandas as pd

    from core.studies.pair_reference import place_pair

    ref = pd.DataFrame({"stack": ["encoder"] * 6, "label": ["T", "T", "T", "F", "F", "F"],
                        "jss": [0.99, 0.95, 0.90, 0.80, 0.70, 0.96]})
    (p,) = place_pair(ref, {"encoder": 0.93, "decoder": 0.5})  # no decoder reference: left out
    assert (p.more_different_than_same, p.more_different_than_different) == (pytest.approx(2 / 3), pytest.approx(1 / 3))
    assert "67% of same-meaning" in p.sentence() and (p.n_same, p.n_different) == (3, 3)


def test_jss_of_nearly_identical_distributions_is_one_not_nan():
    """scipy's Jensen–Shannon divergence of two distributions equal to 8 digits can round below zero; its root is
    NaN. JSS is 1 there (and stays NaN only for a missing distribution)."""
    from core.measures.metrics import jss

    p = np.array([0.11516889, 0.10392422, 0.12897122, 0.08257232, 0.12501649, 0.21555669, 0.12151312, 0.10727706])
    q = np.array([0.11516888, 0.10392423, 0.12897122, 0.08257232, 0.12501649, 0.21555668, 0.12151312, 0.10727706])
    assert jss(p, q) == pytest.approx(1.0) and np.isfinite(jss(np.stack([p, q]), np.stack([q, p]))).all()
    assert np.isnan(jss(np.full(8, np.nan), q))
