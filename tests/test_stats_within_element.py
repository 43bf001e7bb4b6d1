"""Within-element effects: per element over distinct inputs, pooled by the headline's one-sample t-test of
the per-element Fisher z (WITHIN_POOLING); the random-effects pooling (PM + Hartung-Knapp) it replaced is
kept as calibrate's candidate test and checked against statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from mprabench.stats.within_element import (
    REASON_NO_WITHIN_ELEMENT_VARIATION,
    WITHIN_POOLING,
    InputLevels,
    element_effect,
    fisher_z_variance,
    paule_mandel_tau2,
    random_effects_hartung_knapp,
    within_element_effects,
)


# The headline's settings: 4 distinct inputs per element, 95% interval, its pooling (the t-test of z).
HEADLINE_WITHIN = dict(min_distinct_inputs=4, level=0.95, pooling=WITHIN_POOLING)


def element_table(seed: int = 0, n_elements: int = 8, inputs: int = 12, copies: int = 2) -> pd.DataFrame:
    """Each element has `inputs` distinct inputs, each on `copies` rows with their own target noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for e in range(n_elements):
        slope = rng.normal(0.4, 0.2)
        for i in range(inputs):
            feature = rng.normal()
            for c in range(copies):
                rows.append(dict(element_id=f"E{e}", input_sha256=f"E{e}-{i}", feat=feature,
                                 log2_ratio=slope * feature + rng.normal(0, 0.7), is_wild_type=i == 0))
    return pd.DataFrame(rows)


@pytest.mark.parametrize("tau", [0.0, 0.1, 0.4])
def test_pooling_equals_statsmodels_paule_mandel_with_hartung_knapp(tau):
    rng = np.random.default_rng(int(tau * 10))
    m = rng.integers(8, 600, 18)
    v = fisher_z_variance(m)
    z = rng.normal(0.05, tau, 18) + rng.normal(0, np.sqrt(v))
    ours = random_effects_hartung_knapp(z, v)
    golden = combine_effects(z, v, method_re="iterated")
    assert float(ours.tau2) == pytest.approx(golden.tau2, abs=1e-6)
    assert float(ours.mean) == pytest.approx(golden.mean_effect_re, abs=1e-6)
    assert float(ours.se) == pytest.approx(golden.sd_eff_w_re_hksj, rel=1e-5)
    t = golden.mean_effect_re / golden.sd_eff_w_re_hksj
    assert float(ours.p) == pytest.approx(2 * stats.t.sf(abs(t), 17), rel=1e-4)


def test_paule_mandel_is_vectorised_over_rows():
    rng = np.random.default_rng(1)
    v = fisher_z_variance(rng.integers(10, 100, 7))
    z = rng.normal(0, 0.3, (4, 7))
    np.testing.assert_allclose(paule_mandel_tau2(z, v), [paule_mandel_tau2(row, v) for row in z], atol=1e-12)


def test_per_element_r_is_scipy_over_distinct_inputs():
    table = element_table()
    result = within_element_effects(table, "feat", "log2_ratio", **HEADLINE_WITHIN)
    assert result.estimable and len(result.elements) == 8
    for effect in result.elements:
        rows = table[table.element_id == effect.element_id]
        per_input = rows.groupby("input_sha256").agg(feat=("feat", "first"), y=("log2_ratio", "mean"))
        golden = stats.pearsonr(per_input.feat, per_input.y)
        assert effect.n_distinct_inputs == 12 and effect.n_rows == 24
        assert effect.pearson_r == pytest.approx(golden.statistic, abs=1e-12)
        assert effect.pearson_p == pytest.approx(golden.pvalue, rel=1e-9)
    weights = [e.weight for e in result.elements]
    assert sum(weights) == pytest.approx(1.0)
    assert result.summary.p < 0.05 and result.summary.ci_low < result.summary.pooled_r < result.summary.ci_high


def test_elements_with_too_few_inputs_are_excluded_with_reason():
    table = element_table()
    small = table.element_id == "E0"
    table.loc[small, "input_sha256"] = np.where(np.arange(small.sum()) % 3 == 0, "a", "b")
    result = within_element_effects(table, "feat", "log2_ratio", **HEADLINE_WITHIN)
    assert "E0" in result.summary.excluded_elements
    assert "fewer than 4 distinct model inputs" in result.summary.excluded_elements["E0"]
    assert result.summary.n_elements_used == 7


def test_one_input_per_element_is_not_estimable():
    table = element_table()
    table["input_sha256"] = table["element_id"]
    result = within_element_effects(table, "feat", "log2_ratio", **HEADLINE_WITHIN)
    assert not result.estimable and result.reason == REASON_NO_WITHIN_ELEMENT_VARIATION
    assert result.summary is None


def test_input_levels_shared_by_many_features_give_exactly_the_per_element_groupby_results():
    """evaluate computes the within-element structure once for every feature (issue 22: 1,000 features);
    every element's r, p and z stay bit-for-bit those of grouping each element's rows by input."""
    table = element_table(seed=3, n_elements=6, inputs=9, copies=3).sample(frac=1.0, random_state=1)  # rows unsorted
    table = table.reset_index(drop=True)
    rng = np.random.default_rng(5)
    table["other"] = table.groupby("input_sha256")["feat"].transform(lambda f: f + rng.normal())
    table["log2_ratio"] = table["log2_ratio"].astype(np.float32)  # averaged in its own dtype, as per element
    levels = InputLevels.of(table, "log2_ratio")
    for feature in ("feat", "other"):
        shared = within_element_effects(table, feature, "log2_ratio", **HEADLINE_WITHIN, levels=levels)
        expected = tuple(element_effect(e, group, feature, "log2_ratio", 4)
                         for e, group in table.groupby("element_id", sort=True))
        assert [(e.element_id, e.n_rows, e.n_distinct_inputs, e.pearson_r, e.pearson_p, e.fisher_z)
                for e in shared.elements] == [
               (e.element_id, e.n_rows, e.n_distinct_inputs, e.pearson_r, e.pearson_p, e.fisher_z) for e in expected]
        alone = within_element_effects(table, feature, "log2_ratio", **HEADLINE_WITHIN)
        assert shared == alone
    with pytest.raises(ValueError, match="input levels of"):
        within_element_effects(table.iloc[:-1], "feat", "log2_ratio", **HEADLINE_WITHIN, levels=levels)
