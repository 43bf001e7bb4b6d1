"""k-mer ridge baseline: recovers a planted signal, does not leak across elements, is deterministic."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mprabench.predictors.kmer import (
    kmer_training_statistics,
    ridge_out_of_fold,
    assign_group_folds,
    kmer_frequencies,
    kmer_frequency_matrix,
    kmer_ridge_out_of_fold,
)
from mprabench.feature_names import KMER_RIDGE_OOF
from mprabench.stats.pearson import pearson_r
from mprabench.stats.refit_null import element_average

PLANTED = "GGCC"
K = 4


def fit_kmer_ridge(features, targets, sample_weight=None, *, alpha):
    """The reference the closed-form out-of-fold fit must equal: sklearn's weighted StandardScaler + Ridge."""
    model = make_pipeline(StandardScaler(), Ridge(alpha=alpha))
    weights = {} if sample_weight is None else {"standardscaler__sample_weight": sample_weight,
                                                 "ridge__sample_weight": sample_weight}
    return model.fit(features, targets, **weights)


def _random_bases(rng: np.random.Generator, length: int) -> list[str]:
    return list(rng.choice(list("ACGT"), size=length))


def _planted_library(seed: int = 0, n_groups: int = 20, n_variants: int = 10, length: int = 300):
    """Variants of random elements carrying 0-5 planted copies; target = 2 * count + 1 + noise."""
    rng = np.random.default_rng(seed)
    row_ids, targets, groups, sequences = [], [], [], {}
    for group in range(n_groups):
        base = _random_bases(rng, length)
        for variant in range(n_variants):
            bases = base.copy()
            n_copies = int(rng.integers(0, 6))
            for start in rng.choice(np.arange(0, length - K, 8), n_copies, replace=False):
                bases[start : start + K] = list(PLANTED)
            sequence = "".join(bases)
            # Count independently of the code under test (overlapping occurrences included).
            count = len(re.findall(f"(?={PLANTED})", sequence))
            input_id = f"elem{group:02d}_v{variant}"
            sequences[input_id] = sequence
            row_ids.append(input_id)
            targets.append(2.0 * count + 1.0 + 0.1 * rng.normal())
            groups.append(f"elem{group:02d}")
    return row_ids, targets, groups, sequences


def _group_constant_library(seed: int = 0, n_groups: int = 30, n_variants: int = 8, length: int = 300):
    """Variants (5 point mutations) of random elements; target = random per-element constant."""
    rng = np.random.default_rng(seed)
    row_ids, targets, groups, sequences = [], [], [], {}
    for group in range(n_groups):
        base = _random_bases(rng, length)
        constant = rng.normal()
        for variant in range(n_variants):
            bases = base.copy()
            for position in rng.choice(length, 5, replace=False):
                bases[position] = rng.choice([b for b in "ACGT" if b != bases[position]])
            input_id = f"elem{group:02d}_v{variant}"
            sequences[input_id] = "".join(bases)
            for _replicate in range(2):  # two rows per input, as when several rows share an input
                row_ids.append(input_id)
                targets.append(constant + 0.05 * rng.normal())
                groups.append(f"elem{group:02d}")
    return row_ids, targets, groups, sequences


def _pearson(a, b) -> float:
    return float(np.corrcoef(np.asarray(a, float), np.asarray(b, float))[0, 1])


# --- features -----------------------------------------------------------------------------


def test_kmer_frequencies_known_counts_and_n_skipped():
    names = [a + b for a in "ACGT" for b in "ACGT"]  # base-4 order, A < C < G < T
    freqs = dict(zip(names, kmer_frequencies("ACGTNAC", 2)))
    # valid 2-mers: AC, CG, GT, AC (TN and NA skipped) -> denominator 4, not 6
    assert freqs["AC"] == pytest.approx(0.5)
    assert freqs["CG"] == pytest.approx(0.25)
    assert freqs["GT"] == pytest.approx(0.25)
    assert sum(freqs.values()) == pytest.approx(1.0)


