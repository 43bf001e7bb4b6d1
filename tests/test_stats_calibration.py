"""Null simulation on the GSE84888 element structure: every reported test rejects at alpha, every CI
covers at its level; and the vectorised statistics equal the ones evaluate reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mprabench.stats.rng import derive_rng
from mprabench.stats.calibration import (
    SimulationSettings,
    calibrate,
    design_structure,
    element_mean_matrix,
    simulate_null_features,
    within_element_correlations,
)
from mprabench.stats.clustered import element_level_association
from mprabench.stats.within_element import within_element_effects
from tests.support.null_rows import gse84888_like_rows

N_REPLICATES = 400


def settings(**changes) -> SimulationSettings:
    values = dict(n_replicates=N_REPLICATES, n_permutations=199, alpha=0.05, ci_level=0.95, within_slope_sd=0.15,
                  min_elements_ci=10, n_primary_features=6, seed=1, min_within_inputs=4)
    return SimulationSettings(**(values | changes))


def band(rate: float, n: int) -> float:
    """3 binomial standard errors around a nominal rate."""
    return 3 * np.sqrt(rate * (1 - rate) / n)


@pytest.mark.parametrize("within", [False, True], ids=["v2-like", "v3-like"])
def test_every_reported_test_and_interval_is_calibrated_on_the_gse84888_structure(within):
    rows = gse84888_like_rows(np.random.default_rng(2), within)
    calibrated = calibrate(design_structure(rows, "log2_ratio"), settings())
    result = calibrated.to_dict("test")
    expected_tests = {"element_p", "strata_strand_p", "strata_chrom_p"} | ({"within_element_p", "strata_tf_p"} if within else set())
    assert expected_tests <= set(result["tests"])
    assert ("within_element_p" in calibrated.not_estimable) is not within
    for key, test in result["tests"].items():
        assert abs(test["type_I"] - 0.05) <= band(0.05, N_REPLICATES), key
    assert {"pearson_r_ci"} | ({"within_element_r_ci"} if within else set()) == set(result["intervals"])
    for key, interval in result["intervals"].items():
        assert abs(interval["coverage"] - 0.95) <= band(0.95, N_REPLICATES), key
    # The one verdict flag: Bonferroni over 6 features, so per feature ~ alpha / 6.
    assert result["flags"]["element_bonferroni_significant"]["rate"] <= 0.05 / 6 + band(0.05 / 6, N_REPLICATES)


def test_fixed_effect_pooling_would_fail_where_random_effects_pass():
    """Control: with heterogeneous slopes, a fixed-effect z-test over-rejects; the simulation detects it."""
    rows = gse84888_like_rows(np.random.default_rng(3), within=True)
    structure = design_structure(rows, "log2_ratio")
    features = simulate_null_features(structure, 300, 0.15, derive_rng(0, "fe"))
    used = structure.inputs_per_element >= 4
    z = np.arctanh(within_element_correlations(structure, features, used))
    weights = structure.inputs_per_element[used] - 3.0
    fixed_z = (z * weights).sum(1) / weights.sum() * np.sqrt(weights.sum())
    assert np.mean(np.abs(fixed_z) > 1.96) > 0.2


def test_vectorised_statistics_equal_evaluate_on_one_replicate():
    rows = gse84888_like_rows(np.random.default_rng(4), within=True, sizes=(40, 60, 80, 50, 70, 45, 90, 55))
    structure = design_structure(rows, "log2_ratio")
    features = simulate_null_features(structure, 1, 0.3, derive_rng(0, "one"))[0]
    inputs = np.sort(rows["input_sha256"].unique())
    rows["feat"] = rows["input_sha256"].map(dict(zip(inputs, features)))
    element = element_level_association(rows["feat"], rows["log2_ratio"], rows["element_id"], n_permutations=0,
                                        seed=0, key="", level=0.95, min_elements_ci=4)
    means = features @ element_mean_matrix(structure)
    expected = pd.DataFrame({"x": rows["feat"], "e": rows["element_id"]}).groupby("e")["x"].mean().to_numpy()
    np.testing.assert_allclose(means, expected, atol=1e-12)
    assert element.r == pytest.approx(np.corrcoef(means, structure.element_target)[0, 1], abs=1e-12)
    within = within_element_effects(rows, "feat", "log2_ratio", min_distinct_inputs=4, level=0.95,
                                    pooling="random_effects")
    r = within_element_correlations(structure, features[None, :], structure.inputs_per_element >= 4)[0]
    np.testing.assert_allclose(r, [e.pearson_r for e in within.elements], atol=1e-10)
