"""Leverage beside the element r: Spearman's rho with its permutation p, the leave-one-out r range and
the elements that change the verdict; with a null simulation on the GSE84888 element structure."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mprabench.stats.clustered import element_permutations
from mprabench.stats.leverage import leave_one_out_r, leverage, spearman_interval, spearman_permutation_p
from tests.support.null_rows import GSE84888_ELEMENT_SIZES

IDS = np.array([f"E{i:02d}" for i in range(18)])
# conf/evaluate: the normal limit only above 20,000 elements, 95 % interval of rho from 10 elements
SETTINGS = dict(normal_above=20_000, ci_level=0.95, min_elements_ci=10, changers_max_elements=500)


def test_spearman_and_leave_one_out_match_scipy_and_brute_force():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=18), rng.normal(size=18)
    result = leverage(IDS, x, y, n_permutations=4999, threshold=0.05 / 6, rng=np.random.default_rng(2), **SETTINGS)
    assert result.spearman_rho == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    exact = stats.permutation_test((x,), lambda a: stats.spearmanr(a, y).statistic, permutation_type="pairings",
                                   n_resamples=4000, random_state=3).pvalue
    assert result.spearman_p == pytest.approx(exact, abs=0.03)  # two Monte-Carlo p's: SE <= 0.008 each
    brute = [stats.pearsonr(np.delete(x, i), np.delete(y, i)).statistic for i in range(18)]
    np.testing.assert_allclose(leave_one_out_r(x, y), brute, atol=1e-12)
    assert (result.loo_r_min, result.loo_r_max) == pytest.approx((min(brute), max(brute)))


def test_the_element_that_carries_the_verdict_is_named():
    """Ranks of 17 elements agree perfectly except one; removing an agreeing element keeps the verdict,
    so no changer, while a weak association that one element carries is flagged by its removal."""
    x = np.arange(18, dtype=float)
    strong = leverage(IDS, x, x.copy(), n_permutations=999, threshold=0.05 / 6, rng=np.random.default_rng(4), **SETTINGS)
    assert strong.spearman_p < 0.05 / 6 and strong.loo_verdict_changers == []
    rng = np.random.default_rng(5)
    for _ in range(50):  # find a weak association near the threshold where one element decides it
        y = x + rng.normal(scale=14, size=18)
        if not 0.01 < stats.spearmanr(x, y).pvalue < 0.1:
            continue
        result = leverage(IDS, x, y, n_permutations=999, threshold=0.05, rng=np.random.default_rng(6), **SETTINGS)
        if result.loo_verdict_changers:
            break
    assert result.loo_verdict_changers, "no sample near the threshold had a verdict-changing element"
    for element in result.loo_verdict_changers:
        i = int(element[1:])
        without = leverage(np.delete(IDS, i), np.delete(x, i), np.delete(y, i), n_permutations=999, threshold=0.05,
                           rng=np.random.default_rng(7), **SETTINGS)
        assert (without.spearman_p <= 0.05) != (result.spearman_p <= 0.05)


def test_spearman_p_holds_under_a_leverage_null_on_the_gse84888_elements_where_pearson_fails():
    """Null: element-mean features independent of the target, variance ∝ 1/size, the smallest element's
    target at +6 SD. 600 replicates: 3 MC SE of a 0.05 rate is 0.027."""
    sizes = np.array(GSE84888_ELEMENT_SIZES, dtype=float)
    rng = np.random.default_rng(8)
    target = rng.normal(size=18)
    smallest = int(np.argmin(sizes))
    others = np.delete(target, smallest)
    target[smallest] = others.mean() + 6 * others.std(ddof=1)
    spearman, pearson = [], []
    for _ in range(600):
        x = rng.normal(size=18) / np.sqrt(sizes / sizes.mean())
        # the p leverage() reports (its own fresh permutations per feature, as in evaluate)
        spearman.append(spearman_permutation_p(x, target, element_permutations(18, 199, rng)) <= 0.05)
        pearson.append(stats.pearsonr(x, target).pvalue <= 0.05)
    assert abs(np.mean(spearman) - 0.05) <= 0.027
    assert np.mean(pearson) > 0.10  # the control: the leverage null breaks the Pearson test


def test_constant_means_give_reasons_not_numbers():
    result = leverage(IDS, np.ones(18), np.arange(18.0), n_permutations=99, threshold=0.05, rng=np.random.default_rng(0), **SETTINGS)
    assert result.spearman_p is None and "constant" in result.spearman_p_reason and result.loo_r_min is None


def test_spearman_interval_is_fisher_z_with_the_bonett_wright_rho_term_over_n_minus_2():
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=18), rng.normal(size=18)
    result = leverage(IDS, x, y, n_permutations=99, threshold=0.05, rng=rng, **SETTINGS)
    rho = stats.spearmanr(x, y).statistic
    half = stats.norm.ppf(0.975) * np.sqrt((1 + rho**2 / 2) / 16)
    assert result.spearman_ci == pytest.approx((np.tanh(np.arctanh(rho) - half), np.tanh(np.arctanh(rho) + half)))
    few = leverage(IDS[:8], x[:8], y[:8], n_permutations=99, threshold=0.05, rng=rng, **SETTINGS)
    assert few.spearman_ci is None and "fewer than 10 elements" in few.spearman_ci_reason
    low, high = spearman_interval(np.array([0.0, 0.5]), 18, 0.95)
    assert low[0] == pytest.approx(-high[0]) and low[1] < 0.5 < high[1]


def test_verdict_changers_above_the_configured_element_count_are_not_computed_and_say_why():
    rng = np.random.default_rng(11)
    x = rng.normal(size=18)
    y = x + rng.normal(size=18)
    bounded = leverage(IDS, x, y, n_permutations=199, threshold=0.05, rng=np.random.default_rng(1),
                       **(SETTINGS | {"changers_max_elements": 17}))
    computed = leverage(IDS, x, y, n_permutations=199, threshold=0.05, rng=np.random.default_rng(1), **SETTINGS)
    assert bounded.loo_verdict_changers is None and "verdict_changers_max_elements" in bounded.loo_verdict_reason
    assert computed.loo_verdict_changers is not None and computed.loo_verdict_reason is None
    # the rest of the leverage block is the same either way
    assert (bounded.spearman_p, bounded.loo_r_min, bounded.loo_r_max) == (computed.spearman_p, computed.loo_r_min,
                                                                           computed.loo_r_max)
