"""Stratified association by TF / strand / chromosome / element."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mprabench.stats.robust_correlation import robust_correlation_p
from scipy import stats
from statsmodels.stats.multitest import multipletests

from mprabench.stats.strata import (
    REASON_TF_INVISIBLE,
    RESULT_COLUMNS,
    StrataSettings,
    stratified_association,
    stratum_memberships,
)
from tests.support.null_rows import gse84888_like_rows


def settings(**changes) -> StrataSettings:
    values = dict(min_unique_inputs=3, n_permutations=999, level=0.95, seed=0, alpha=0.05, min_elements_ci=10,
                  normal_above=20_000)
    return StrataSettings(**(values | changes))


def element_means(rows: pd.DataFrame, feature: str, target: str) -> pd.DataFrame:
    return rows.groupby("element_id")[[feature, target]].mean()


def evaluation_table(
    seed: int = 0, n_elements: int = 10, rows_per_element: int = 30
) -> pd.DataFrame:
    """Elements with five distinct inputs each, strand per element, random TF labels, one chrom per element."""
    rng = np.random.default_rng(seed)
    n = n_elements * rows_per_element
    element = np.repeat(np.arange(n_elements), rows_per_element)
    labels = ["GATA1", "KLF1", "TAL1", "NFE2"]
    table = pd.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(n)],
            "element_id": [f"E{e}" for e in element],
            # five distinct model inputs per element
            "input_sha256": [f"E{e}-in{i % 5}" for i, e in enumerate(element)],
            "strand": np.where(element % 2 == 0, "+", "-"),
            "chrom": [f"chr{e % 3 + 1}" for e in element],
            "tf_labels": [
                np.array(rng.choice(labels, rng.integers(0, 3), replace=False), dtype=str)
                for _ in range(n)
            ],
            "is_wild_type": np.arange(n) % rows_per_element == 0,
        }
    )
    # One feature value per model input (rows sharing an input share its prediction).
    input_codes = pd.factorize(table["input_sha256"])[0]
    table["feat"] = rng.normal(size=input_codes.max() + 1)[input_codes] + rng.normal(size=n_elements)[element]
    table["log2_ratio"] = 0.3 * table["feat"] + rng.normal(size=n)
    return table


def test_tf_explode_counts_a_row_once_in_each_of_its_labels():
    table = evaluation_table().iloc[:6].copy()
    table["tf_labels"] = [
        np.array(["A", "B"]), ["A"], [], np.array([], dtype=str), ["B", "B", "C"], ["C"]
    ]
    members = stratum_memberships(table, "tf")
    by_stratum = members.groupby("stratum")["position"].apply(list).to_dict()
    assert by_stratum == {"A": [0, 1], "B": [0, 4], "C": [4, 5]}


def test_tf_stratum_sizes_follow_the_labels():
    table = evaluation_table(1, n_elements=12)
    frame = stratified_association(table, "feat", "log2_ratio", "tf", settings())
    for _, row in frame.iterrows():
        has_label = table["tf_labels"].apply(lambda labels, s=row.stratum: s in list(labels))
        assert row.n_rows == has_label.sum()
        assert row.n_elements == table.loc[has_label, "element_id"].nunique()
        assert row.n_unique_inputs == table.loc[has_label, "input_sha256"].nunique()
        assert row.estimable and "t-test across elements" in row.method


def test_tf_strata_are_not_estimable_when_inputs_do_not_vary_within_elements():
    table = evaluation_table(1)
    table["input_sha256"] = table["element_id"]
    frame = stratified_association(table, "feat", "log2_ratio", "tf", settings(min_unique_inputs=1))
    assert not frame.estimable.any() and set(frame.reason) == {REASON_TF_INVISIBLE}
    assert frame.p.isna().all() and frame.bh_q.isna().all()
    assert frame.naive_pearson_r.notna().all()  # descriptions stay, labelled naive


def test_strand_stratum_is_element_level_and_naive_numbers_are_scipy():
    table = evaluation_table(2, n_elements=24)
    frame = stratified_association(table, "feat", "log2_ratio", "strand", settings())
    assert list(frame.columns) == RESULT_COLUMNS and list(frame.stratum) == ["+", "-"]
    for _, row in frame.iterrows():
        rows = table[table.strand == row.stratum]
        means = element_means(rows, "feat", "log2_ratio")
        golden = stats.spearmanr(means.feat, means.log2_ratio)
        assert row.r == pytest.approx(golden.statistic, abs=1e-12)  # Spearman rho of the element means
        assert pd.isna(row.ci_low) and "Spearman" in row.ci_reason
        assert row.naive_pearson_r == stats.pearsonr(rows.feat, rows.log2_ratio).statistic
        assert 0 < row.p <= 1 and row.n_elements == 12 and row.estimable


def test_a_stratum_of_too_few_elements_for_a_permutation_p_says_so():
    frame = stratified_association(evaluation_table(2, n_elements=8), "feat", "log2_ratio", "strand", settings())
    assert not frame.estimable.any() and frame.p.isna().all()
    assert all(reason.startswith("fewer than 5 elements (4)") for reason in frame.reason)


def test_stratum_with_fewer_than_three_inputs_is_not_estimable_with_reason():
    table = evaluation_table(3)
    chr1 = table.chrom == "chr1"
    table.loc[chr1, "input_sha256"] = np.where(np.arange(chr1.sum()) % 2, "x", "y")
    frame = stratified_association(table, "feat", "log2_ratio", "chrom", settings())
    row = frame.set_index("stratum").loc["chr1"]
    assert not row.estimable
    assert row.reason == "fewer than 3 distinct model inputs (2)"
    for column in ["r", "p", "ci_low", "bh_q", "bh_significant"]:
        assert row[column] is pd.NA


def test_bh_runs_on_the_element_aware_p_of_estimable_strata_only():
    table = evaluation_table(5, n_elements=30)
    table["chrom"] = [f"chr{int(e[1:]) % 3 + 1}" for e in table.element_id]
    table.loc[table.chrom == "chr2", "input_sha256"] = "single"
    frame = stratified_association(table, "feat", "log2_ratio", "chrom", settings(alpha=0.1))
    estimable = frame[frame.estimable]
    assert len(estimable) == 2 and frame.loc[~frame.estimable, "bh_q"].isna().all()
    reject, q, _, _ = multipletests(estimable.p.astype(float), alpha=0.1, method="fdr_bh")
    np.testing.assert_allclose(estimable.bh_q.astype(float), q, rtol=1e-12)
    assert list(estimable.bh_significant) == list(reject)


def test_element_strata_use_the_elements_distinct_inputs():
    table = evaluation_table(6)
    table["input_sha256"] = [f"{e}-{i % 10}" for i, e in enumerate(table.element_id)]
    frame = stratified_association(table, "feat", "log2_ratio", "element", settings())
    assert len(frame) == 10 and frame.estimable.all() and (frame.n_elements == 1).all()
    first = table[table.element_id == "E0"].groupby("input_sha256").agg(f=("feat", "first"), y=("log2_ratio", "mean"))
    golden = stats.pearsonr(first.f, first.y)
    row = frame.set_index("stratum").loc["E0"]
    # p: the null-restricted (constant-only) score test of the slope with the HC1 sandwich variance
    residual, y = first.f - first.f.mean(), first.y - first.y.mean()
    m = len(residual)
    t = sum(residual * y) / np.sqrt(m / (m - 2) * sum((residual * y) ** 2))
    assert row.r == pytest.approx(golden.statistic) and row.p == pytest.approx(2 * stats.t.sf(abs(t), m - 2))
    assert pd.isna(row.ci_low) and "constant noise" in row.ci_reason


def test_element_stratum_p_holds_where_noise_grows_with_the_deviation():
    """Null: the feature is uncorrelated with the target, but its noise grows with |deviation|; the
    robust p rejects at alpha where the Pearson t-test would not (400 elements of 60 inputs: MC SE 0.011)."""
    rng = np.random.default_rng(5)
    robust, pearson = [], []
    for _ in range(400):
        y = rng.normal(size=60)
        x = rng.normal(size=60) * np.abs(y - y.mean())
        robust.append(robust_correlation_p(x, y))
        pearson.append(stats.pearsonr(x, y).pvalue)
    assert abs(np.mean(np.array(robust) <= 0.05) - 0.05) <= 0.035
    assert np.mean(np.array(pearson) <= 0.05) > 0.15  # the control: constant noise assumed, far too liberal


def test_no_nan_only_finite_numbers_or_na():
    table = evaluation_table(7, n_elements=12)
    table.loc[table.chrom == "chr3", "feat"] = 2.0
    for kind in ["tf", "strand", "chrom", "element"]:
        frame = stratified_association(table, "feat", "log2_ratio", kind, settings())
        for column in ["r", "p", "ci_low", "bh_q", "naive_pearson_r"]:
            values = frame[column]
            assert values.dtype == "Float64"
            assert np.isfinite(values.dropna().to_numpy(dtype=float)).all()
        assert (frame.p.isna() == ~frame.estimable).all()
        assert frame.reason[~frame.estimable].notna().all()


def test_results_do_not_depend_on_row_order():
    table = evaluation_table(8, n_elements=12)
    shuffled = table.sample(frac=1.0, random_state=1)
    for kind in ("tf", "strand"):
        a = stratified_association(table, "feat", "log2_ratio", kind, settings(seed=3))
        b = stratified_association(shuffled, "feat", "log2_ratio", kind, settings(seed=3))
        for column in ["r", "p", "ci_low", "ci_high", "bh_q"]:
            np.testing.assert_allclose(a[column].astype(float), b[column].astype(float), atol=1e-12)


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown stratum kind"):
        stratified_association(evaluation_table(), "feat", "log2_ratio", "motif", settings())


def test_several_features_at_once_equal_one_at_a_time():
    table = evaluation_table(8)
    table["other"] = table["feat"] * -2 + np.arange(len(table)) % 3
    together = stratified_association(table, ["feat", "other"], "log2_ratio", "strand", settings(seed=1))
    apart = pd.concat([stratified_association(table, f, "log2_ratio", "strand", settings(seed=1))
                       for f in ("feat", "other")], ignore_index=True)
    pd.testing.assert_frame_equal(together, apart)


@pytest.mark.parametrize("within", [False, True])
def test_strata_p_values_are_calibrated_under_the_null_on_the_gse84888_structure(within):
    """Null features on the real element structure: each stratum kind rejects at ~alpha (small B)."""
    rng = np.random.default_rng(11 + within)
    rows = gse84888_like_rows(rng, within)
    n_features, kinds = 40, ["strand", "tf"] if within else ["strand"]
    inputs = rows["input_sha256"].unique()
    element_of_input = rows.groupby("input_sha256")["element_id"].first().reindex(inputs)
    codes = pd.factorize(element_of_input)[0]
    for f in range(n_features):
        values = rng.normal(size=codes.max() + 1)[codes] + rng.normal(size=len(inputs))
        rows[f"f{f}"] = rows["input_sha256"].map(dict(zip(inputs, values)))
    features = [f"f{f}" for f in range(n_features)]
    for kind in kinds:
        frame = stratified_association(rows, features, "log2_ratio", kind, settings(n_permutations=199))
        p = frame.loc[frame.estimable, "p"].astype(float)
        n = len(p)
        assert n >= n_features * 2
        # Strata of one feature share rows, so tests are not independent: a wide binomial band.
        assert abs((p <= 0.05).mean() - 0.05) <= 4 * np.sqrt(0.05 * 0.95 / n) + 0.01
