"""The headline contract: one list gives summary.json's keys, their computation, their null simulation
in calibrate, the report's headline columns and the forest plot's columns."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from mprabench.headline import (
    ELEMENT_PEARSON_R,
    HEADLINE,
    HEADLINE_KEYS,
    NULL_FLAGS,
    NULL_INTERVALS,
    NULL_TESTS,
    HeadlineInputs,
    bounds,
    headline,
    null_checks,
)
from mprabench.plots.forest import FOREST_COLUMNS, forest_table
from mprabench.report.results import HEADLINE_COLUMNS, column_label
from mprabench.stats.calibration import SimulationSettings, calibrate, design_structure, require_headline_nulls
from mprabench.stats.null_family import NullScenario
from mprabench.stats.within_element import WithinElementSummary
from tests.support.null_rows import gse84888_like_rows


def within(pooled_r: float | None, p: float | None) -> WithinElementSummary:
    return WithinElementSummary(method="m", level=0.95, n_elements_used=5, pooled_r=pooled_r, ci_low=None,
                                ci_high=None, p=p, tau2=None, reason=None)


def test_every_statistic_is_computed_from_the_inputs_in_the_listed_order():
    values = HeadlineInputs(r=0.4, ci_low=0.1, ci_high=0.6, p=0.001, within=within(0.2, 0.01), significant=True)
    block = headline(values)
    assert list(block) == list(HEADLINE_KEYS) == [s.key for s in HEADLINE]
    assert block == {"element_pearson_r": 0.4, "pearson_r_ci_low": 0.1, "pearson_r_ci_high": 0.6, "element_p": 0.001,
                     "element_neglog10_p": pytest.approx(3.0), "within_element_r": 0.2, "within_element_p": 0.01,
                     "within_element_neglog10_p": pytest.approx(2.0), "element_bonferroni_significant": True}


def test_missing_inputs_give_missing_statistics_and_a_within_r_needs_its_p():
    values = HeadlineInputs(r=None, ci_low=None, ci_high=None, p=None, within=within(0.2, None), significant=None)
    assert all(v is None for v in headline(values).values())
    assert headline(dataclasses.replace(values, within=None))["within_element_p"] is None


def test_keys_are_unique_and_every_statistic_has_a_label_a_method_and_a_null():
    assert len(set(HEADLINE_KEYS)) == len(HEADLINE)
    for statistic in HEADLINE:
        assert statistic.label and statistic.method
        assert statistic.null.kind in (NULL_TESTS, NULL_INTERVALS, NULL_FLAGS)
    assert [s.key for s in bounds(next(s for s in HEADLINE if s.key == ELEMENT_PEARSON_R))] == [
        "pearson_r_ci_low", "pearson_r_ci_high"]


def settings(**changes) -> SimulationSettings:
    heterogeneous = NullScenario(name="het_0.15", slope_sd=0.15, size_linked_slope=0.0, noise="gaussian",
                                 deviation_noise=0.0, size_variance=0.0, outlier="none", outlier_sd=6.0)
    values = dict(n_replicates=50, n_permutations=99, alpha=0.05, ci_level=0.95, nulls=(heterogeneous,),
                  min_elements_ci=10, n_primary_features=6, seed=1, min_within_inputs=4,
                  normal_above_elements=20_000)
    return SimulationSettings(**(values | changes))


@pytest.mark.parametrize("within_inputs", [False, True], ids=["v2-like", "v3-like"])
def test_calibrate_simulates_the_null_of_every_headline_statistic(within_inputs):
    rows = gse84888_like_rows(np.random.default_rng(0), within_inputs)
    result = calibrate(design_structure(rows, "log2_ratio"), settings())
    written = result.to_dict("test")
    for check in null_checks():
        simulated = check.key in written[check.kind]
        assert simulated or check.key in result.not_estimable, check
        assert simulated or not within_inputs, f"{check} is estimable on a design whose inputs vary"


def test_a_headline_statistic_without_a_null_simulation_is_an_error():
    rows = gse84888_like_rows(np.random.default_rng(0), True)
    result = calibrate(design_structure(rows, "log2_ratio"), settings())
    for outcome in result.outcomes.values():  # the interval simulated under no null of the family
        outcome.covered.pop("pearson_r_ci", None)
    with pytest.raises(RuntimeError, match="intervals.pearson_r_ci"):
        require_headline_nulls(result)


def test_the_report_and_the_forest_plot_take_their_columns_from_the_contract():
    assert [column_label(s, 0.9) for s in HEADLINE_COLUMNS] == [
        "element r [90% CI]", "element p", "−log10 p", "within-element r", "within-element p",
        "verdict (Bonferroni)"]
    values = HeadlineInputs(r=0.4, ci_low=0.1, ci_high=0.6, p=0.001, within=None, significant=False)
    frame = forest_table({"v2": {"design": {"n_elements": 18}, "f": headline(values)}}, str)
    assert list(frame.columns) == FOREST_COLUMNS
    row = frame.iloc[0]
    assert (row["r"], row["ci_low"], row["ci_high"], row["p"]) == (0.4, 0.1, 0.6, 0.001)
    assert math.isclose(row["neglog10_p"], 3.0) and row["significant"] == "no"