def test_n_padding_does_not_change_frequencies():
    core = "ACGTTGCAGGCCAT"
    padded = "N" * 500 + core + "N" * 500
    np.testing.assert_allclose(kmer_frequencies(padded, 3), kmer_frequencies(core, 3))


def test_frequency_matrix_rows_match_and_all_n_is_an_error():
    sequences = ["ACGTACGT", "GGGGCCCC"]
    matrix = kmer_frequency_matrix(sequences, 3)
    assert matrix.shape == (2, 64)
    np.testing.assert_allclose(matrix[1], kmer_frequencies("GGGGCCCC", 3))
    with pytest.raises(ValueError, match="input #1"):
        kmer_frequency_matrix(["ACGT", "ANNNNA"], 2)
    # Central-window option reads only the middle.
    np.testing.assert_allclose(
        kmer_frequency_matrix(["TTTTACGTTTTT"], 2, width=4)[0], kmer_frequencies("ACGT", 2)
    )


# --- folds --------------------------------------------------------------------------------


def test_fold_assignment_never_splits_a_group():
    rng = np.random.default_rng(0)
    groups = rng.choice([f"elem{i}" for i in range(23)], size=500)
    folds, _ = assign_group_folds(groups, n_folds=5, seed=3)
    assert set(folds) == set(range(5))
    for group in np.unique(groups):
        assert len(set(folds[groups == group])) == 1
    for fold in range(5):
        assert not set(groups[folds == fold]) & set(groups[folds != fold])


def test_out_of_fold_result_reports_no_group_in_train_and_test():
    result = kmer_ridge_out_of_fold(*_group_constant_library(), k=K, alpha=1.0, n_folds=5, seed=1)
    folds = result.inputs["fold"]
    assert sorted(folds.unique()) == list(range(5))
    for fold in range(5):
        in_test = folds == fold
        assert not set(result.inputs.loc[in_test, "group"]) & set(result.inputs.loc[~in_test, "group"])
    assert (result.inputs.groupby("group")["fold"].nunique() == 1).all()


def test_fewer_groups_than_folds_is_an_error_stating_the_count():
    with pytest.raises(ValueError, match=r"only 3 distinct group\(s\)"):
        assign_group_folds(["a", "b", "c", "a"], n_folds=5, seed=0)
    rows = (["i1", "i2", "i3"], [1.0, 2.0, 3.0], ["a", "b", "c"], {"i1": "ACGT", "i2": "GGCC", "i3": "TTAA"})
    with pytest.raises(ValueError, match="only 3"):
        kmer_ridge_out_of_fold(*rows, k=2, alpha=1.0, n_folds=5, seed=0)


def test_input_in_several_groups_is_an_error():
    row_ids, targets, groups, sequences = _group_constant_library(n_groups=6, n_variants=2)
    groups[1] = "elem05"  # second row of input elem00_v0 now claims another element
    with pytest.raises(ValueError, match=r"more than one group.*elem00_v0"):
        kmer_ridge_out_of_fold(row_ids, targets, groups, sequences, k=2, alpha=1.0, n_folds=3, seed=0)


def test_missing_sequence_and_bad_targets_are_errors():
    row_ids, targets, groups, sequences = _group_constant_library(n_groups=6, n_variants=2)
    del sequences[row_ids[0]]
    with pytest.raises(ValueError, match="no sequence"):
        kmer_ridge_out_of_fold(row_ids, targets, groups, sequences, k=2, alpha=1.0, n_folds=3, seed=0)
    row_ids, targets, groups, sequences = _group_constant_library(n_groups=6, n_variants=2)
    targets[3] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        kmer_ridge_out_of_fold(row_ids, targets, groups, sequences, k=2, alpha=1.0, n_folds=3, seed=0)


# --- model behaviour ------------------------------------------------------------------------


def test_planted_kmer_signal_is_recovered_out_of_fold():
    result = kmer_ridge_out_of_fold(*_planted_library(), k=K, alpha=1.0, n_folds=5, seed=0)
    assert result.predictions.name == KMER_RIDGE_OOF
    assert np.isfinite(result.predictions).all()
    assert _pearson(result.predictions, result.inputs["target_mean"]) > 0.9


