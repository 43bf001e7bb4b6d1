"""Element-aware (cluster-aware) inference: element-resampling bootstrap and element-level tests.

Rows of one element share a model input (and often most of their sequence), so they are not
independent. Everything here treats the element as the unit of replication.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from mprabench.stats.association import (
    REASON_CONSTANT_FEATURE,
    REASON_CONSTANT_TARGET,
    as_finite_array,
    check_same_length,
    derive_rng,
    finite_or_none,
    is_constant,
    join_reasons,
    json_ready,
    pearson_test,
)

BOOTSTRAP_METHOD = "percentile cluster bootstrap: whole elements resampled with replacement"

# A resample whose within-resample sum of squares is below this fraction of its sum of squares
# about the global mean has (numerically) zero variance; round-off alone is ~1e-13 of it.
DEFAULT_ZERO_VARIANCE_RTOL = 1e-10

# Permuted |r| within this of the observed |r| count as "as extreme" (float ties, e.g. identity).
PERMUTATION_TIE_TOLERANCE = 1e-12

# Cap on the entries of one (permutations x elements) block, to bound memory for many elements.
PERMUTATION_BLOCK_ENTRIES = 2_000_000


def element_count_reason(n_elements: int, min_elements: int) -> str | None:
    """Reason string when there are too few elements, else None."""
    if n_elements < min_elements:
        return f"fewer than {min_elements} elements ({n_elements})"
    return None


# --------------------------------------------------------------------------------------------
# Per-element sufficient statistics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ElementSums:
    """Per-element n, Σx, Σy, Σx², Σy², Σxy (x, y centred on their global means)."""

    element_ids: np.ndarray
    n: np.ndarray
    sx: np.ndarray
    sy: np.ndarray
    sxx: np.ndarray
    syy: np.ndarray
    sxy: np.ndarray

    @property
    def n_elements(self) -> int:
        return len(self.element_ids)


def element_codes(clusters: Any) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct element ids and each row's index into them (independent of row order)."""
    return np.unique(np.asarray(clusters), return_inverse=True)


def element_sums(x: np.ndarray, y: np.ndarray, clusters: Any) -> ElementSums:
    """Sufficient statistics of Pearson r per element; columns follow sorted element ids."""
    ids, codes = element_codes(clusters)
    # Pearson r is shift-invariant; centring avoids cancellation in Σx² − (Σx)²/n.
    xc, yc = x - x.mean(), y - y.mean()

    def total(weights: np.ndarray | None) -> np.ndarray:
        return np.bincount(codes, weights=weights, minlength=len(ids)).astype(float)

    return ElementSums(
        ids, total(None), total(xc), total(yc), total(xc * xc), total(yc * yc), total(xc * yc)
    )


def resample_counts(n_elements: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot x n_elements) counts: how often each element is drawn in each resample.

    Each resample draws ``n_elements`` element indices uniformly with replacement.
    """
    draws = rng.integers(0, n_elements, size=(n_boot, n_elements))
    # Offset each resample's draws into its own block so one bincount counts all resamples.
    flat = (draws + n_elements * np.arange(n_boot)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n_elements).reshape(n_boot, n_elements)


def pearson_for_counts(
    sums: ElementSums, counts: np.ndarray, zero_variance_rtol: float = DEFAULT_ZERO_VARIANCE_RTOL
) -> np.ndarray:
    """Pearson r of every resample described by ``counts``; NaN marks zero-variance resamples."""
    weights = np.asarray(counts, dtype=float)
    n, sx, sy = weights @ sums.n, weights @ sums.sx, weights @ sums.sy
    sxx, syy, sxy = weights @ sums.sxx, weights @ sums.syy, weights @ sums.sxy
    with np.errstate(divide="ignore", invalid="ignore"):
        ssx, ssy = sxx - sx * sx / n, syy - sy * sy / n
        spxy = sxy - sx * sy / n
        degenerate = (ssx <= zero_variance_rtol * sxx) | (ssy <= zero_variance_rtol * syy)
        r = np.clip(spxy / np.sqrt(ssx * ssy), -1.0, 1.0)
    return np.where(degenerate, np.nan, r)


# --------------------------------------------------------------------------------------------
# Cluster bootstrap CI of the pooled Pearson r
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterBootstrapCI:
    """Percentile CI of the pooled Pearson r from resampling whole elements."""

    r: float | None
    ci_low: float | None
    ci_high: float | None
    level: float
    n_rows: int
    n_elements: int
    n_boot: int
    n_boot_used: int
    n_boot_dropped: int
    method: str
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with exactly the dataclass field names as keys."""
        return json_ready(asdict(self))


def percentile_interval(
    r_boot: np.ndarray, level: float, n_boot: int, min_valid_fraction: float
) -> tuple[float | None, float | None, str | None]:
    """Percentile interval over the finite resampled r's, or a reason if too many were dropped."""
    valid = r_boot[np.isfinite(r_boot)]
    if len(valid) < min_valid_fraction * n_boot or len(valid) == 0:
        reason = (
            f"only {len(valid)} of {n_boot} resamples had non-zero variance in feature and "
            f"target (minimum fraction {min_valid_fraction})"
        )
        return None, None, reason
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(valid, [tail, 1.0 - tail])
    return float(low), float(high), None


