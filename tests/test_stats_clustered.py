"""Between-element association: element-mean r, permutation p over elements, Fisher-z CI."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import sparse, stats

from mprabench.stats.rng import derive_rng
from mprabench.stats.clustered import (
    element_level_association,
    element_permutations,
    fisher_z_interval,
    permutation_pvalue,
    permutation_pvalues,
)
from mprabench.stats.pearson import grouped_pearson_r, pearson_r, unit_scaled


# The settings of these tests (the library takes every one as a required argument).
SETTINGS = dict(n_permutations=99, seed=0, key="", level=0.95, min_elements_ci=10, normal_above=20_000)


def clustered_rows(seed: int = 0, n_elements: int = 12, rows: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    codes = np.repeat(np.arange(n_elements), rows)
    x = rng.normal(size=n_elements)[codes] + 0.3 * rng.normal(size=codes.size)
    y = 0.5 * x + rng.normal(size=n_elements)[codes] + rng.normal(size=codes.size)
    return x, y, np.array([f"E{c:02d}" for c in codes])


def test_element_r_and_ci_equal_scipy_on_element_means():
    x, y, elements = clustered_rows()
    result = element_level_association(x, y, elements, n_permutations=99, seed=0, key="", level=0.9, min_elements_ci=10,
                                     normal_above=20_000)
    means = pd.DataFrame({"x": x, "y": y, "e": elements}).groupby("e").mean()
    golden = stats.pearsonr(means.x, means.y)
    assert result.r == pytest.approx(golden.statistic, abs=1e-12)
    low, high = golden.confidence_interval(0.9)  # scipy: Fisher z with n - 3
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), abs=1e-12)
    assert result.n_elements == 12 and result.n_rows == x.size


def test_permutation_p_equals_exact_enumeration():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=6), rng.normal(size=6)
    observed = abs(stats.pearsonr(a, b).statistic)
    exact = np.mean([abs(stats.pearsonr(a[list(p)], b).statistic) >= observed - 1e-12
                     for p in itertools.permutations(range(6))])
    ours = permutation_pvalue(a, b, 40_000, derive_rng(0, "golden"))
    assert ours == pytest.approx(exact, abs=0.01)  # Monte-Carlo SE of p ~ 0.0025 here


def test_vectorised_pvalues_equal_one_at_a_time():
    rng = np.random.default_rng(4)
    means_x, mean_y = rng.normal(size=(5, 9)), rng.normal(size=9)
    permutations = element_permutations(9, 500, derive_rng(1, "x"))
    together = permutation_pvalues(unit_scaled(means_x), unit_scaled(mean_y), permutations)
    apart = [permutation_pvalues(unit_scaled(row), unit_scaled(mean_y), permutations)[0] for row in means_x]
    np.testing.assert_array_equal(together, apart)


def test_zero_permutations_is_not_a_p_value():
    x, y, elements = clustered_rows()
    result = element_level_association(x, y, elements, **SETTINGS | {"n_permutations": 0})
    assert result.p is None and "n_permutations = 0" in result.p_reason and result.r is not None


def test_ci_needs_min_elements_with_reason():
    x, y, elements = clustered_rows(n_elements=8)
    result = element_level_association(x, y, elements, **SETTINGS | {"min_elements_ci": 10})
    assert result.r is not None and result.p is not None
    assert result.ci_low is None and result.ci_high is None
    assert result.ci_reason.startswith("fewer than 10 elements (8)")


def test_constant_element_means_are_not_estimable():
    x, y, elements = clustered_rows()
    result = element_level_association(np.ones_like(x), y, elements, **SETTINGS)
    assert result.r is None and result.p is None and "constant element-mean feature" in result.r_reason


def test_results_do_not_depend_on_row_order():
    x, y, elements = clustered_rows(5)
    order = np.random.default_rng(0).permutation(x.size)
    a = element_level_association(x, y, elements, **SETTINGS | {"n_permutations": 999, "seed": 2, "key": "f"})
    b = element_level_association(x[order], y[order], elements[order],
                                  **SETTINGS | {"n_permutations": 999, "seed": 2, "key": "f"})
    for field in ("r", "p", "ci_low", "ci_high"):
        assert getattr(a, field) == pytest.approx(getattr(b, field), abs=1e-12)


def test_fisher_interval_is_vectorised():
    low, high = fisher_z_interval(np.array([0.0, 0.5]), 18, 0.95)
    assert low[0] == pytest.approx(-high[0]) and low[1] < 0.5 < high[1]


def test_every_layout_of_the_one_pearson_formula_equals_scipy():
    """pearson_r (matching columns), unit_scaled dot products and grouped_pearson_r (dense and sparse groups) are
    the one formula of stats/pearson.py computed from differently formed sums."""
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(9, 4)), rng.normal(size=(9, 4))
    golden = [stats.pearsonr(a[:, j], b[:, j]).statistic for j in range(4)]
    np.testing.assert_allclose(pearson_r(a, b), golden, atol=1e-12)
    np.testing.assert_allclose((unit_scaled(a.T) * unit_scaled(b.T)).sum(-1), golden, atol=1e-12)
    groups = np.zeros((9, 2))
    groups[:5, 0] = groups[5:, 1] = 1  # two groups of inputs: the first 5 and the last 4
    for layout in (groups, sparse.csc_matrix(groups)):
        grouped = grouped_pearson_r(a.T, b[:, 0], layout)
        for j in range(4):
            expected = [stats.pearsonr(a[:5, j], b[:5, 0]).statistic, stats.pearsonr(a[5:, j], b[5:, 0]).statistic]
            np.testing.assert_allclose(grouped[j], expected, atol=1e-12)


def test_centred_inputs_make_the_correction_terms_vanish():
    """On centred values the sums formula gives the bits of the two-pass form (Σab / sqrt(Σa² Σb²)) and of
    dividing by the norm: the refit null's r and the permutation r keep their values across the refactor."""
    rng = np.random.default_rng(7)
    a, b = rng.normal(3.0, 2.0, size=(40, 6)), rng.normal(-1.0, 0.5, size=(40, 6))
    ac, bc = a - a.mean(0), b - b.mean(0)
    np.testing.assert_array_equal(pearson_r(a, b), (ac * bc).sum(0) / np.sqrt((ac * ac).sum(0) * (bc * bc).sum(0)))
    np.testing.assert_array_equal(unit_scaled(a.T), ac.T / np.linalg.norm(ac.T, axis=-1, keepdims=True))
