"""Within-element effects: do feature changes between an element's oligos track activity changes?

Each non-wild-type row is compared with its element's wild type (mean over the element's
wild-type rows): Δtarget = target − wt_target, Δfeature = feature − wt_feature. Per element we
correlate Δtarget with Δfeature; across elements we combine by a fixed-effect Fisher-z average.
This is the only analysis that isolates sequence-driven variation from between-element
differences, and it is impossible when every oligo of an element has the same model input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mprabench.stats.association import (
    as_finite_array,
    correlation_preconditions,
    join_reasons,
    json_ready,
    pearson_test,
    spearman_test,
)

REASON_NO_WITHIN_ELEMENT_VARIATION = (
    "model inputs do not vary within any element: every oligo of an element has the same "
    "model input, so within-element effects cannot be estimated"
)
REASON_EMPTY_TABLE = "empty evaluation table"
REASON_NO_WILD_TYPE = "no wild-type row"
REASON_NO_SIGN_INFORMATIVE = "no row with both deltas non-zero"
REASON_NO_SUMMARY_ELEMENTS = "no element with an estimable correlation and more than 3 rows"

SUMMARY_METHOD = (
    "fixed-effect Fisher-z average of per-element Pearson r weighted by (n - 3); "
    "normal-theory CI and two-sided p"
)

# Deltas within this relative distance of zero (vs the wild-type value) count as "no change".
DEFAULT_ZERO_RTOL = 1e-9
# |r| is clipped here before arctanh so a perfect element correlation gives a finite z.
DEFAULT_MAX_ABS_R = 1.0 - 1e-12


@dataclass(frozen=True)
class ElementEffect:
    """Δtarget vs Δfeature inside one element (n counts its non-wild-type rows)."""

    element_id: str
    n: int
    n_wild_type: int
    n_distinct_inputs: int
    estimable: bool
    reason: str | None
    pearson_r: float | None
    pearson_p: float | None
    spearman_rho: float | None
    spearman_p: float | None
    sign_agreement: float | None
    sign_agreement_reason: str | None
    n_sign_informative: int
    n_sign_agree: int


ELEMENT_FLOAT_FIELDS = [
    "pearson_r", "pearson_p", "spearman_rho", "spearman_p", "sign_agreement",
]  # fmt: skip


@dataclass(frozen=True)
class WithinElementSummary:
    """Fisher-z combination of per-element Pearson r across elements."""

    method: str
    level: float
    n_elements_used: int
    pooled_r: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None
    sign_agreement: float | None
    n_sign_informative: int
    reason: str | None
    excluded_elements: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WithinElementResult:
    """Per-element effects and their summary, or nothing but a reason when not estimable."""

    feature: str
    target: str
    estimable: bool
    reason: str | None
    elements: tuple[ElementEffect, ...]
    summary: WithinElementSummary | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready nested dict; ``elements`` is a list of per-element dicts."""
        return json_ready(asdict(self))

    def elements_frame(self) -> pd.DataFrame:
        """One row per element (ElementEffect fields); missing numbers are <NA>, never NaN."""
        columns = list(ElementEffect.__dataclass_fields__)
        frame = pd.DataFrame([asdict(e) for e in self.elements], columns=columns)
        return frame.astype({column: "Float64" for column in ELEMENT_FLOAT_FIELDS})


def nonzero_delta(values: np.ndarray, reference: float, zero_rtol: float) -> np.ndarray:
    """Mask of values that differ from the reference by more than round-off."""
    return ~np.isclose(values, reference, rtol=zero_rtol, atol=0.0)


def element_reasons(
    n_wild_type: int, n_distinct_inputs: int, min_distinct_inputs: int
) -> list[str]:
    """Structural reasons (before any deltas) why an element's effect cannot be estimated."""
    reasons = []
    if n_wild_type == 0:
        reasons.append(REASON_NO_WILD_TYPE)
    if n_distinct_inputs < min_distinct_inputs:
        reasons.append(
            f"fewer than {min_distinct_inputs} distinct model inputs among the element's rows "
            f"({n_distinct_inputs})"
        )
    return reasons


