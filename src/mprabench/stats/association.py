"""Pooled (row-level) association of a feature with the target, multiple testing, sample sizes.

Every statistic here is either a finite number or ``None`` accompanied by a reason string;
NaN never leaves this module. Pooled p-values treat rows as independent, so callers must
report them beside :func:`effective_sample_size` and an element-aware analysis
(:mod:`mprabench.stats.clustered`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from mprabench.schema import ELEMENT_ID, INPUT_SHA256
from mprabench.stats.json_values import json_ready

# Reason strings shared by the stats modules (callers may match on them).
REASON_CONSTANT_FEATURE = "constant feature"
REASON_CONSTANT_TARGET = "constant target"
REASON_ONE_CLASS = "only one class after binarising the target at its median"
REASON_NON_FINITE = "scipy returned a non-finite value"

# Pairs a correlation test needs: its t statistic has n − 2 degrees of freedom.
MIN_CORRELATION_ROWS = 3

# Relative spread below which values count as constant (guards against round-off "variation").
DEFAULT_CONSTANT_RTOL = 1e-12


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def is_constant(values: np.ndarray, rtol: float = DEFAULT_CONSTANT_RTOL) -> bool:
    """True if the spread of ``values`` is negligible relative to their magnitude (or empty)."""
    if values.size == 0:
        return True
    return bool(np.ptp(values) <= rtol * np.max(np.abs(values)))


def as_finite_array(values: Any, name: str) -> np.ndarray:
    """1-D float array; raises on NaN/inf because the input convention promises finite values."""
    array = np.asarray(values, dtype=float).ravel()
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains non-finite values")
    return array


def check_same_length(**arrays: np.ndarray) -> None:
    """Raise if the named arrays differ in length."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"arrays differ in length: {lengths}")


def finite_or_none(value: Any) -> float | None:
    """Python float if finite, else None."""
    value = float(value)
    return value if math.isfinite(value) else None


def join_reasons(reasons: Sequence[str]) -> str | None:
    """All applicable reasons in one string, or None when there are none."""
    return "; ".join(reasons) if reasons else None


# --------------------------------------------------------------------------------------------
# Correlations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorrelationTest:
    """One correlation coefficient with its p-value, or None for both with a reason."""

    estimate: float | None
    p: float | None
    reason: str | None


def correlation_preconditions(
    x: np.ndarray,
    y: np.ndarray,
    min_rows: int = MIN_CORRELATION_ROWS,
    x_name: str = "feature",
    y_name: str = "target",
    constant_rtol: float = DEFAULT_CONSTANT_RTOL,
) -> list[str]:
    """Reasons why a correlation of x with y cannot be estimated (empty list: it can)."""
    reasons = []
    if len(x) < min_rows:
        reasons.append(f"fewer than {min_rows} rows ({len(x)})")
    if is_constant(x, constant_rtol):
        reasons.append(f"constant {x_name}")
    if is_constant(y, constant_rtol):
        reasons.append(f"constant {y_name}")
    return reasons


def _correlation_test(
    scipy_function: Any, x: np.ndarray, y: np.ndarray, min_rows: int, x_name: str, y_name: str
) -> CorrelationTest:
    reasons = correlation_preconditions(x, y, min_rows, x_name, y_name)
    if reasons:
        return CorrelationTest(None, None, join_reasons(reasons))
    result = scipy_function(x, y)
    estimate, p = finite_or_none(result.statistic), finite_or_none(result.pvalue)
    if estimate is None or p is None:
        return CorrelationTest(None, None, REASON_NON_FINITE)
    return CorrelationTest(estimate, p, None)


def pearson_test(
    x: np.ndarray, y: np.ndarray, min_rows: int = MIN_CORRELATION_ROWS, x_name: str = "feature", y_name: str = "target"
) -> CorrelationTest:
    """scipy.stats.pearsonr, guarded: too few rows / constant input give a reason instead."""
    return _correlation_test(stats.pearsonr, x, y, min_rows, x_name, y_name)


def spearman_test(
    x: np.ndarray, y: np.ndarray, min_rows: int = MIN_CORRELATION_ROWS, x_name: str = "feature", y_name: str = "target"
) -> CorrelationTest:
    """scipy.stats.spearmanr, guarded like :func:`pearson_test`."""
    return _correlation_test(stats.spearmanr, x, y, min_rows, x_name, y_name)


def above_median(y: np.ndarray) -> np.ndarray:
    """The binarised target used for AUROC everywhere (metrics and ROC figures): y above its median."""
    return np.asarray(y) > np.median(y)


