"""Between-element association: the element is the unit of replication.

The headline statistic is Pearson r of element-mean feature vs element-mean target (n =
elements). Its p-value is a permutation p over elements (exact under exchangeable element
means); its CI is the Fisher-z interval of that same r, computed on the element means.
Both were chosen by calibration on the GSE84888 structure (``mprabench.stats.calibration``):
the percentile cluster bootstrap of the row-pooled r under-covered with 18 clusters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from mprabench.stats.association import (
    as_finite_array,
    check_same_length,
    finite_or_none,
    is_constant,
    join_reasons,
    pearson_test,
)
from mprabench.stats.json_values import json_ready
from mprabench.stats.permutation_normal import NORMAL_LIMIT_METHOD, normal_limit_p, uses_normal_limit
from mprabench.stats.pearson import unit_scaled
from mprabench.stats.rng import derive_rng

PERMUTATION_METHOD = (
    "Pearson r of element means (n = elements); two-sided permutation p over elements: "
    "p = (1 + #{|r_perm| >= |r_obs|}) / (1 + permutations)"
)
CI_METHOD = "Fisher-z interval of the element-mean Pearson r: tanh(atanh(r) ± z_(1+level)/2 / sqrt(n - 3))"

# Permuted |r| within this of the observed |r| count as "as extreme" (float ties, e.g. identity).
PERMUTATION_TIE_TOLERANCE = 1e-12

# Cap on the entries of one (permutations x elements) block, to bound memory for many elements.
PERMUTATION_BLOCK_ENTRIES = 2_000_000
# Permutation indices drawn at once by permutation_pvalue (int64: 8 bytes each, plus as many floats)
PERMUTATION_MEMORY_ENTRIES = 25_000_000

# Pearson r of element means needs 3 elements.
MIN_ELEMENTS_R = 3
# The Fisher-z interval's standard error 1/sqrt(n - 3) needs 4 (whatever evaluate.min_elements_ci says).
MIN_ELEMENTS_FISHER_Z = 4
# With fewer elements a two-sided permutation p can never fall to 0.05 (4 elements: 24 orders,
# smallest p 1/12), so the test could never reject: it is reported as not estimable instead.
MIN_PERMUTATION_ELEMENTS = 5


def element_count_reason(n_elements: int, min_elements: int, what: str = "") -> str | None:
    """Reason string when there are too few elements, else None."""
    if n_elements < min_elements:
        suffix = f" for {what}" if what else ""
        return f"fewer than {min_elements} elements ({n_elements}){suffix}"
    return None


def element_codes(clusters: Any) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct element ids and each row's index into them (independent of row order)."""
    return np.unique(np.asarray(clusters), return_inverse=True)


