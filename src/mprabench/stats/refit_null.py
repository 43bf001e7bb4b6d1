"""A trained baseline's element p: its whole out-of-fold fit re-run under element-permuted targets.

Out-of-fold predictions of elements that share training folds are not independent, so the
element permutation p of evaluate does not apply to them. Instead the element means of the
target are permuted between elements (each input keeps its deviation from its element's mean),
the trained predictor refits on every permuted target with the same folds, and the element r of
the real fit is compared with the element r of each refit. The predictor supplies the fit; this
module owns the statistic (written to predict's training.json, read by evaluate).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mprabench.headline import ELEMENT_P, ELEMENT_PEARSON_R
from mprabench.stats.clustered import (
    count_as_extreme,
    element_permutations,
    extreme_threshold,
    permutation_p,
)
from mprabench.stats.pearson import pearson_r
from mprabench.stats.rng import derive_rng

# Key beside `element_p` in a trained baseline's training statistics (training.json) when that p is None.
ELEMENT_P_REASON = "element_p_reason"

REFIT_NULL_METHOD = ("whole out-of-fold fit re-run under element-permuted targets (element means permuted, "
                     "within-element deviations kept), same folds")
REASON_REFIT_R_NOT_FINITE = (
    "the element r of the out-of-fold k-mer part is not finite (a constant element-mean prediction or "
    "target), so the refit null has no statistic to compare against"
)


def element_average(values: np.ndarray, groups: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(elements x columns) row-weighted means of per-input values (inputs x columns)."""
    _, codes = np.unique(groups, return_inverse=True)
    indicator = np.zeros((codes.max() + 1, len(codes)))
    indicator[codes, np.arange(len(codes))] = weights
    return (indicator @ values) / indicator.sum(1, keepdims=True)


def element_permuted_targets(targets: np.ndarray, groups: np.ndarray, weights: np.ndarray, n_permutations: int,
                             rng: np.random.Generator) -> np.ndarray:
    """(inputs x permutations) targets whose element-level parts are permuted between elements.

    Each input keeps its deviation from its element's mean; the element means move as wholes.
    """
    _, codes = np.unique(groups, return_inverse=True)
    means = element_average(targets[:, None], groups, weights)[:, 0]
    permutations = element_permutations(len(means), n_permutations, rng)
    return (targets - means[codes])[:, None] + means[permutations].T[codes]


def element_r(predictions: np.ndarray, targets: np.ndarray, groups: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pearson r of element means of each column of predictions against the same column of targets."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return pearson_r(element_average(predictions, groups, weights), element_average(targets, groups, weights))


@dataclass(frozen=True)
class RefitNull:
    """The element r of the real out-of-fold fit and its refit-null p (None with a reason)."""

    r: float | None
    p: float | None
    reason: str | None
    n_permutations: int

    def to_dict(self) -> dict[str, Any]:
        """The statistic's entries of training.json (the reason only when p is None)."""
        return {ELEMENT_PEARSON_R: self.r, ELEMENT_P: self.p, "n_permutations": self.n_permutations,
                "null": REFIT_NULL_METHOD}

    def reason_entry(self) -> dict[str, str]:
        return {ELEMENT_P_REASON: self.reason} if self.reason else {}


def refit_null(
    predictions: np.ndarray, refit: Callable[[np.ndarray], np.ndarray], targets: np.ndarray, groups: np.ndarray,
    weights: np.ndarray, *, n_permutations: int, seed: int, key: str,
) -> RefitNull:
    """Element r of the out-of-fold ``predictions`` (inputs) and its refit-null p.

    ``refit`` maps (inputs x columns) targets to the predictor's out-of-fold predictions of every
    column, fitted exactly as ``predictions`` were; ``key`` names the permutations' random stream.
    """
    r = float(element_r(predictions[:, None], targets[:, None], groups, weights)[0])
    if not math.isfinite(r):
        return RefitNull(None, None, REASON_REFIT_R_NOT_FINITE, n_permutations)
    permuted = element_permuted_targets(targets, groups, weights, n_permutations, derive_rng(seed, key))
    r_null = element_r(refit(permuted), permuted, groups, weights)
    n_extreme = int(count_as_extreme(r_null, extreme_threshold(r)))
    return RefitNull(r, permutation_p(n_extreme, n_permutations), None, n_permutations)