def test_group_constant_targets_fit_in_sample_but_not_out_of_fold():
    row_ids, targets, groups, sequences = _group_constant_library()
    result = kmer_ridge_out_of_fold(row_ids, targets, groups, sequences, k=K, alpha=1.0, n_folds=5, seed=0)
    inputs = result.inputs
    y = inputs["target_mean"].to_numpy()
    features = kmer_frequency_matrix([sequences[i] for i in inputs.index], K)

    in_sample = fit_kmer_ridge(features, y, alpha=1.0).predict(features)
    assert _pearson(in_sample, y) > 0.9  # the model can memorise elements ...
    assert abs(_pearson(result.predictions, y)) < 0.35  # ... but that does not transfer

    # Control: a leaky split (variants of one element on both sides) looks deceptively good,
    # so the grouped result above is not low merely because the model is weak.
    leaky = np.empty_like(y)
    for train, test in KFold(5, shuffle=True, random_state=0).split(features):
        leaky[test] = fit_kmer_ridge(features[train], y[train], alpha=1.0).predict(features[test])
    assert _pearson(leaky, y) > 0.9


def test_fitting_on_distinct_inputs_equals_fitting_on_rows():
    row_ids, targets, groups, sequences = _group_constant_library(n_groups=10, n_variants=3)
    # Uneven row counts per input (1 or 2), so the per-input weights actually matter.
    keep = [i for i in range(len(row_ids)) if i % 6 != 1]
    row_ids, groups = [row_ids[i] for i in keep], [groups[i] for i in keep]
    targets = [targets[i] + 0.3 * (i % 2) for i in keep]  # rows of one input now disagree
    result = kmer_ridge_out_of_fold(row_ids, targets, groups, sequences, k=3, alpha=2.0, n_folds=3, seed=0)
    assert set(result.inputs["n_rows"]) == {1, 2}
    row_features = kmer_frequency_matrix([sequences[i] for i in row_ids], 3)
    row_folds = result.inputs.loc[row_ids, "fold"].to_numpy()
    row_targets = np.asarray(targets)
    for fold in range(3):
        model = fit_kmer_ridge(row_features[row_folds != fold], row_targets[row_folds != fold], alpha=2.0)
        test_ids = result.inputs.index[result.inputs["fold"] == fold]
        test_features = kmer_frequency_matrix([sequences[i] for i in test_ids], 3)
        np.testing.assert_allclose(model.predict(test_features), result.full_predictions[test_ids], atol=1e-8)


def test_same_seed_same_result_and_seed_changes_folds():
    library = _planted_library(n_groups=12, n_variants=4)
    first = kmer_ridge_out_of_fold(*library, k=3, alpha=1.0, n_folds=5, seed=5)
    second = kmer_ridge_out_of_fold(*library, k=3, alpha=1.0, n_folds=5, seed=5)
    other = kmer_ridge_out_of_fold(*library, k=3, alpha=1.0, n_folds=5, seed=6)
    np.testing.assert_array_equal(first.predictions.to_numpy(), second.predictions.to_numpy())
    np.testing.assert_array_equal(first.inputs["fold"], second.inputs["fold"])
    assert not np.array_equal(first.inputs["fold"], other.inputs["fold"])
    assert list(first.predictions.index) == list(dict.fromkeys(library[0]))


# --- the refit null (element_p of a trained baseline) ----------------------------------------


def _null_kmer_dataset(rng: np.random.Generator, n_elements: int = 18, inputs_per_element: int = 1):
    groups = np.repeat([f"E{e:02d}" for e in range(n_elements)], inputs_per_element)
    sequences = ["".join(rng.choice(list("ACGT"), 200)) for _ in groups]
    targets = np.repeat(rng.normal(size=n_elements), inputs_per_element) + 0.5 * rng.normal(size=groups.size)
    return kmer_frequency_matrix(sequences, 3), targets, groups


