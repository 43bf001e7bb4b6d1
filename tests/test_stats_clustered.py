"""Element-aware inference: cluster bootstrap of pooled r and element-level association."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from statsmodels.regression import mixed_linear_model
from scipy import stats

from mprabench.stats import clustered
from mprabench.stats.clustered import (
    cluster_bootstrap_ci_from_counts,
    cluster_bootstrap_pearson_ci,
    element_level_association,
    element_sums,
    pearson_for_counts,
    resample_counts,
)


def clustered_data(seed: int, n_elements: int = 18, rows=(20, 60), rho: float = 0.5):
    """x and y with element-level effects correlated by rho plus independent row noise."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(rows[0], rows[1], n_elements)
    codes = np.repeat(np.arange(n_elements), sizes)
    effects = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n_elements)
    x = effects[codes, 0] + rng.normal(size=len(codes))
    y = effects[codes, 1] + rng.normal(size=len(codes))
    return x, y, np.array([f"E{c:02d}" for c in codes])


def v2_like(seed: int, n_elements: int = 18):
    """Feature constant within element (one model input per element); y independent of x."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(300, 480, n_elements)
    codes = np.repeat(np.arange(n_elements), sizes)
    x = rng.normal(size=n_elements)[codes]
    y = rng.normal(size=n_elements)[codes] + 0.5 * rng.normal(size=len(codes))
    return x, y, codes


def naive_bootstrap_r(x, y, clusters, counts):
    """Reference: materialise each resample's rows and call scipy.stats.pearsonr."""
    ids = np.unique(clusters)
    rows_of = [np.flatnonzero(clusters == e) for e in ids]
    out = []
    for row in counts:
        idx = np.concatenate([np.tile(rows_of[j], c) for j, c in enumerate(row) if c])
        out.append(stats.pearsonr(x[idx], y[idx]).statistic)
    return np.array(out)


# ------------------------------------------------------------------------------ bootstrap


def test_element_sums_match_groupwise_sums_of_centred_values():
    x, y, cl = clustered_data(0)
    sums = element_sums(x, y, cl)
    xc, yc = x - x.mean(), y - y.mean()
    for j, e in enumerate(sums.element_ids):
        m = cl == e
        assert sums.n[j] == m.sum()
        np.testing.assert_allclose(
            [sums.sx[j], sums.sy[j], sums.sxx[j], sums.syy[j], sums.sxy[j]],
            [xc[m].sum(), yc[m].sum(), (xc[m] ** 2).sum(), (yc[m] ** 2).sum(),
             (xc[m] * yc[m]).sum()],
            rtol=1e-10, atol=1e-10,
        )  # fmt: skip


def test_resample_counts_draw_whole_elements_with_replacement():
    counts = resample_counts(18, 2000, np.random.default_rng(0))
    assert counts.shape == (2000, 18)
    assert np.all(counts.sum(axis=1) == 18)
    # Each count is Binomial(18, 1/18): mean 1, P(0) = (17/18)^18 ~ 0.357.
    assert abs(counts.mean() - 1.0) < 0.02
    assert abs((counts == 0).mean() - (17 / 18) ** 18) < 0.02


def test_vectorised_bootstrap_equals_naive_loop_on_same_counts():
    x, y, cl = clustered_data(1, n_elements=12)
    x = x + 1e3  # an offset must not cost accuracy (sums are centred)
    counts = resample_counts(12, 200, np.random.default_rng(5))
    fast = pearson_for_counts(element_sums(x, y, cl), counts)
    np.testing.assert_allclose(fast, naive_bootstrap_r(x, y, cl, counts), rtol=0, atol=1e-10)
    ci = cluster_bootstrap_ci_from_counts(x, y, cl, counts, level=0.9)
    low, high = np.quantile(naive_bootstrap_r(x, y, cl, counts), [0.05, 0.95])
    assert ci.ci_low == pytest.approx(low, abs=1e-10)
    assert ci.ci_high == pytest.approx(high, abs=1e-10)
    assert ci.r == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)
    assert ci.n_boot_used == 200 and ci.n_boot_dropped == 0


def test_bootstrap_is_fast_at_full_size():
    x, y, cl = v2_like(0)
    assert len(x) > 5000
    start = time.perf_counter()
    ci = cluster_bootstrap_pearson_ci(x, y, cl, n_boot=1000, key="speed")
    elapsed = time.perf_counter() - start
    assert ci.reason is None
    assert elapsed < 0.25, f"{elapsed:.3f}s: not vectorised?"


