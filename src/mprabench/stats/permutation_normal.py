"""The permutation p of a correlation over many elements from its normal limit.

Under the permutation null (one vector's element values permuted against the other's), Pearson r of
two fixed vectors of n values has mean exactly 0 and variance exactly 1/(n − 1), whatever the values;
Spearman's rho is the r of ranks, so the same holds for it. By Hoeffding's combinatorial central limit
theorem the permutation distribution of r·sqrt(n − 1) tends to the standard normal as n grows, provided
no single element dominates either vector (always true of ranks). Above
evaluate.permutation_normal_above_elements elements, evaluate and calibrate therefore use

    p = 2 Φ(−|r| sqrt(n − 1))

instead of drawing permutations: 10,000 permutations of 98,000 elements would be a 7.8 GB index matrix
and 10^9 products per feature, and the Monte-Carlo error of that p (SE ≈ 0.002 at p = 0.05) exceeds the
approximation's error at such sizes. calibrate simulates the p evaluate would report (this one, above
the threshold) under its whole null family, so its type-I rate is checked like the permutation p's.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

NORMAL_LIMIT_METHOD = ("two-sided p from the normal limit of the permutation distribution of r over elements "
                       "(mean 0, variance 1/(n − 1); Hoeffding's combinatorial CLT): 2 Φ(−|r| √(n − 1))")


def uses_normal_limit(n_elements: int, normal_above: int) -> bool:
    """Whether a permutation p over ``n_elements`` comes from the normal limit (evaluate.permutation_normal_above_elements)."""
    return n_elements > normal_above


def normal_limit_p(r: np.ndarray | float, n_elements: int) -> np.ndarray:
    """Two-sided p of r (Pearson, or Spearman's rho) from the normal limit of its permutation distribution."""
    return 2.0 * stats.norm.sf(np.abs(r) * np.sqrt(n_elements - 1))


__all__ = ["NORMAL_LIMIT_METHOD", "normal_limit_p", "uses_normal_limit"]
