"""The refit null of a trained baseline (stats.refit_null), with a fit simple enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mprabench.stats.pearson import pearson_r
from mprabench.stats.refit_null import (
    ELEMENT_P_REASON,
    REASON_REFIT_R_NOT_FINITE,
    element_average,
    element_permuted_targets,
    refit_null,
)
from mprabench.stats.rng import derive_rng

N_ELEMENTS, PER_ELEMENT = 12, 3


def design(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"E{e:02d}" for e in range(N_ELEMENTS)], PER_ELEMENT)
    targets = rng.normal(size=N_ELEMENTS)[np.repeat(np.arange(N_ELEMENTS), PER_ELEMENT)] + rng.normal(size=groups.size)
    return groups, targets, np.ones(groups.size)


def test_permuted_targets_move_element_means_and_keep_deviations():
    groups, targets, weights = design(0)
    permuted = element_permuted_targets(targets, groups, weights, 5, derive_rng(0, "t"))
    means = element_average(targets[:, None], groups, weights)[:, 0]
    for column in permuted.T:
        moved = element_average(column[:, None], groups, weights)[:, 0]
        np.testing.assert_allclose(np.sort(moved), np.sort(means), atol=1e-12)  # the same means, permuted
        deviations = column - np.repeat(moved, PER_ELEMENT)
        np.testing.assert_allclose(deviations, targets - np.repeat(means, PER_ELEMENT), atol=1e-12)


def fixed(prediction: np.ndarray):
    """A 'fit' that ignores its targets: the refit null is then the plain element permutation test."""
    return lambda targets: np.repeat(prediction[:, None], targets.shape[1], axis=1)


def test_a_fit_that_leaks_the_target_gets_r_1_and_p_1():
    groups, targets, weights = design(1)
    leak = refit_null(targets, lambda y: y, targets, groups, weights, n_permutations=199, seed=0, key="leak", row_sd=None)
    assert leak.r == pytest.approx(1.0) and leak.p == 1.0  # every refit leaks as well: nothing is learnt


def test_a_fixed_prediction_gets_the_element_permutation_p():
    groups, targets, weights = design(1)
    rng = np.random.default_rng(2)
    signal = targets + 0.3 * rng.normal(size=targets.size)
    found = refit_null(signal, fixed(signal), targets, groups, weights, n_permutations=199, seed=0, key="s", row_sd=None)
    assert found.p == 1 / 200  # no permutation of 12 element means comes near r ~ 0.95
    noise = rng.normal(size=targets.size)
    ignored = refit_null(noise, fixed(noise), targets, groups, weights, n_permutations=199, seed=0, key="n", row_sd=None)
    expected_r = pearson_r(element_average(noise[:, None], groups, weights),
                           element_average(targets[:, None], groups, weights))[0]
    assert ignored.r == expected_r and ignored.p > 0.05


def test_a_constant_prediction_has_no_p_and_says_why():
    groups, targets, weights = design(3)
    null = refit_null(np.zeros(targets.size), lambda y: np.zeros_like(y), targets, groups, weights,
                      n_permutations=99, seed=0, key="flat", row_sd=None)
    assert null.r is None and null.p is None
    assert null.reason_entry() == {ELEMENT_P_REASON: REASON_REFIT_R_NOT_FINITE}