def test_zero_variance_resamples_are_dropped_and_counted():
    # Three elements, feature constant within element: a resample drawing one element three
    # times has zero feature variance; probability 3 * (1/3)^3 = 1/9.
    x, y, cl = v2_like(2, n_elements=3)
    lenient = cluster_bootstrap_pearson_ci(x, y, cl, n_boot=2000, key="k", min_valid_fraction=0.5)
    assert lenient.reason is None
    assert lenient.n_boot_dropped + lenient.n_boot_used == 2000
    assert abs(lenient.n_boot_dropped / 2000 - 1 / 9) < 0.03
    strict = cluster_bootstrap_pearson_ci(x, y, cl, n_boot=2000, key="k", min_valid_fraction=0.95)
    assert strict.ci_low is None and strict.ci_high is None
    assert "resamples had non-zero variance in feature and target" in strict.reason
    json.dumps(strict.to_dict(), allow_nan=False)


def test_bootstrap_not_estimable_with_one_element_or_constant_input():
    x, y, _ = clustered_data(3)
    one = cluster_bootstrap_pearson_ci(x, y, np.zeros(len(x), int))
    assert one.ci_low is None and one.reason == "fewer than 2 elements (1)"
    const = cluster_bootstrap_pearson_ci(np.ones(len(x)), y, np.arange(len(x)) % 5)
    assert const.ci_low is None and const.r is None and const.reason == "constant feature"


def test_bootstrap_ci_covers_true_r_with_reasonable_frequency():
    # Population pooled r = rho * 1 / sqrt(2 * 2) = rho / 2 (unit element and row variances).
    rho, covered_cluster, covered_naive, n_sim = 0.6, 0, 0, 200
    for sim in range(n_sim):
        x, y, cl = clustered_data(100 + sim, n_elements=30, rows=(15, 25), rho=rho)
        ci = cluster_bootstrap_pearson_ci(x, y, cl, n_boot=400, key=str(sim))
        covered_cluster += ci.ci_low <= rho / 2 <= ci.ci_high
        naive = stats.pearsonr(x, y).confidence_interval(0.95)
        covered_naive += naive.low <= rho / 2 <= naive.high
    assert covered_cluster / n_sim >= 0.85
    # Row-level Fisher CIs ignore clustering and under-cover badly here.
    assert covered_naive / n_sim < 0.75


def test_duplicated_rows_do_not_narrow_the_cluster_ci():
    rng = np.random.default_rng(7)
    x1, y1 = rng.normal(size=18), rng.normal(size=18)
    y1 = y1 + 0.5 * x1
    cl1 = np.arange(18)
    # V2-like: every element's single row repeated 400 times.
    x2, y2, cl2 = np.repeat(x1, 400), np.repeat(y1, 400), np.repeat(cl1, 400)
    once = cluster_bootstrap_pearson_ci(x1, y1, cl1, key="dup")
    many = cluster_bootstrap_pearson_ci(x2, y2, cl2, key="dup")
    assert many.ci_low == pytest.approx(once.ci_low, abs=1e-9)
    assert many.ci_high == pytest.approx(once.ci_high, abs=1e-9)
    fisher = stats.pearsonr(x2, y2).confidence_interval(0.95)
    assert (many.ci_high - many.ci_low) > 5 * (fisher.high - fisher.low)


def test_bootstrap_is_seeded_by_seed_and_key():
    x, y, cl = clustered_data(4)
    a = cluster_bootstrap_pearson_ci(x, y, cl, seed=0, key="f1")
    cluster_bootstrap_pearson_ci(x, y, cl, seed=0, key="f2")
    assert a == cluster_bootstrap_pearson_ci(x, y, cl, seed=0, key="f1")
    assert a != cluster_bootstrap_pearson_ci(x, y, cl, seed=0, key="f2")
    assert a != cluster_bootstrap_pearson_ci(x, y, cl, seed=1, key="f1")


# ------------------------------------------------------------------------------ element level


def test_pseudo_replicated_pooled_p_is_tiny_while_element_level_p_is_not():
    x, y, cl = v2_like(4)
    assert len(x) > 5000 and len(np.unique(x)) == 18
    assert stats.pearsonr(x, y).pvalue < 1e-20
    perm = element_level_association(x, y, cl, method="permutation", key="demo")
    mixed = element_level_association(x, y, cl, method="mixedlm")
    assert perm.n_elements == 18 and perm.n_rows == len(x)
    assert perm.p > 0.2 and mixed.p > 0.2 and mixed.converged


