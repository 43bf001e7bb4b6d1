"""Pooled association, multiple testing and effective sample size."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.multitest import multipletests

from mprabench.stats.association import (
    REASON_CONSTANT_FEATURE,
    REASON_CONSTANT_TARGET,
    REASON_ONE_CLASS,
    benjamini_hochberg,
    bonferroni,
    effective_sample_size,
    pooled_association,
)
from mprabench.stats.json_values import json_ready
from mprabench.stats.rng import derive_rng


def test_pooled_numbers_equal_plain_scipy_and_sklearn_calls():
    rng = np.random.default_rng(1)
    x = rng.normal(size=500)
    y = 0.3 * x + rng.normal(size=500)
    result = pooled_association(x, y)
    pearson, spearman = stats.pearsonr(x, y), stats.spearmanr(x, y)
    assert result.n == 500
    assert result.pearson_r == pearson.statistic and result.pearson_p == pearson.pvalue
    assert result.spearman_rho == spearman.statistic and result.spearman_p == spearman.pvalue
    assert result.auroc == roc_auc_score(y > np.median(y), x)
    assert result.pearson_reason is None and result.spearman_reason is None
    assert result.auroc_reason is None


def test_to_dict_is_json_ready_with_the_documented_keys():
    rng = np.random.default_rng(2)
    d = pooled_association(rng.normal(size=50), rng.normal(size=50)).to_dict()
    assert list(d) == [
        "n", "pearson_r", "pearson_p", "pearson_reason", "spearman_rho", "spearman_p",
        "spearman_reason", "auroc", "auroc_reason",
    ]  # fmt: skip
    assert all(type(v) in (int, float, type(None), str) for v in d.values())
    json.dumps(d, allow_nan=False)


def test_constant_feature_is_not_estimable_never_nan():
    y = np.random.default_rng(3).normal(size=100)
    result = pooled_association(np.full(100, 2.5), y)
    assert result.pearson_r is None and result.pearson_p is None
    assert result.spearman_rho is None and result.auroc is None
    assert result.pearson_reason == REASON_CONSTANT_FEATURE
    assert result.auroc_reason == REASON_CONSTANT_FEATURE
    json.dumps(result.to_dict(), allow_nan=False)


def test_constant_target_reports_constant_target_not_one_class():
    x = np.random.default_rng(4).normal(size=100)
    result = pooled_association(x, np.zeros(100))
    assert result.pearson_reason == REASON_CONSTANT_TARGET
    assert result.auroc_reason == REASON_CONSTANT_TARGET


def test_one_class_after_median_split_makes_only_auroc_not_estimable():
    # Median is 1, and nothing is strictly above it.
    x = np.array([0.1, 0.5, 0.2, 0.9, 0.3])
    y = np.array([0.0, 1.0, 1.0, 1.0, 1.0])
    result = pooled_association(x, y)
    assert result.auroc is None and result.auroc_reason == REASON_ONE_CLASS
    assert result.pearson_r is not None


def test_too_few_rows_is_not_estimable():
    result = pooled_association([1.0, 2.0], [3.0, 1.0])
    assert result.pearson_r is None and result.pearson_reason == "fewer than 3 rows (2)"


def test_non_finite_input_is_an_error_not_a_statistic():
    with pytest.raises(ValueError, match="non-finite"):
        pooled_association([1.0, np.nan, 3.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="differ in length"):
        pooled_association([1.0, 2.0, 3.0], [1.0, 2.0])


def test_json_ready_refuses_nan():
    converted = json_ready({"a": np.float64(1.5), "b": (np.int64(2), None)})
    assert converted == {"a": 1.5, "b": [2, None]}
    with pytest.raises(ValueError):
        json_ready({"a": float("nan")})


P_VALUES = [0.01, None, 0.04, 0.2, None, 0.03]
IN_FAMILY = [0.01, 0.04, 0.2, 0.03]


@pytest.mark.parametrize(
    "adjust, method", [(bonferroni, "bonferroni"), (benjamini_hochberg, "fdr_bh")]
)
def test_adjustment_equals_statsmodels_over_estimable_entries_only(adjust, method):
    result = adjust(P_VALUES, alpha=0.05)
    reject, corrected, _, _ = multipletests(IN_FAMILY, alpha=0.05, method=method)
    assert result.n_tests == 4
    assert result.p_adjusted[1] is None and result.p_adjusted[4] is None
    assert result.reject[1] is None and result.reject[4] is None
    kept = [result.p_adjusted[i] for i in (0, 2, 3, 5)]
    np.testing.assert_array_equal(kept, corrected)
    assert [result.reject[i] for i in (0, 2, 3, 5)] == list(reject)
    json.dumps(result.to_dict(), allow_nan=False)


def test_adjustment_with_nothing_estimable():
    result = bonferroni([None, None], alpha=0.05)
    assert result.n_tests == 0 and result.p_adjusted == (None, None)


def test_effective_sample_size_counts_rows_inputs_elements():
    table = pd.DataFrame(
        {
            "element_id": ["a", "a", "a", "b", "b"],
            "input_sha256": ["h1", "h1", "h1", "h2", "h3"],
        }
    )
    ess = effective_sample_size(table)
    assert ess.to_dict() == {"n_rows": 5, "n_unique_inputs": 3, "n_elements": 2}


def test_derived_rng_depends_on_seed_and_key_only():
    first = derive_rng(0, "dnase_center").random(3)
    derive_rng(0, "other").random(10)  # consuming another stream changes nothing
    assert np.array_equal(first, derive_rng(0, "dnase_center").random(3))
    assert not np.array_equal(first, derive_rng(0, "cage_center").random(3))
    assert not np.array_equal(first, derive_rng(1, "dnase_center").random(3))