def cluster_bootstrap_ci_from_counts(
    x: Any,
    y: Any,
    clusters: Any,
    counts: np.ndarray,
    level: float = 0.95,
    min_valid_fraction: float = 0.9,
    zero_variance_rtol: float = DEFAULT_ZERO_VARIANCE_RTOL,
) -> ClusterBootstrapCI:
    """CI from a given resample-count matrix (columns: sorted element ids).

    Skips the element-count and constant-input checks of :func:`cluster_bootstrap_pearson_ci`.
    """
    x, y = as_finite_array(x, "x"), as_finite_array(y, "y")
    sums = element_sums(x, y, clusters)
    if counts.ndim != 2 or counts.shape[1] != sums.n_elements:
        raise ValueError(f"counts must be (n_boot, {sums.n_elements}); got {counts.shape}")
    r_boot = pearson_for_counts(sums, counts, zero_variance_rtol)
    n_boot = len(counts)
    low, high, reason = percentile_interval(r_boot, level, n_boot, min_valid_fraction)
    n_used = int(np.isfinite(r_boot).sum())
    full_sample = pearson_for_counts(sums, np.ones((1, sums.n_elements)), zero_variance_rtol)
    return ClusterBootstrapCI(
        r=finite_or_none(full_sample[0]),
        ci_low=low,
        ci_high=high,
        level=level,
        n_rows=len(x),
        n_elements=sums.n_elements,
        n_boot=n_boot,
        n_boot_used=n_used,
        n_boot_dropped=n_boot - n_used,
        method=BOOTSTRAP_METHOD,
        reason=reason,
    )


def cluster_bootstrap_pearson_ci(
    x: Any,
    y: Any,
    clusters: Any,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    key: str = "",
    min_elements: int = 2,
    min_valid_fraction: float = 0.9,
    zero_variance_rtol: float = DEFAULT_ZERO_VARIANCE_RTOL,
) -> ClusterBootstrapCI:
    """Percentile CI for pooled Pearson r, resampling elements; RNG from (seed, key).

    Not estimable (CI None with reason) with fewer than ``min_elements`` elements, a constant
    feature or target, or when fewer than ``min_valid_fraction`` of the resamples have non-zero
    variance in both (dropping them would condition the bootstrap distribution too strongly).
    """
    x, y = as_finite_array(x, "x"), as_finite_array(y, "y")
    ids, codes = element_codes(clusters)  # integer codes: sorting strings once is enough
    check_same_length(x=x, y=y, clusters=codes)
    n_elements = len(ids)
    reasons = [element_count_reason(n_elements, min_elements)]
    reasons += [REASON_CONSTANT_FEATURE if is_constant(x) else None]
    reasons += [REASON_CONSTANT_TARGET if is_constant(y) else None]
    reason = join_reasons([r for r in reasons if r])
    if reason:
        r = pearson_test(x, y).estimate
        return ClusterBootstrapCI(
            r, None, None, level, len(x), n_elements, n_boot, 0, 0, BOOTSTRAP_METHOD, reason
        )
    counts = resample_counts(n_elements, n_boot, derive_rng(seed, key))
    return cluster_bootstrap_ci_from_counts(
        x, y, codes, counts, level, min_valid_fraction, zero_variance_rtol
    )


# --------------------------------------------------------------------------------------------
# Element-level association
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ElementLevelAssociation:
    """Pearson r of element means (n = elements) and a p-value that treats elements as units."""

    method: str
    method_description: str
    n_rows: int
    n_elements: int
    r: float | None
    r_reason: str | None
    p: float | None
    p_reason: str | None
    converged: bool | None
    mixedlm_slope: float | None
    fit_warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with exactly the dataclass field names as keys."""
        return json_ready(asdict(self))


def element_means(
    x: np.ndarray, y: np.ndarray, clusters: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted element ids with the unweighted mean of x and of y over each element's rows."""
    ids, codes = element_codes(clusters)
    n = np.bincount(codes, minlength=len(ids))
    mean_x = np.bincount(codes, weights=x, minlength=len(ids)) / n
    mean_y = np.bincount(codes, weights=y, minlength=len(ids)) / n
    return ids, mean_x, mean_y


def unit_scaled(values: np.ndarray) -> np.ndarray:
    """Centred and scaled to unit norm, so a dot product of two such vectors is Pearson r."""
    centred = values - values.mean()
    return centred / np.linalg.norm(centred)