def test_element_level_permutation_p_is_calibrated_under_the_null():
    pooled_rejections = element_rejections = 0
    for seed in range(200):
        x, y, cl = v2_like(1000 + seed)
        pooled_rejections += stats.pearsonr(x, y).pvalue < 0.05
        result = element_level_association(x, y, cl, n_permutations=999, key=str(seed))
        element_rejections += result.p < 0.05
    assert pooled_rejections / 200 > 0.5  # pseudo-replication: most null features "significant"
    assert element_rejections / 200 < 0.1


def test_element_mean_r_is_pearson_of_element_means():
    x, y, cl = clustered_data(5)
    ids = np.unique(cl)
    mx = np.array([x[cl == e].mean() for e in ids])
    my = np.array([y[cl == e].mean() for e in ids])
    result = element_level_association(x, y, cl, n_permutations=100)
    assert result.r == pytest.approx(stats.pearsonr(mx, my).statistic, abs=1e-12)


def test_permutation_p_matches_t_test_p_within_monte_carlo_error():
    rng = np.random.default_rng(11)
    mx = rng.normal(size=18)
    my = 0.4 * mx + rng.normal(size=18)
    cl = np.arange(18)  # one row per element: element means are the values themselves
    n_perm = 20000
    result = element_level_association(mx, my, cl, n_permutations=n_perm, key="t")
    p_t = stats.pearsonr(mx, my).pvalue
    assert 0.01 < p_t < 0.5
    assert abs(result.p - p_t) < 4 * np.sqrt(p_t * (1 - p_t) / n_perm) + 0.01


def test_permutation_p_is_two_sided_with_plus_one_correction():
    # Five perfectly correlated elements: of 120 orderings, r = +1 and r = -1 are extreme.
    x = np.arange(5.0)
    result = element_level_association(x, 2 * x + 1, np.arange(5), n_permutations=30000)
    assert abs(result.p - 2 / 120) < 0.004
    assert result.method_description.startswith(
        "permutation of element-mean features between elements, 30000 permutations"
    )


def test_permutation_p_is_never_zero():
    # With 30 perfectly correlated elements no shuffle reaches |r| = 1, so p = 1 / (1 + 99).
    x = np.arange(30.0)
    assert element_level_association(x, x, np.arange(30), n_permutations=99).p == 0.01


def test_mixedlm_returns_p_slope_and_converged_on_clean_data():
    rng = np.random.default_rng(12)
    codes = np.repeat(np.arange(20), 30)
    x = rng.normal(size=len(codes))
    y = 0.5 * x + rng.normal(size=20)[codes] + rng.normal(size=len(codes))
    result = element_level_association(x, y, codes, method="mixedlm")
    assert result.converged is True and result.p_reason is None
    assert result.p < 1e-10 and result.mixedlm_slope == pytest.approx(0.5, abs=0.1)
    assert "MixedLM" in result.method_description
    json.dumps(result.to_dict(), allow_nan=False)


class _RaisingMixedLM:
    def __init__(self, *args, **kwargs):
        pass

    def fit(self, **kwargs):
        raise np.linalg.LinAlgError("Singular matrix")


class _NonConvergingMixedLM(_RaisingMixedLM):
    def fit(self, **kwargs):
        class Result:
            converged = False
            params = np.array([0.0, 1.0])
            pvalues = np.array([0.5, 0.01])

        return Result()


def test_mixedlm_failure_is_reported_not_replaced(monkeypatch):
    x, y, cl = clustered_data(6)
    monkeypatch.setattr(mixed_linear_model, "MixedLM", _RaisingMixedLM)
    failed = element_level_association(x, y, cl, method="mixedlm")
    assert failed.p is None and failed.converged is None
    assert failed.p_reason == "MixedLM fit raised LinAlgError: Singular matrix"
    assert failed.r is not None and failed.method == "mixedlm"
    monkeypatch.setattr(mixed_linear_model, "MixedLM", _NonConvergingMixedLM)
    stuck = element_level_association(x, y, cl, method="mixedlm")
    assert stuck.p is None and stuck.converged is False
    assert stuck.p_reason == "MixedLM did not converge"


def test_element_level_not_estimable_with_few_elements_or_constant_means():
    x, y, _ = clustered_data(7)
    two = element_level_association(x, y, np.arange(len(x)) % 2)
    assert two.r is None and two.p is None and two.r_reason == "fewer than 3 elements (2)"
    codes = np.arange(len(x)) % 4
    flat = element_level_association(np.ones(len(x)) * 3.0, y, codes)
    assert flat.r is None and flat.p_reason == "constant element-mean feature"
    json.dumps(flat.to_dict(), allow_nan=False)
    with pytest.raises(ValueError):
        element_level_association(x, y, codes, method="ols")