def auroc_above_median(x: np.ndarray, y: np.ndarray) -> tuple[float | None, str | None]:
    """AUROC of x for the class ``y > median(y)``; (None, reason) when not estimable."""
    reasons = []
    if is_constant(x):
        reasons.append(REASON_CONSTANT_FEATURE)
    if is_constant(y):
        reasons.append(REASON_CONSTANT_TARGET)
    labels = above_median(y)
    if not reasons and (labels.all() or not labels.any()):
        reasons.append(REASON_ONE_CLASS)
    if reasons:
        return None, join_reasons(reasons)
    from sklearn.metrics import roc_auc_score  # here: the report and plots import this module, not AUROC

    return finite_or_none(roc_auc_score(labels, x)), None


# --------------------------------------------------------------------------------------------
# Pooled association
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PooledAssociation:
    """Row-level association of one feature with the target (rows treated as independent)."""

    n: int
    pearson_r: float | None
    pearson_p: float | None
    pearson_reason: str | None
    spearman_rho: float | None
    spearman_p: float | None
    spearman_reason: str | None
    auroc: float | None
    auroc_reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with exactly the dataclass field names as keys."""
        return json_ready(asdict(self))


def pooled_association(x: Any, y: Any, min_rows: int = MIN_CORRELATION_ROWS) -> PooledAssociation:
    """Pearson r/p, Spearman rho/p and AUROC (y > median positive) of feature x vs target y."""
    x, y = as_finite_array(x, "x"), as_finite_array(y, "y")
    check_same_length(x=x, y=y)
    pearson = pearson_test(x, y, min_rows)
    spearman = spearman_test(x, y, min_rows)
    auroc, auroc_reason = auroc_above_median(x, y)
    return PooledAssociation(
        n=len(x),
        pearson_r=pearson.estimate,
        pearson_p=pearson.p,
        pearson_reason=pearson.reason,
        spearman_rho=spearman.estimate,
        spearman_p=spearman.p,
        spearman_reason=spearman.reason,
        auroc=auroc,
        auroc_reason=auroc_reason,
    )


# --------------------------------------------------------------------------------------------
# Effective sample size
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectiveSampleSize:
    """How many rows, distinct model inputs and elements (clusters) a table really holds."""

    n_rows: int
    n_unique_inputs: int
    n_elements: int

    def to_dict(self) -> dict[str, int]:
        """JSON-ready dict: n_rows, n_unique_inputs, n_elements."""
        return json_ready(asdict(self))


def effective_sample_size(table: pd.DataFrame) -> EffectiveSampleSize:
    """Rows, distinct ``input_sha256`` and distinct ``element_id`` of an evaluation table."""
    return EffectiveSampleSize(
        n_rows=len(table),
        n_unique_inputs=int(table[INPUT_SHA256].nunique()),
        n_elements=int(table[ELEMENT_ID].nunique()),
    )


# --------------------------------------------------------------------------------------------
# Multiple testing
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MultipleTestingResult:
    """Adjusted p-values aligned with the input; None where the input p was None (excluded)."""

    method: str
    alpha: float
    n_tests: int
    p_adjusted: tuple[float | None, ...]
    reject: tuple[bool | None, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: method, alpha, n_tests, p_adjusted, reject."""
        return json_ready(asdict(self))


def adjust_pvalues(
    pvalues: Sequence[float | None],
    method: Literal["bonferroni", "fdr_bh"],
    alpha: float,
) -> MultipleTestingResult:
    """statsmodels multipletests over the non-None p-values only; None entries stay None."""
    in_family = [i for i, p in enumerate(pvalues) if p is not None]
    adjusted: list[float | None] = [None] * len(pvalues)
    reject: list[bool | None] = [None] * len(pvalues)
    if in_family:
        family = np.array([pvalues[i] for i in in_family], dtype=float)
        rejected, corrected, _, _ = multipletests(family, alpha=alpha, method=method)
        for slot, i in enumerate(in_family):
            adjusted[i] = float(corrected[slot])
            reject[i] = bool(rejected[slot])
    return MultipleTestingResult(method, alpha, len(in_family), tuple(adjusted), tuple(reject))


def bonferroni(pvalues: Sequence[float | None], alpha: float) -> MultipleTestingResult:
    """Bonferroni over the estimable (non-None) p-values."""
    return adjust_pvalues(pvalues, "bonferroni", alpha)


def benjamini_hochberg(pvalues: Sequence[float | None], alpha: float) -> MultipleTestingResult:
    """Benjamini-Hochberg q-values over the estimable (non-None) p-values."""
    return adjust_pvalues(pvalues, "fdr_bh", alpha)
