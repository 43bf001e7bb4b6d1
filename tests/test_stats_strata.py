"""Stratified association by TF / strand / chromosome / element."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from mprabench.stats.strata import RESULT_COLUMNS, stratified_association, stratum_memberships


def evaluation_table(
    seed: int = 0, n_elements: int = 10, rows_per_element: int = 30
) -> pd.DataFrame:
    """Elements with five distinct inputs each, random strand/TF labels, one chrom per element."""
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
            "strand": rng.choice(["+", "-"], n),
            "chrom": [f"chr{e % 3 + 1}" for e in element],
            "tf_labels": [
                np.array(rng.choice(labels, rng.integers(0, 3), replace=False), dtype=str)
                for _ in range(n)
            ],
            "is_wild_type": np.arange(n) % rows_per_element == 0,
        }
    )
    table["feat"] = rng.normal(size=n) + rng.normal(size=n_elements)[element]
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
    table = evaluation_table(1)
    frame = stratified_association(table, "feat", "log2_ratio", "tf", n_boot=200)
    for _, row in frame.iterrows():
        has_label = table["tf_labels"].apply(lambda labels, s=row.stratum: s in list(labels))
        assert row.n_rows == has_label.sum()
        assert row.n_elements == table.loc[has_label, "element_id"].nunique()
        assert row.n_unique_inputs == table.loc[has_label, "input_sha256"].nunique()


def test_stratum_numbers_equal_scipy_on_the_stratum_rows():
    table = evaluation_table(2)
    frame = stratified_association(table, "feat", "log2_ratio", "strand", n_boot=200)
    assert list(frame.columns) == RESULT_COLUMNS
    assert list(frame.stratum) == ["+", "-"]
    for _, row in frame.iterrows():
        rows = table[table.strand == row.stratum]
        assert row.pearson_r == stats.pearsonr(rows.feat, rows.log2_ratio).statistic
        assert row.spearman_p == stats.spearmanr(rows.feat, rows.log2_ratio).pvalue
        assert row.ci_low < row.pearson_r < row.ci_high
        assert row.estimable and row.reason is None and row.feature == "feat"


def test_stratum_with_fewer_than_three_inputs_is_not_estimable_with_reason():
    table = evaluation_table(3)
    # chr1 holds elements 0, 3, 6, 9; give all its rows only two model inputs.
    chr1 = table.chrom == "chr1"
    table.loc[chr1, "input_sha256"] = np.where(np.arange(chr1.sum()) % 2, "x", "y")
    frame = stratified_association(table, "feat", "log2_ratio", "chrom", n_boot=200)
    row = frame.set_index("stratum").loc["chr1"]
    assert not row.estimable
    assert row.reason == "fewer than 3 distinct model inputs (2)"
    assert row.n_unique_inputs == 2 and row.n_rows == chr1.sum()
    for column in ["pearson_r", "pearson_p", "spearman_rho", "ci_low", "bh_q", "bh_significant"]:
        assert row[column] is pd.NA


def test_constant_feature_or_target_stratum_says_which():
    table = evaluation_table(4)
    table.loc[table.strand == "+", "feat"] = 1.0
    table.loc[table.strand == "-", "log2_ratio"] = 0.0
    frame = stratified_association(table, "feat", "log2_ratio", "strand", n_boot=100)
    assert frame.set_index("stratum")["reason"].to_dict() == {
        "+": "constant feature",
        "-": "constant target",
    }


def test_bh_is_over_estimable_strata_only():
    table = evaluation_table(5)
    table.loc[table.chrom == "chr2", "input_sha256"] = "single"
    frame = stratified_association(table, "feat", "log2_ratio", "chrom", n_boot=100, alpha=0.1)
    estimable = frame[frame.estimable]
    assert len(estimable) == 2 and frame.loc[~frame.estimable, "bh_q"].isna().all()
    reject, q, _, _ = multipletests(estimable.pearson_p.astype(float), alpha=0.1, method="fdr_bh")
    np.testing.assert_allclose(estimable.bh_q.astype(float), q, rtol=1e-12)
    assert list(estimable.bh_significant) == list(reject)


def test_element_strata_have_no_bootstrap_ci_with_reason():
    frame = stratified_association(evaluation_table(6), "feat", "log2_ratio", "element", n_boot=100)
    assert len(frame) == 10 and frame.estimable.all()
    assert (frame.n_elements == 1).all()
    assert frame.ci_low.isna().all() and set(frame.ci_reason) == {"fewer than 2 elements (1)"}


def test_no_nan_only_finite_numbers_or_na():
    table = evaluation_table(7)
    table.loc[table.chrom == "chr3", "feat"] = 2.0
    for kind in ["tf", "strand", "chrom", "element"]:
        frame = stratified_association(table, "feat", "log2_ratio", kind, n_boot=100)
        for column in ["pearson_r", "pearson_p", "spearman_rho", "spearman_p", "ci_low", "bh_q"]:
            values = frame[column]
            assert values.dtype == "Float64"
            assert np.isfinite(values.dropna().to_numpy(dtype=float)).all()
            if column == "ci_low":  # also missing, with ci_reason, for single-element strata
                assert values[~frame.estimable].isna().all()
                assert frame.ci_reason[values.isna()].notna().all()
            else:
                assert (values.isna() == ~frame.estimable).all()
            assert frame.reason[~frame.estimable].notna().all()


def test_results_do_not_depend_on_row_order():
    table = evaluation_table(8)
    shuffled = table.sample(frac=1.0, random_state=1)
    a = stratified_association(table, "feat", "log2_ratio", "tf", n_boot=300, seed=3)
    b = stratified_association(shuffled, "feat", "log2_ratio", "tf", n_boot=300, seed=3)
    for column in ["pearson_r", "ci_low", "ci_high", "bh_q"]:
        np.testing.assert_allclose(a[column].astype(float), b[column].astype(float), atol=1e-12)


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown stratum kind"):
        stratified_association(evaluation_table(), "feat", "log2_ratio", "motif")


def test_several_features_at_once_equal_one_at_a_time():
    table = evaluation_table(8)
    table["other"] = table["feat"] * -2 + np.arange(len(table)) % 3
    together = stratified_association(table, ["feat", "other"], "log2_ratio", "tf", n_boot=100, seed=1)
    apart = pd.concat([stratified_association(table, f, "log2_ratio", "tf", n_boot=100, seed=1)
                       for f in ("feat", "other")], ignore_index=True)
    pd.testing.assert_frame_equal(together, apart)