def permutation_pvalue(
    mean_x: np.ndarray, mean_y: np.ndarray, n_permutations: int, rng: np.random.Generator
) -> float:
    """Two-sided p = (1 + #{|r_perm| >= |r_obs|}) / (1 + n_permutations), shuffling mean_x."""
    zx, zy = unit_scaled(mean_x), unit_scaled(mean_y)
    threshold = abs(float(zx @ zy)) - PERMUTATION_TIE_TOLERANCE
    block = max(1, PERMUTATION_BLOCK_ENTRIES // len(zx))
    n_extreme = 0
    for start in range(0, n_permutations, block):
        size = min(block, n_permutations - start)
        shuffled = rng.permuted(np.broadcast_to(zx, (size, len(zx))), axis=1)
        n_extreme += int(np.count_nonzero(np.abs(shuffled @ zy) >= threshold))
    return (1 + n_extreme) / (1 + n_permutations)


@dataclass(frozen=True)
class MixedLMSlope:
    """Slope test of a random-intercept model; p/slope None with a reason when untrustworthy."""

    slope: float | None
    p: float | None
    converged: bool | None
    reason: str | None
    fit_warnings: tuple[str, ...]


def mixedlm_slope_test(x: np.ndarray, y: np.ndarray, clusters: Any) -> MixedLMSlope:
    """statsmodels MixedLM y ~ 1 + x, random intercept per element (REML); Wald p of the slope."""
    _, codes = element_codes(clusters)
    exog = np.column_stack([np.ones_like(x), x])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            from statsmodels.regression.mixed_linear_model import MixedLM  # slow import, rarely used

            result = MixedLM(y, exog, groups=codes).fit(reml=True)
        except Exception as error:  # noqa: BLE001 - any fit failure must become a reason
            messages = tuple(dict.fromkeys(str(w.message) for w in caught))
            reason = f"MixedLM fit raised {type(error).__name__}: {error}"
            return MixedLMSlope(None, None, None, reason, messages)
    messages = tuple(dict.fromkeys(str(w.message) for w in caught))
    converged = bool(result.converged)
    if not converged:
        return MixedLMSlope(None, None, False, "MixedLM did not converge", messages)
    slope, p = finite_or_none(result.params[1]), finite_or_none(result.pvalues[1])
    if slope is None or p is None:
        reason = "MixedLM slope or its p-value is not finite"
        return MixedLMSlope(None, None, True, reason, messages)
    return MixedLMSlope(slope, p, True, None, messages)


def describe_element_test(method: str, n_permutations: int) -> str:
    """Human-readable description of how the element-level p-value was obtained."""
    if method == "permutation":
        return (
            f"permutation of element-mean features between elements, {n_permutations} "
            "permutations, two-sided, p = (1 + #{|r_perm| >= |r_obs|}) / (1 + permutations)"
        )
    return (
        "statsmodels MixedLM target ~ feature with a random intercept per element (REML) on "
        "row-level data; two-sided Wald p of the feature slope"
    )


def element_mean_reason(mean_x: np.ndarray, mean_y: np.ndarray, min_elements: int) -> str | None:
    """Why Pearson r of element means is not estimable, or None."""
    reasons = [element_count_reason(len(mean_x), min_elements)]
    reasons += ["constant element-mean feature" if is_constant(mean_x) else None]
    reasons += ["constant element-mean target" if is_constant(mean_y) else None]
    return join_reasons([r for r in reasons if r])


def element_level_association(
    x: Any,
    y: Any,
    clusters: Any,
    method: Literal["permutation", "mixedlm"] = "permutation",
    n_permutations: int = 10000,
    seed: int = 0,
    key: str = "",
    min_elements: int = 3,
) -> ElementLevelAssociation:
    """Pearson r of element means plus an element-respecting p (permutation or MixedLM)."""
    if method not in ("permutation", "mixedlm"):
        raise ValueError(f"unknown element-level method {method!r}")
    x, y = as_finite_array(x, "x"), as_finite_array(y, "y")
    clusters = np.asarray(clusters)
    check_same_length(x=x, y=y, clusters=clusters)
    _, mean_x, mean_y = element_means(x, y, clusters)
    description = describe_element_test(method, n_permutations)
    common = dict(method=method, method_description=description, n_rows=len(x))
    common |= dict(n_elements=len(mean_x))
    reason = element_mean_reason(mean_x, mean_y, min_elements)
    if reason:
        return ElementLevelAssociation(
            **common, r=None, r_reason=reason, p=None, p_reason=reason,
            converged=None, mixedlm_slope=None, fit_warnings=(),
        )  # fmt: skip
    r = pearson_test(mean_x, mean_y, min_rows=min_elements).estimate
    if method == "permutation":
        p = permutation_pvalue(mean_x, mean_y, n_permutations, derive_rng(seed, key))
        return ElementLevelAssociation(
            **common, r=r, r_reason=None, p=p, p_reason=None,
            converged=None, mixedlm_slope=None, fit_warnings=(),
        )  # fmt: skip
    fit = mixedlm_slope_test(x, y, clusters)
    return ElementLevelAssociation(
        **common, r=r, r_reason=None, p=fit.p, p_reason=fit.reason,
        converged=fit.converged, mixedlm_slope=fit.slope, fit_warnings=fit.fit_warnings,
    )  # fmt: skip
