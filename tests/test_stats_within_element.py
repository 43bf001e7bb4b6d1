"""Within-element effects: Δtarget vs Δfeature relative to each element's wild type."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mprabench.stats.within_element import (
    REASON_NO_WILD_TYPE,
    REASON_NO_WITHIN_ELEMENT_VARIATION,
    within_element_effects,
)


def mutant_table(
    seed: int, n_elements: int = 12, n_variants: int = 20, slope: float = 2.0, noise: float = 0.1
) -> pd.DataFrame:
    """One wild-type row plus n_variants distinct-input variants per element (V3-like)."""
    rng = np.random.default_rng(seed)
    rows = []
    for e in range(n_elements):
        wt_feature, wt_target = rng.normal(), rng.normal()
        rows.append((f"E{e}", f"E{e}-wt", True, wt_feature, wt_target))
        for v in range(n_variants):
            d_feature = rng.normal()
            d_target = slope * d_feature + noise * rng.normal()
            variant = (wt_feature + d_feature, wt_target + d_target)
            rows.append((f"E{e}", f"E{e}-v{v}", False, *variant))
    table = pd.DataFrame(
        rows, columns=["element_id", "input_sha256", "is_wild_type", "feat", "log2_ratio"]
    )
    table["row_id"] = [f"r{i}" for i in range(len(table))]
    return table


def test_planted_effect_is_recovered():
    result = within_element_effects(mutant_table(0), "feat", "log2_ratio")
    assert result.estimable and result.reason is None
    assert len(result.elements) == 12 and all(e.estimable for e in result.elements)
    summary = result.summary
    assert summary.n_elements_used == 12
    assert summary.pooled_r > 0.99 and summary.ci_low > 0.98 and summary.p < 1e-50
    assert summary.sign_agreement > 0.95
    json.dumps(result.to_dict(), allow_nan=False)


def test_null_effect_is_not_significant():
    result = within_element_effects(mutant_table(1, slope=0.0, noise=1.0), "feat", "log2_ratio")
    assert result.summary.p > 0.001 and abs(result.summary.pooled_r) < 0.25
    assert 0.3 < result.summary.sign_agreement < 0.7


def test_per_element_numbers_equal_scipy_on_hand_computed_deltas():
    table = mutant_table(2, slope=1.0, noise=1.0)
    result = within_element_effects(table, "feat", "log2_ratio")
    rows = table[table.element_id == "E3"]
    wt = rows[rows.is_wild_type]
    mut = rows[~rows.is_wild_type]
    d_f = mut.feat.to_numpy() - wt.feat.mean()
    d_t = mut.log2_ratio.to_numpy() - wt.log2_ratio.mean()
    effect = next(e for e in result.elements if e.element_id == "E3")
    assert effect.n == 20 and effect.n_wild_type == 1 and effect.n_distinct_inputs == 21
    assert effect.pearson_r == pytest.approx(stats.pearsonr(d_f, d_t).statistic, abs=1e-12)
    assert effect.spearman_p == pytest.approx(stats.spearmanr(d_f, d_t).pvalue, rel=1e-9)
    assert effect.sign_agreement == pytest.approx(np.mean(np.sign(d_f) == np.sign(d_t)))


def test_summary_is_n_minus_3_weighted_fisher_z():
    table = mutant_table(3, n_variants=8, slope=1.0, noise=1.0)
    extra = mutant_table(4, n_elements=2, n_variants=30, slope=1.0, noise=1.0)
    extra["element_id"] = extra["element_id"] + "x"
    result = within_element_effects(pd.concat([table, extra]), "feat", "log2_ratio")
    r = np.array([e.pearson_r for e in result.elements])
    w = np.array([e.n - 3 for e in result.elements], dtype=float)
    z = np.sum(w * np.arctanh(r)) / w.sum()
    se = 1 / np.sqrt(w.sum())
    assert result.summary.pooled_r == pytest.approx(np.tanh(z), abs=1e-12)
    assert result.summary.ci_low == pytest.approx(np.tanh(z - 1.959963984540054 * se), abs=1e-9)
    assert result.summary.p == pytest.approx(2 * stats.norm.sf(abs(z) / se), rel=1e-9)


def test_v2_situation_is_not_estimable_and_has_no_numbers():
    table = mutant_table(5)
    # Every oligo of an element gets the element's single model input (V1/V2).
    table["input_sha256"] = table["element_id"] + "-input"
    result = within_element_effects(table, "feat", "log2_ratio")
    assert not result.estimable
    assert result.reason == REASON_NO_WITHIN_ELEMENT_VARIATION
    assert result.elements == () and result.summary is None
    assert result.to_dict() == {
        "feature": "feat", "target": "log2_ratio", "estimable": False,
        "reason": REASON_NO_WITHIN_ELEMENT_VARIATION, "elements": [], "summary": None,
    }  # fmt: skip


def test_element_without_wild_type_is_reported_with_its_reason():
    table = mutant_table(6)
    table.loc[(table.element_id == "E0") & table.is_wild_type, "is_wild_type"] = False
    result = within_element_effects(table, "feat", "log2_ratio")
    e0 = next(e for e in result.elements if e.element_id == "E0")
    assert not e0.estimable and e0.reason == REASON_NO_WILD_TYPE
    assert e0.pearson_r is None and e0.sign_agreement is None
    assert result.summary.n_elements_used == 11
    assert result.summary.excluded_elements == {"E0": REASON_NO_WILD_TYPE}


def test_small_or_uninformative_elements_are_excluded_with_reasons():
    table = mutant_table(7)
    # E1: only two distinct inputs; E2: three variants (n = 3, weight 0); E3: constant feature.
    table.loc[(table.element_id == "E1") & ~table.is_wild_type, "input_sha256"] = "E1-same"
    e2_variants = table.index[(table.element_id == "E2") & ~table.is_wild_type]
    table = table.drop(e2_variants[3:])
    e3 = (table.element_id == "E3") & ~table.is_wild_type
    table.loc[e3, "feat"] = table.loc[e3, "feat"].iloc[0]
    result = within_element_effects(table, "feat", "log2_ratio")
    by_id = {e.element_id: e for e in result.elements}
    assert by_id["E1"].reason == "fewer than 3 distinct model inputs among the element's rows (2)"
    assert by_id["E2"].estimable and by_id["E2"].n == 3
    assert by_id["E3"].reason == "constant feature delta"
    excluded = result.summary.excluded_elements
    assert set(excluded) == {"E1", "E2", "E3"}
    assert excluded["E2"] == "n = 3 rows: Fisher-z weight n - 3 is not positive"
    assert result.summary.n_elements_used == 9
    frame = result.elements_frame()
    assert len(frame) == 12 and frame["pearson_r"].dtype == "Float64"
    assert frame.loc[frame.element_id == "E1", "pearson_r"].isna().all()
