"""Pearson r: one formula, computed from sums, for every layout the statistics need.

    r = (Σxy − Σx·Σy / n) / sqrt((Σx² − (Σx)² / n) · (Σy² − (Σy)² / n))        (:func:`pearson_from_sums`)

The callers differ only in how they form the sums: along an axis (:func:`pearson_r`: matching
columns, e.g. a trained baseline's refits), through a 0/1 group matrix (:func:`grouped_pearson_r`:
the r within each element or TF label of every simulated replicate, one matrix product), or as
the dot product of unit-scaled vectors (:func:`unit_scaled`: the permutation tests, where one
matrix product gives the r of every permutation). Where the caller can, values are centred first:
the correction terms then vanish to rounding (the corrected two-pass form), so the subtraction
cannot cancel; for centred values the dot product of unit-scaled vectors is this same r.

Single observed r's (the headline element r, per-element r, naive row r) come from scipy.stats.pearsonr
(stats.association.pearson_test); these vectorised forms serve the permutations, replicates and refits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse


def pearson_from_sums(n: Any, sx: Any, sy: Any, sxx: Any, syy: Any, sxy: Any) -> np.ndarray:
    """Pearson r from the pair count and the sums of x, y, x², y² and xy (any broadcasting shapes; NaN where
    x or y is constant)."""
    return centred_cross(n, sx, sy, sxy) / np.sqrt(centred_square(n, sx, sxx) * centred_square(n, sy, syy))


def centred_square(n: Any, s: Any, ss: Any) -> Any:
    """Σ(x − x̄)² from Σx and Σx²."""
    return ss - s * s / n


def centred_cross(n: Any, sx: Any, sy: Any, sxy: Any) -> Any:
    """Σ(x − x̄)(y − ȳ) from Σx, Σy and Σxy."""
    return sxy - sx * sy / n


def centred(values: np.ndarray, axis: int) -> np.ndarray:
    return values - values.mean(axis, keepdims=True)


def pearson_r(a: np.ndarray, b: np.ndarray, axis: int = 0) -> np.ndarray:
    """Pearson r of matching slices of a and b along ``axis`` (NaN where one is constant)."""
    a, b = centred(a, axis), centred(b, axis)
    return pearson_from_sums(a.shape[axis], a.sum(axis), b.sum(axis), (a * a).sum(axis), (b * b).sum(axis),
                             (a * b).sum(axis))


def grouped_pearson_r(x: np.ndarray, y: np.ndarray, groups: Any) -> np.ndarray:
    """(n x columns) Pearson r of each row of x (n x J) with y (J) over the members of each column of the 0/1
    matrix ``groups`` (J x columns, dense or scipy.sparse), from per-group sums: one matrix product per sum."""
    m = np.asarray(groups.sum(0)).ravel()
    sx, sxx, sxy = (group_sums(v, groups) for v in (x, x * x, x * y))
    return pearson_from_sums(m, sx, group_sums(y, groups), sxx, group_sums(y * y, groups), sxy)


def group_sums(values: np.ndarray, groups: Any) -> np.ndarray:
    """Sums of ``values`` (... x J) over the members of each column of ``groups`` (J x columns)."""
    if sparse.issparse(groups):  # a sparse matrix multiplies from its own side: (columns x J) @ (J x ...)
        return (groups.T @ values.T).T
    return values @ groups


def unit_scaled(values: np.ndarray) -> np.ndarray:
    """Centred and scaled along the last axis so that the dot product of two is their Pearson r.

    The form the permutation tests use: one matrix product gives the r of many permutations (or
    simulated replicates) at once. The scale is the root of the same centred sum of squares as in
    :func:`pearson_from_sums`; the cross term Σx·Σy / n is 0 for centred values.
    """
    values = centred(values, -1)
    return values / np.sqrt(centred_square(values.shape[-1], values.sum(-1, keepdims=True),
                                           (values * values).sum(-1, keepdims=True)))