def element_means(
    x: np.ndarray, y: np.ndarray, clusters: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted element ids with the unweighted mean of x and of y over each element's rows."""
    ids, codes = element_codes(clusters)
    n = np.bincount(codes, minlength=len(ids))
    mean_x = np.bincount(codes, weights=x, minlength=len(ids)) / n
    mean_y = np.bincount(codes, weights=y, minlength=len(ids)) / n
    return ids, mean_x, mean_y


def element_permutations(n_elements: int, n_permutations: int, rng: np.random.Generator) -> np.ndarray:
    """(n_permutations x n_elements) independent uniform permutations of 0..n_elements-1."""
    return rng.permuted(np.broadcast_to(np.arange(n_elements), (n_permutations, n_elements)), axis=1)


def extreme_threshold(observed_r: np.ndarray | float) -> np.ndarray:
    """A permuted |r| at or above this counts as "as extreme" as the observed r (float ties included)."""
    return np.abs(observed_r) - PERMUTATION_TIE_TOLERANCE


def count_as_extreme(permuted_r: np.ndarray, threshold: np.ndarray | float) -> np.ndarray:
    """How many permuted r along the last axis are as extreme as the observed r (see extreme_threshold)."""
    return np.count_nonzero(np.abs(permuted_r) >= threshold, axis=-1)


def permutation_p(n_extreme: np.ndarray | int, n_permutations: int) -> np.ndarray | float:
    """Two-sided permutation p: (1 + #{|r_perm| >= |r_obs|}) / (1 + permutations); never 0."""
    return (1 + n_extreme) / (1 + n_permutations)


def permutation_pvalues(zx: np.ndarray, zy: np.ndarray, permutations: np.ndarray) -> np.ndarray:
    """Two-sided permutation p of r = zx·zy for every row of ``zx`` (B x E), permuting ``zy``.

    ``zx``, ``zy`` are unit-scaled (:func:`mprabench.stats.pearson.unit_scaled`); ``permutations`` (P x E) index ``zy``.
    Permuting the target means instead of the features gives the same null distribution and
    lets many features (or simulated replicates) share one permuted block.
    """
    return permutation_p(count_extreme(zx, zy, permutations), len(permutations))


def count_extreme(zx: np.ndarray, zy: np.ndarray, permutations: np.ndarray) -> np.ndarray:
    """Per row of ``zx``: how many permutations give |r| at least the observed |r| (see permutation_pvalues)."""
    zx = np.atleast_2d(zx)
    threshold = extreme_threshold(zx @ zy)
    block = max(1, PERMUTATION_BLOCK_ENTRIES // max(1, zx.shape[0]))
    n_extreme = np.zeros(zx.shape[0], dtype=np.int64)
    for start in range(0, len(permutations), block):
        permuted = zy[permutations[start : start + block]]  # (block x E)
        n_extreme += count_as_extreme(zx @ permuted.T, threshold[:, None])
    return n_extreme


def permutation_pvalue(
    mean_x: np.ndarray, mean_y: np.ndarray, n_permutations: int, rng: np.random.Generator
) -> float:
    """Two-sided permutation p of the Pearson r of two vectors (element means).

    The permutations are drawn in blocks of at most PERMUTATION_MEMORY_ENTRIES indices, so memory
    stays bounded with many elements (a 196,664-sequence library); drawing them block by block
    gives the same permutations as drawing them at once (numpy permutes row by row).
    """
    zx, zy = unit_scaled(mean_x), unit_scaled(mean_y)
    rows = max(1, PERMUTATION_MEMORY_ENTRIES // max(1, len(mean_x)))
    n_extreme = 0
    for start in range(0, n_permutations, rows):
        block = element_permutations(len(mean_x), min(rows, n_permutations - start), rng)
        n_extreme += int(count_extreme(zx, zy, block)[0])
    return permutation_p(n_extreme, n_permutations)


def fisher_z_interval(r: np.ndarray | float, n: int, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Fisher-z CI of Pearson r from n pairs (vectorised over r)."""
    z = np.arctanh(np.clip(r, -1 + 1e-15, 1 - 1e-15))
    half = stats.norm.ppf(0.5 + level / 2.0) / np.sqrt(n - 3)
    return np.tanh(z - half), np.tanh(z + half)


@dataclass(frozen=True)
class ElementLevelAssociation:
    """Pearson r of element means (n = elements), its permutation p and its Fisher-z CI."""

    method_description: str
    ci_method: str
    n_rows: int
    n_elements: int
    r: float | None
    r_reason: str | None
    p: float | None
    p_reason: str | None
    n_permutations: int
    ci_low: float | None
    ci_high: float | None
    ci_level: float
    ci_reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with exactly the dataclass field names as keys."""
        return json_ready(asdict(self))


def element_mean_reason(mean_x: np.ndarray, mean_y: np.ndarray, min_elements: int) -> str | None:
    """Why Pearson r of element means is not estimable, or None."""
    reasons = [element_count_reason(len(mean_x), min_elements)]
    reasons += ["constant element-mean feature" if is_constant(mean_x) else None]
    reasons += ["constant element-mean target" if is_constant(mean_y) else None]
    return join_reasons([r for r in reasons if r])


def element_level_from_means(
    mean_x: np.ndarray,
    mean_y: np.ndarray,
    *,
    n_rows: int,
    n_permutations: int,
    level: float,
    min_elements_ci: int,
    rng: np.random.Generator,
    normal_above: int,
) -> ElementLevelAssociation:
    """r, permutation p and Fisher-z CI from element means already computed.

    ``normal_above``: with more elements than this the p comes from the normal limit of the permutation
    distribution (stats/permutation_normal.py; evaluate.permutation_normal_above_elements).
    """
    n = len(mean_x)
    method = (f"{PERMUTATION_METHOD}; above {normal_above} elements: {NORMAL_LIMIT_METHOD}"
              if uses_normal_limit(n, normal_above) else PERMUTATION_METHOD)
    common = dict(method_description=method, ci_method=CI_METHOD, n_rows=n_rows,
                  n_elements=n, n_permutations=n_permutations, ci_level=level)
    reason = element_mean_reason(mean_x, mean_y, MIN_ELEMENTS_R)
    if reason:
        return ElementLevelAssociation(**common, r=None, r_reason=reason, p=None, p_reason=reason,
                                       ci_low=None, ci_high=None, ci_reason=reason)
    r = pearson_test(mean_x, mean_y).estimate
    if n < MIN_PERMUTATION_ELEMENTS:
        p, p_reason = None, element_count_reason(n, MIN_PERMUTATION_ELEMENTS, "a permutation p that can reach 0.05")
    elif uses_normal_limit(n, normal_above):
        p, p_reason = float(normal_limit_p(r, n)), None
    elif n_permutations > 0:
        p, p_reason = permutation_pvalue(mean_x, mean_y, n_permutations, rng), None
    else:
        p, p_reason = None, "evaluate.n_permutations = 0: no permutation test was run"
    ci_reason = element_count_reason(n, max(min_elements_ci, MIN_ELEMENTS_FISHER_Z),
                                     "a confidence interval (evaluate.min_elements_ci)")
    low = high = None
    if ci_reason is None and r is not None:
        lo, hi = fisher_z_interval(r, n, level)
        low, high = finite_or_none(lo), finite_or_none(hi)
    return ElementLevelAssociation(**common, r=r, r_reason=None, p=p, p_reason=p_reason,
                                   ci_low=low, ci_high=high, ci_reason=ci_reason)


def element_level_association(
    x: Any,
    y: Any,
    clusters: Any,
    *,
    n_permutations: int,
    seed: int,
    key: str,
    level: float,
    min_elements_ci: int,
    normal_above: int,
) -> ElementLevelAssociation:
    """Pearson r of element means plus its permutation p over elements and Fisher-z CI."""
    x, y = as_finite_array(x, "x"), as_finite_array(y, "y")
    clusters = np.asarray(clusters)
    check_same_length(x=x, y=y, clusters=clusters)
    _, mean_x, mean_y = element_means(x, y, clusters)
    return element_level_from_means(mean_x, mean_y, n_rows=len(x), n_permutations=n_permutations,
                                    level=level, min_elements_ci=min_elements_ci, rng=derive_rng(seed, key),
                                    normal_above=normal_above)
