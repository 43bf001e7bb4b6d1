"""calibrate's simulation of a trained baseline's refit null (stats/refit_calibration.py)."""

from __future__ import annotations

import numpy as np
import pytest

from mprabench.predictors.kmer import assign_group_folds, kmer_frequency_matrix, ridge_out_of_fold
from mprabench.stats.clustered import element_permutations
from mprabench.stats.refit_calibration import (
    REFIT_NOISE_ONLY,
    REFIT_PERMUTED_MEANS,
    LinearRefit,
    check_linear,
    refit_pvalues,
    simulate_refit_null,
)
from mprabench.stats.refit_null import element_sampling_variance, refit_null
from mprabench.stats.rng import derive_rng

# GSE84888's oligos per element (V2: one input per element, weighted by its oligos)
SIZES = np.array([40, 118, 118, 157, 196, 196, 196, 196, 196, 235, 235, 313, 313, 547, 664, 947, 1059, 1062.0])


def sequences(rng: np.random.Generator, similar: int) -> list[str]:
    """One random 2,048-bp sequence per element; the ``similar`` smallest share one base sequence (10 %
    of positions redrawn): the noisiest element means are neighbours in k-mer space."""
    base = rng.choice(list("ACGT"), 2048)
    out = []
    for element in range(len(SIZES)):
        sequence = rng.choice(list("ACGT"), 2048)
        if element < similar:
            sequence = base.copy()
            where = rng.choice(2048, 200, replace=False)
            sequence[where] = rng.choice(list("ACGT"), 200)
        out.append("".join(sequence))
    return out


def kmer_refit(rng: np.random.Generator, similar: int, row_sd: float | None = 1.0) -> LinearRefit:
    features = kmer_frequency_matrix(sequences(rng, similar), 4)
    folds, _ = assign_group_folds(np.arange(len(SIZES)).astype(str), 5, 0)

    def refit(targets: np.ndarray) -> np.ndarray:
        return ridge_out_of_fold(features, targets, SIZES, folds, alpha=1.0).kmer_part

    return LinearRefit(refit, np.arange(len(SIZES)), SIZES, rng.normal(size=len(SIZES)) * 0.3, row_sd)


@pytest.mark.parametrize("row_sd", [None, 1.0])
def test_the_linear_map_gives_the_p_of_refitting(row_sd):
    # The simulation's shortcut (one E x E map) must give exactly the p refit_null gets by refitting.
    rng = np.random.default_rng(0)
    linear = kmer_refit(rng, similar=0, row_sd=row_sd)
    groups = np.arange(len(SIZES))
    y = rng.normal(0.0, 1.0 / np.sqrt(SIZES))
    refitted = refit_null(linear.refit(y[:, None])[:, 0], linear.refit, y, groups, SIZES, n_permutations=199,
                          seed=3, key="k", row_sd=row_sd)
    permutations = element_permutations(len(SIZES), 199, derive_rng(3, "k"))
    a = linear.averaging() @ linear.refit(linear.broadcasting())
    shortcut = refit_pvalues(a, np.zeros((1, len(SIZES))), y[None, :], permutations,
                             element_sampling_variance(groups, SIZES, row_sd))
    assert shortcut[0] == refitted.p


def test_a_refit_that_is_not_linear_is_refused():
    linear = LinearRefit(lambda t: t**2, np.arange(4), np.ones(4), np.zeros(4), None)
    with pytest.raises(RuntimeError, match="not linear"):
        check_linear(linear, np.random.default_rng(0))


def test_the_scaled_refit_null_holds_where_noisy_elements_are_neighbours_and_the_plain_one_does_not():
    # The 0.103: element means that are pure sampling noise (variance 1/rows) and the three
    # noisiest elements near-duplicates in k-mer space. The plain permutation of element means rejects
    # far too often there (control); scaled by each element's sampling variance it holds.
    n = 2000
    tolerance = 0.015
    linear = kmer_refit(np.random.default_rng(12), similar=3)
    plain = simulate_refit_null(linear, n_replicates=n, n_permutations=199, seed=0, scaled=False)
    scaled = simulate_refit_null(linear, n_replicates=n, n_permutations=199, seed=0)
    assert np.mean(plain[REFIT_NOISE_ONLY] <= 0.05) > 0.05 + tolerance
    for null in (REFIT_NOISE_ONLY, REFIT_PERMUTED_MEANS):
        assert abs(np.mean(scaled[null] <= 0.05) - 0.05) <= tolerance, null
