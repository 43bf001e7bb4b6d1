"""Above evaluate.permutation_normal_above_elements, a permutation p is its normal limit (stats/permutation_normal.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mprabench.headline import null_checks
from mprabench.stats.calibration import SimulationSettings, calibrate, design_structure
from mprabench.stats.clustered import element_level_association, element_permutations, permutation_pvalues
from mprabench.stats.leverage import leave_one_out_r, leverage
from mprabench.stats.null_family import NullScenario
from mprabench.stats.pearson import unit_scaled
from mprabench.stats.permutation_normal import normal_limit_p, uses_normal_limit


def test_the_normal_limit_matches_the_permutation_p_with_thousands_of_elements():
    # 2,000 skewed element values: the permutation p from 20,000 permutations and the normal limit agree
    # within the permutation p's Monte-Carlo error.
    rng = np.random.default_rng(0)
    n = 2000
    x, noise = rng.exponential(size=n), unit_scaled(rng.normal(size=n))
    zx = unit_scaled(x)
    noise = unit_scaled(noise - (noise @ zx) * zx)  # orthogonal to x
    y = 0.045 * zx + np.sqrt(1 - 0.045**2) * noise  # r = 0.045 exactly: near the 5 % boundary
    r = float(zx @ unit_scaled(y))
    permuted = permutation_pvalues(unit_scaled(x), unit_scaled(y), element_permutations(n, 20_000, rng))[0]
    assert 0.005 < permuted < 0.2
    assert normal_limit_p(r, n) == pytest.approx(permuted, abs=4 * np.sqrt(permuted * (1 - permuted) / 20_000))


def test_the_permutation_variance_of_r_is_one_over_n_minus_one():
    rng = np.random.default_rng(1)
    x, y = rng.standard_t(3, size=50), rng.normal(size=50)
    r = unit_scaled(x)[element_permutations(50, 50_000, rng)] @ unit_scaled(y)
    assert np.var(r) == pytest.approx(1 / 49, rel=0.02) and abs(np.mean(r)) < 3 * np.sqrt(1 / 49 / 50_000)


def test_evaluate_uses_the_normal_limit_only_above_the_threshold():
    rng = np.random.default_rng(2)
    codes = np.repeat(np.arange(60), 2)
    x, y = rng.normal(size=120), rng.normal(size=60)[codes] + rng.normal(size=120)
    elements = np.array([f"E{c:03d}" for c in codes])
    common = dict(n_permutations=999, seed=0, key="f", level=0.95, min_elements_ci=10)
    below = element_level_association(x, y, elements, **common, normal_above=60)
    above = element_level_association(x, y, elements, **common, normal_above=59)
    assert not uses_normal_limit(60, 60) and uses_normal_limit(60, 59)
    assert above.p == pytest.approx(float(normal_limit_p(above.r, 60)), rel=1e-12) and "normal limit" in above.method_description
    assert below.p != above.p and below.p * 1000 == pytest.approx(round(below.p * 1000))  # a permutation p: (1 + k) / 1000
    assert below.r == above.r and below.ci_low == above.ci_low


def test_leave_one_out_r_from_sums_equals_recomputing_each():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=25), rng.normal(size=25)
    expected = [stats.pearsonr(np.delete(x, i), np.delete(y, i)).statistic for i in range(25)]
    np.testing.assert_allclose(leave_one_out_r(x, y), expected, rtol=1e-10)


def test_leverage_above_the_threshold_gives_the_normal_limit_and_no_changers():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=300), rng.normal(size=300)
    ids = np.array([f"E{i}" for i in range(300)])
    result = leverage(ids, x, y, n_permutations=999, threshold=0.05, rng=rng, normal_above=100, ci_level=0.95,
                      min_elements_ci=10, changers_max_elements=500)
    assert result.spearman_p == pytest.approx(float(normal_limit_p(result.spearman_rho, 300)))
    assert result.loo_r_min is not None and result.loo_verdict_changers is None


def many_element_rows(n_elements: int, rng: np.random.Generator) -> pd.DataFrame:
    """Two rows (orientations) per element, each its own input: the shape of a large sequence-table library."""
    element = np.repeat(np.arange(n_elements), 2)
    return pd.DataFrame({"element_id": [f"E{e:05d}" for e in element],
                         "input_sha256": [f"in{i}" for i in range(2 * n_elements)],
                         "y": np.repeat(rng.normal(size=n_elements), 2) + 0.5 * rng.normal(size=2 * n_elements)})


@pytest.mark.parametrize("noise", ["gaussian", "t2"])
def test_calibrate_finds_the_normal_limit_p_calibrated_with_many_elements(noise):
    # The null test of the normal limit: with 3,000 elements (above the threshold set here) the element
    # p and the Spearman p evaluate would report reject at alpha, Gaussian and t2 (infinite-variance) features.
    structure = design_structure(many_element_rows(3000, np.random.default_rng(5)), "y")
    scenario = NullScenario(name=noise, slope_sd=0.0, size_linked_slope=0.0, noise=noise, deviation_noise=0.0,
                            size_variance=0.0, outlier="none", outlier_sd=6.0)
    settings = SimulationSettings(n_replicates=2000, n_permutations=199, alpha=0.05, ci_level=0.95, nulls=(scenario,),
                                  min_elements_ci=10, n_primary_features=6, seed=0, min_within_inputs=4,
                                  normal_above_elements=1000)
    result = calibrate(structure, settings, null_checks())
    tolerance = 3.5 * np.sqrt(0.05 * 0.95 / 2000)
    for key in ("element_p", "element_spearman_p"):
        assert abs(result.rates("rejected")[key][noise]["rate"] - 0.05) <= tolerance, key
    # The verdict flag over a family of 6 independent null features (Bonferroni at alpha / 6): its rate is
    # 1 - (1 - alpha / 6)^6 when each Spearman p is uniform (the first feature of each family is the replicate
    # above, the other 5 are drawn for the flag alone).
    flag = result.rates("flags")["element_bonferroni_significant"][noise]["rate"]
    expected = 1 - (1 - 0.05 / 6) ** 6
    assert abs(flag - expected) <= 3.5 * np.sqrt(expected * (1 - expected) / 2000)
