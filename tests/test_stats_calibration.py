"""Null simulation on the GSE84888 element structure: every reported test rejects at alpha, every CI
covers at its level; and the vectorised statistics equal the ones evaluate reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mprabench.headline import null_checks
from mprabench.stats.rng import derive_rng
from mprabench.stats.calibration import (
    SimulationSettings,
    calibrate,
    design_structure,
    element_mean_matrix,
    within_element_correlations,
    worst_nulls,
)
from mprabench.stats.clustered import element_level_association
from mprabench.stats.null_family import NullScenario, simulate_scenario_features
from mprabench.stats.within_element import within_element_effects
from tests.support.null_rows import gse84888_like_rows

N_REPLICATES = 400


def null(name: str, **changes) -> NullScenario:
    values = dict(slope_sd=0.0, size_linked_slope=0.0, noise="gaussian", deviation_noise=0.0, size_variance=0.0,
                  outlier="none", outlier_sd=6.0)
    return NullScenario(name=name, **(values | changes))


HETEROGENEOUS = null("het_0.15", slope_sd=0.15)
SIZE_LINKED = null("size_linked", size_linked_slope=0.1)
DEVIATION = null("deviation", deviation_noise=0.9)
LEVERAGE = null("leverage_smallest", size_variance=-1.0, outlier="smallest")


def settings(**changes) -> SimulationSettings:
    values = dict(n_replicates=N_REPLICATES, n_permutations=199, alpha=0.05, ci_level=0.95, nulls=(HETEROGENEOUS,),
                  min_elements_ci=10, n_primary_features=6, seed=1, min_within_inputs=4,
                  normal_above_elements=20_000)
    return SimulationSettings(**(values | changes))


def band(rate: float, n: int) -> float:
    """3 binomial standard errors around a nominal rate."""
    return 3 * np.sqrt(rate * (1 - rate) / n)


@pytest.mark.parametrize("within", [False, True], ids=["v2-like", "v3-like"])
def test_every_reported_test_and_interval_is_calibrated_on_the_gse84888_structure(within):
    rows = gse84888_like_rows(np.random.default_rng(2), within)
    calibrated = calibrate(design_structure(rows, "log2_ratio"), settings(nulls=(HETEROGENEOUS, null("flat"))), null_checks())
    result = calibrated.to_dict("test")
    expected_tests = {"element_p", "element_spearman_p", "strata_between_p"} | (
        {"within_element_p", "strata_tf_p", "strata_element_p"} if within else set())
    assert expected_tests == set(result["tests"])
    assert ("within_element_p" in calibrated.not_estimable) is not within
    for key, test in result["tests"].items():
        # 3 MC SE of one null's rate; the worst of two nulls is a little wider, hence the 1.2
        assert abs(test["type_I"] - 0.05) <= 1.2 * band(0.05, N_REPLICATES), key
    assert set(worst_nulls(result).values()) <= {"het_0.15", "flat"}
    assert {"pearson_r_ci"} | ({"within_element_r_ci"} if within else set()) <= set(result["intervals"])
    for key, interval in result["intervals"].items():
        assert abs(interval["coverage"] - 0.95) <= 1.2 * band(0.95, N_REPLICATES), key
    # The one verdict flag, as a family: any of 6 independent null features flagged at alpha / 6.
    familywise = result["flags"]["element_bonferroni_significant"]["familywise_rate"]
    assert familywise <= 0.05 + band(0.05, N_REPLICATES)
    details = calibrated.details_dict("test")
    assert set(details["type_I"]["element_p"]) == {"het_0.15", "flat"}


def test_the_family_finds_the_nulls_where_the_replaced_tests_fail_and_the_chosen_ones_hold():
    """On the GSE84888 element structure (V3-like): the random-effects pooling fails size-linked slopes,
    the Pearson element-stratum test fails noise growing with the deviation, the Pearson element p fails
    a leverage null; the tests that replaced them hold there (3 MC SE at 400 replicates: 0.033)."""
    rows = gse84888_like_rows(np.random.default_rng(2), True)
    calibrated = calibrate(design_structure(rows, "log2_ratio"), settings(nulls=(SIZE_LINKED, DEVIATION, LEVERAGE)), null_checks())
    type_i = {key: {n: r["rate"] for n, r in nulls.items()} for key, nulls in calibrated.rates("rejected").items()}
    ok = band(0.05, N_REPLICATES)
    assert type_i["within_element_p_random_effects"]["size_linked"] > 0.05 + ok
    assert abs(type_i["within_element_p"]["size_linked"] - 0.05) <= ok
    assert type_i["strata_element_p_pearson"]["deviation"] > 0.05 + ok
    assert abs(type_i["strata_element_p"]["deviation"] - 0.05) <= band(0.05, 18 * N_REPLICATES) + 0.01
    assert type_i["element_p"]["leverage_smallest"] > 0.05 + ok
    assert abs(type_i["element_spearman_p"]["leverage_smallest"] - 0.05) <= ok
    report = calibrated.to_dict("test")
    assert worst_nulls(report)["tests.element_p"] == "leverage_smallest"
    assert worst_nulls(report)["intervals.pearson_r_ci"] == "leverage_smallest"


def test_fixed_effect_pooling_over_rejects_with_heterogeneous_slopes():
    """Control: with heterogeneous slopes, a fixed-effect z-test over-rejects; the simulation detects it."""
    rows = gse84888_like_rows(np.random.default_rng(3), within=True)
    structure = design_structure(rows, "log2_ratio")
    features = simulate_scenario_features(structure, HETEROGENEOUS, 300, derive_rng(0, "fe"))
    used = structure.inputs_per_element >= 4
    z = np.arctanh(within_element_correlations(structure, features, used))
    weights = structure.inputs_per_element[used] - 3.0
    fixed_z = (z * weights).sum(1) / weights.sum() * np.sqrt(weights.sum())
    assert np.mean(np.abs(fixed_z) > 1.96) > 0.2


def test_vectorised_statistics_equal_evaluate_on_one_replicate():
    rows = gse84888_like_rows(np.random.default_rng(4), within=True, sizes=(40, 60, 80, 50, 70, 45, 90, 55))
    structure = design_structure(rows, "log2_ratio")
    features = simulate_scenario_features(structure, null("het_0.3", slope_sd=0.3), 1, derive_rng(0, "one"))[0]
    # The robust element-stratum p of the simulation equals the one the strata table reports.
    from mprabench.stats.calibration import ElementColumns
    from mprabench.stats.robust_correlation import robust_correlation_p
    from mprabench.stats.within_element import input_level_values

    robust, _ = ElementColumns.of(structure, structure.inputs_per_element >= 4).robust_and_pearson_p(features[None, :])
    rows_with = rows.assign(feat=rows["input_sha256"].map(dict(zip(np.sort(rows["input_sha256"].unique()), features))))
    expected_robust = [robust_correlation_p(*input_level_values(g, "feat", "log2_ratio"))
                       for _, g in rows_with.groupby("element_id", sort=True)]
    np.testing.assert_allclose(robust[0], expected_robust, rtol=1e-9)
    inputs = np.sort(rows["input_sha256"].unique())
    rows["feat"] = rows["input_sha256"].map(dict(zip(inputs, features)))
    element = element_level_association(rows["feat"], rows["log2_ratio"], rows["element_id"], n_permutations=0,
                                        seed=0, key="", level=0.95, min_elements_ci=4, normal_above=20_000)
    means = features @ element_mean_matrix(structure)
    expected = pd.DataFrame({"x": rows["feat"], "e": rows["element_id"]}).groupby("e")["x"].mean().to_numpy()
    np.testing.assert_allclose(means, expected, atol=1e-12)
    assert element.r == pytest.approx(np.corrcoef(means, structure.element_target)[0, 1], abs=1e-12)
    within = within_element_effects(rows, "feat", "log2_ratio", min_distinct_inputs=4, level=0.95,
                                    pooling="random_effects")
    r = within_element_correlations(structure, features[None, :], structure.inputs_per_element >= 4)[0]
    np.testing.assert_allclose(r, [e.pearson_r for e in within.elements], atol=1e-10)


def test_element_means_drawn_directly_have_the_distribution_of_simulated_features():
    """The family-wise simulation draws Gaussian element means directly: same mean and covariance as the
    means of per-input features (4,000 draws: SE of a variance about 2.2 %, so 10 % bands)."""
    from mprabench.stats.null_family import simulate_scenario_element_means, simulate_scenario_features

    rows = gse84888_like_rows(np.random.default_rng(9), within=True, sizes=(40, 60, 80, 50, 70, 45))
    structure = design_structure(rows, "log2_ratio")
    to_means = element_mean_matrix(structure)
    scenario = null("both", deviation_noise=0.9, size_variance=1.0)
    direct = simulate_scenario_element_means(structure, scenario, 4000, to_means, derive_rng(0, "direct"))
    full = simulate_scenario_features(structure, scenario, 4000, derive_rng(0, "full")) @ to_means
    np.testing.assert_allclose(direct.var(0), full.var(0), rtol=0.1)
    assert np.abs(np.corrcoef(direct.T) - np.eye(6)).max() < 0.1


@pytest.mark.parametrize("rounding", [None, 1], ids=["continuous target", "target with ties"])
def test_spearman_rho_of_rows_and_of_strata_equals_scipy(rounding):
    """calibrate's Spearman rho (one argsort per replicate; strata from that same argsort) equals scipy's
    spearmanr, on a target with and without ties (a measured target rounded to a few decimals has ties; the
    simulated continuous features do not)."""
    from scipy import stats

    from mprabench.stats.calibration import scaled_ranks, spearman_rho_of_order, spearman_rho_rows, stratum_order

    rng = np.random.default_rng(4)
    target = rng.normal(size=300)
    target = target if rounding is None else target.round(rounding)
    means = rng.normal(size=(25, 300))
    expected = [stats.spearmanr(row, target).statistic for row in means]
    np.testing.assert_allclose(spearman_rho_rows(means, target), expected, atol=1e-12)
    order = np.argsort(means, axis=1)
    for mask in (rng.random(300) < 0.3, np.arange(300) % 7 == 0):
        from_whole = spearman_rho_of_order(stratum_order(order, mask), scaled_ranks(target[mask]))
        # the same ranks as sorting the stratum on its own, hence the same floats
        np.testing.assert_array_equal(from_whole, spearman_rho_rows(means[:, mask], target[mask]))
        np.testing.assert_allclose(from_whole, [stats.spearmanr(row[mask], target[mask]).statistic for row in means],
                                   atol=1e-12)


def test_a_family_of_one_flags_exactly_the_replicates_whose_spearman_p_rejects():
    """The family-wise flag's first feature is the replicate whose element statistics were simulated: with a
    family of one, the flag is that replicate's Spearman p <= alpha, replicate by replicate."""
    structure = design_structure(gse84888_like_rows(np.random.default_rng(3), within=False), "log2_ratio")
    result = calibrate(structure, settings(n_primary_features=1, nulls=(null("het_0"),)), null_checks())
    outcome = result.outcomes["het_0"]
    np.testing.assert_array_equal(outcome.flags["element_bonferroni_significant"],
                                  outcome.pvalues["element_spearman_p"] <= 0.05)


def test_the_numbers_do_not_depend_on_the_number_of_threads():
    structure = design_structure(gse84888_like_rows(np.random.default_rng(3), within=True), "log2_ratio")
    nulls = (HETEROGENEOUS, null("het_0"), DEVIATION, LEVERAGE)
    one, two = (calibrate(structure, settings(n_replicates=60, nulls=nulls, workers=w), null_checks()) for w in (1, 2))
    assert list(one.outcomes) == list(two.outcomes) == [n.name for n in nulls]
    for name in one.outcomes:
        for kind in ("rejected", "covered", "pvalues", "flags"):
            a, b = getattr(one.outcomes[name], kind), getattr(two.outcomes[name], kind)
            assert a.keys() == b.keys()
            for key in a:
                np.testing.assert_array_equal(a[key], b[key])