def element_effect(
    element_id: str,
    group: pd.DataFrame,
    feature: str,
    target: str,
    min_distinct_inputs: int = 3,
    min_rows: int = 3,
    zero_rtol: float = DEFAULT_ZERO_RTOL,
) -> ElementEffect:
    """Correlation and sign agreement of Δtarget vs Δfeature for one element's rows."""
    wild = group["is_wild_type"].to_numpy(dtype=bool)
    n_distinct = int(group["input_sha256"].nunique())
    base = dict(element_id=str(element_id), n=int((~wild).sum()), n_wild_type=int(wild.sum()))
    base |= dict(n_distinct_inputs=n_distinct)
    reasons = element_reasons(int(wild.sum()), n_distinct, min_distinct_inputs)
    if not reasons:
        f, t = group[feature].to_numpy(float), group[target].to_numpy(float)
        wt_f, wt_t = f[wild].mean(), t[wild].mean()
        d_f, d_t = f[~wild] - wt_f, t[~wild] - wt_t
        reasons = correlation_preconditions(d_f, d_t, min_rows, "feature delta", "target delta")
    if reasons:
        return ElementEffect(
            **base, estimable=False, reason=join_reasons(reasons), pearson_r=None,
            pearson_p=None, spearman_rho=None, spearman_p=None, sign_agreement=None,
            sign_agreement_reason=join_reasons(reasons), n_sign_informative=0, n_sign_agree=0,
        )  # fmt: skip
    pearson = pearson_test(d_f, d_t, min_rows, "feature delta", "target delta")
    spearman = spearman_test(d_f, d_t, min_rows, "feature delta", "target delta")
    informative = nonzero_delta(f[~wild], wt_f, zero_rtol)
    informative &= nonzero_delta(t[~wild], wt_t, zero_rtol)
    n_agree = int((np.sign(d_f[informative]) == np.sign(d_t[informative])).sum())
    n_informative = int(informative.sum())
    agreement = n_agree / n_informative if n_informative else None
    return ElementEffect(
        **base, estimable=pearson.reason is None, reason=pearson.reason,
        pearson_r=pearson.estimate, pearson_p=pearson.p,
        spearman_rho=spearman.estimate, spearman_p=spearman.p, sign_agreement=agreement,
        sign_agreement_reason=None if n_informative else REASON_NO_SIGN_INFORMATIVE,
        n_sign_informative=n_informative, n_sign_agree=n_agree,
    )  # fmt: skip


def summary_exclusions(effects: tuple[ElementEffect, ...]) -> dict[str, str]:
    """Elements left out of the Fisher-z summary, each with its reason."""
    excluded = {}
    for effect in effects:
        if not effect.estimable:
            excluded[effect.element_id] = str(effect.reason)
        elif effect.n <= 3:
            excluded[effect.element_id] = (
                f"n = {effect.n} rows: Fisher-z weight n - 3 is not positive"
            )
    return excluded


def overall_sign_agreement(effects: tuple[ElementEffect, ...]) -> tuple[float | None, int]:
    """Fraction of sign-informative rows with agreeing signs, over all estimable elements."""
    used = [e for e in effects if e.estimable]
    n_informative = sum(e.n_sign_informative for e in used)
    n_agree = sum(e.n_sign_agree for e in used)
    return (n_agree / n_informative if n_informative else None), n_informative


def fisher_z_summary(
    effects: tuple[ElementEffect, ...], level: float = 0.95, max_abs_r: float = DEFAULT_MAX_ABS_R
) -> WithinElementSummary:
    """(n − 3)-weighted mean Fisher z of the estimable elements with n > 3, back-transformed."""
    excluded = summary_exclusions(effects)
    used = [e for e in effects if e.element_id not in excluded]
    agreement, n_informative = overall_sign_agreement(effects)
    common = dict(method=SUMMARY_METHOD, level=level, n_elements_used=len(used))
    common |= dict(sign_agreement=agreement, n_sign_informative=n_informative)
    if not used:
        return WithinElementSummary(
            **common, pooled_r=None, ci_low=None, ci_high=None, p=None,
            reason=REASON_NO_SUMMARY_ELEMENTS, excluded_elements=excluded,
        )  # fmt: skip
    r = np.clip([e.pearson_r for e in used], -max_abs_r, max_abs_r)
    weights = np.array([e.n - 3 for e in used], dtype=float)
    z_mean = float(np.sum(weights * np.arctanh(r)) / weights.sum())
    se = 1.0 / np.sqrt(weights.sum())
    half_width = stats.norm.ppf(0.5 + level / 2.0) * se
    return WithinElementSummary(
        **common, pooled_r=float(np.tanh(z_mean)), ci_low=float(np.tanh(z_mean - half_width)),
        ci_high=float(np.tanh(z_mean + half_width)),
        p=float(2.0 * stats.norm.sf(abs(z_mean) / se)), reason=None, excluded_elements=excluded,
    )  # fmt: skip


def inputs_vary_within_some_element(table: pd.DataFrame) -> bool:
    """True if at least one element has rows with more than one distinct model input."""
    return bool((table.groupby("element_id")["input_sha256"].nunique() > 1).any())


def within_element_effects(
    table: pd.DataFrame,
    feature: str,
    target: str,
    min_distinct_inputs: int = 3,
    min_rows: int = 3,
    level: float = 0.95,
    zero_rtol: float = DEFAULT_ZERO_RTOL,
) -> WithinElementResult:
    """Per-element Δtarget vs Δfeature effects and their Fisher-z summary for one feature.

    ``min_distinct_inputs``: an element needs this many distinct model inputs (default 3);
    ``min_rows``: and this many non-wild-type rows for its correlation (default 3). Elements
    with n <= 3 rows are reported but left out of the summary (Fisher-z weight n - 3).
    """
    if table.empty or not inputs_vary_within_some_element(table):
        reason = REASON_EMPTY_TABLE if table.empty else REASON_NO_WITHIN_ELEMENT_VARIATION
        return WithinElementResult(feature, target, False, reason, (), None)
    as_finite_array(table[feature], feature)
    as_finite_array(table[target], target)
    effects = tuple(
        element_effect(element_id, group, feature, target, min_distinct_inputs, min_rows, zero_rtol)
        for element_id, group in table.groupby("element_id", sort=True)
    )
    summary = fisher_z_summary(effects, level)
    return WithinElementResult(feature, target, True, None, effects, summary)