def test_ridge_out_of_fold_equals_sklearn_per_fold_and_target():
    rng = np.random.default_rng(0)
    features, _, groups = _null_kmer_dataset(rng, 12, 5)
    targets = rng.normal(size=(groups.size, 3))
    weights = rng.integers(1, 4, groups.size).astype(float)
    folds, _ = assign_group_folds(groups, 4, 0)
    fit = ridge_out_of_fold(features, targets, weights, folds, alpha=2.0)
    for fold in range(4):
        test = folds == fold
        for column in range(3):
            model = fit_kmer_ridge(features[~test], targets[~test, column], weights[~test], alpha=2.0)
            full = fit.kmer_part[test, column] + fit.fold_means[test, column]
            np.testing.assert_allclose(full, model.predict(features[test]), atol=1e-8)


@pytest.mark.parametrize("inputs_per_element", [1, 6], ids=["v2-like", "v3-like"])
def test_a_baseline_trained_on_a_null_target_gets_a_calibrated_p(inputs_per_element):
    rng = np.random.default_rng(inputs_per_element)
    n_datasets, p_values, r_oof, r_fold_mean = 300, [], [], []
    for dataset in range(n_datasets):
        features, targets, groups = _null_kmer_dataset(rng, inputs_per_element=inputs_per_element)
        weights = np.ones(groups.size)
        folds, _ = assign_group_folds(groups, 5, dataset)
        statistics = kmer_training_statistics(features, targets, weights, groups, folds, alpha=1.0,
                                              n_permutations=99, seed=dataset, row_sd=None)
        p_values.append(statistics["element_p"])
        r_oof.append(statistics["element_pearson_r"])
        fit = ridge_out_of_fold(features, targets[:, None], weights, folds, alpha=1.0)
        element_y = element_average(targets[:, None], groups, weights)
        r_fold_mean.append(pearson_r(element_average(fit.fold_means, groups, weights), element_y)[0])
    rate = np.mean(np.array(p_values) <= 0.05)
    assert abs(rate - 0.05) <= 3 * np.sqrt(0.05 * 0.95 / n_datasets)
    assert abs(np.mean(r_oof)) < 0.06  # the reported k-mer part carries no leave-out-mean signal ...
    assert np.mean(r_fold_mean) < -0.2  # ... which the training-fold mean alone does (control)


def test_refit_null_gives_no_p_when_the_element_r_is_not_finite():
    # Every element has the same mean target: r of element means is NaN, which no permuted |r| can
    # "reach"; the p must be missing with a reason, not the smallest possible 1 / (B + 1).
    rng = np.random.default_rng(3)
    features, _, groups = _null_kmer_dataset(rng, 12, 2)
    targets = np.tile([-1.0, 1.0], 12)  # each element: one input at -1, one at +1
    folds, _ = assign_group_folds(groups, 4, 0)
    statistics = kmer_training_statistics(features, targets, np.ones(groups.size), groups, folds, alpha=1.0,
                                          n_permutations=99, seed=0, row_sd=None)
    assert statistics["element_p"] is None and statistics["element_pearson_r"] is None
    assert "not finite" in statistics["element_p_reason"]


def test_refit_null_leaves_out_elements_whose_rows_are_all_dropouts():
    rng = np.random.default_rng(4)
    features, targets, groups = _null_kmer_dataset(rng, 14, 3)
    folds, _ = assign_group_folds(groups, 4, 0)
    weights = np.where(groups == "E00", 0.0, 1.0)  # element E00: dropouts only (zero training weight)
    statistics = kmer_training_statistics(features, targets, weights, groups, folds, alpha=1.0,
                                          n_permutations=99, seed=0, row_sd=None)
    kept = weights > 0
    expected = kmer_training_statistics(features[kept], targets[kept], weights[kept], groups[kept], folds[kept],
                                        alpha=1.0, n_permutations=99, seed=0, row_sd=None)
    assert statistics["element_pearson_r"] is not None and np.isfinite(statistics["element_pearson_r"])
    assert statistics["element_pearson_r"] == pytest.approx(expected["element_pearson_r"])
    assert statistics["element_p"] == expected["element_p"]
    assert statistics["n_elements"] == 13
