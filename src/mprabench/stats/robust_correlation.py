"""A correlation test that does not assume constant noise: the self-normalised (sandwich) score test.

Over one element's distinct inputs, H0 is "the feature is uncorrelated with the target". With
centred ``x_c``, ``y_c`` the statistic is

    t = Σ x_c y_c / sqrt(m / (m − 2) · Σ x_c² y_c²),

compared with Student t on m − 2 df. Its variance is estimated from the products themselves
(the heteroscedasticity-consistent HC1 variance of the slope under H0), so noise that grows with
the measured deviation, which makes the Pearson t-test reject far too often, does not bias it.
Chosen for the element strata by the calibration family (stats/null_family.py).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

METHOD = ("Pearson r over the element's distinct inputs; p from the heteroscedasticity-robust score test "
          "t = sum(x_c y_c) / sqrt(m/(m-2) sum(x_c^2 y_c^2)) on m - 2 df")


def robust_t(cross: np.ndarray, cross_squares: np.ndarray, m: np.ndarray) -> np.ndarray:
    """t from Σ x_c y_c, Σ x_c² y_c² and the number of inputs m (any matching shapes)."""
    m = np.asarray(m, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return cross / np.sqrt(m / (m - 2.0) * cross_squares)


def robust_p(cross: np.ndarray, cross_squares: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Two-sided p of :func:`robust_t` on m − 2 df (NaN where the products are all 0)."""
    t = robust_t(cross, cross_squares, m)
    return 2.0 * stats.t.sf(np.abs(t), np.asarray(m, dtype=float) - 2.0)


def robust_correlation_p(x: np.ndarray, y: np.ndarray) -> float:
    """The robust p of one element's inputs (x: feature, y: mean target per input)."""
    xc, yc = x - x.mean(), y - y.mean()
    products = xc * yc
    return float(robust_p(products.sum(), (products**2).sum(), len(x)))
