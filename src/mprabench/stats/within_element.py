"""Within-element effects: do feature changes between an element's own inputs track activity?

Per element: Pearson r of feature vs mean target over the element's DISTINCT model inputs
(rows sharing an input are one observation: their mean target). Across elements the per-element
Fisher z values are pooled by a one-sample t-test on k − 1 df (k = elements pooled), unweighted:
elements differ in their true effect, and the t-test's spread of z already carries that
heterogeneity. The random-effects pooling (Paule–Mandel τ², inverse-variance weights
1/(1/(m − 3) + τ²), Hartung–Knapp variance) is kept as the candidate it replaced: the calibration
family showed it liberal when the heterogeneity is small or follows element size. This is the only analysis that isolates sequence-driven
variation from between-element differences; it is impossible when every oligo of an element has
the same model input (V1, V2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mprabench.schema import ELEMENT_ID, INPUT_SHA256
from mprabench.stats.association import (
    MIN_CORRELATION_ROWS,
    as_finite_array,
    correlation_preconditions,
    finite_or_none,
    join_reasons,
    pearson_test,
)
from mprabench.stats.json_values import json_ready

REASON_NO_WITHIN_ELEMENT_VARIATION = (
    "model inputs do not vary within any element: every oligo of an element has the same "
    "model input, so within-element effects cannot be estimated"
)
REASON_EMPTY_TABLE = "empty evaluation table"
MIN_POOLED_ELEMENTS = 3
# An element's within-element r needs 4 distinct inputs: Fisher-z variance 1/(m − 3).
MIN_WITHIN_INPUTS_FLOOR = 4


def min_within_inputs(min_unique_inputs: int) -> int:
    """Distinct inputs an element needs for its within-element r: evaluate.min_unique_inputs, at least 4.

    The one rule for evaluate, its strata and the calibration simulation.
    """
    return max(int(min_unique_inputs), MIN_WITHIN_INPUTS_FLOOR)

RANDOM_EFFECTS_METHOD = (
    "per element: Pearson r over its distinct inputs (mean target per input); pooled: Fisher z, "
    "random effects (Paule-Mandel tau^2, weights 1/(1/(m - 3) + tau^2), m = distinct inputs), "
    "Hartung-Knapp variance, t on k - 1 df"
)
# The same method in a figure's few words.
SUMMARY_METHOD_SHORT = (
    "per-element Pearson r over distinct inputs, one-sample t-test of the per-element Fisher z "
    "(unweighted, t on k − 1 df)"
)

T_TEST_METHOD = (
    "per element: Pearson r over its distinct inputs (mean target per input); pooled: one-sample t-test of the "
    "per-element Fisher z across elements (unweighted, k - 1 df)"
)
SUMMARY_METHOD = T_TEST_METHOD  # the headline's (WITHIN_POOLING)
POOLING_METHODS = ("random_effects", "t_test")
# The headline's pooling, chosen by the calibration family: the random-effects pooling rejected
# 0.068-0.080 of nulls with slope SD 0.02-0.05 and 0.157 with size-linked slopes on the V3 structure (its weights favour
# the largest elements); the unweighted t-test of z holds in every null (README, "Reading the numbers").
WITHIN_POOLING = "t_test"

# |r| is clipped here before arctanh so a perfect element correlation gives a finite z.
MAX_ABS_R = 1.0 - 1e-12
PAULE_MANDEL_ITERATIONS = 100
PAULE_MANDEL_ATOL = 1e-10


@dataclass(frozen=True)
class ElementEffect:
    """Feature vs target over one element's distinct inputs."""

    element_id: str
    n_rows: int
    n_distinct_inputs: int
    estimable: bool
    reason: str | None
    pearson_r: float | None
    pearson_p: float | None
    fisher_z: float | None
    weight: float | None


ELEMENT_FLOAT_FIELDS = ["pearson_r", "pearson_p", "fisher_z", "weight"]


@dataclass(frozen=True)
class WithinElementSummary:
    """Random-effects pooling of per-element Fisher z across elements."""

    method: str
    level: float
    n_elements_used: int
    pooled_r: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None
    tau2: float | None
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


# --------------------------------------------------------------------------------------------
# Random-effects pooling (vectorised: the calibration simulation pools thousands at once)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RandomEffectsPool:
    """Arrays over the leading axes of the input: pooled mean z, its HK SE, τ², p, df."""

    mean: np.ndarray
    se: np.ndarray
    tau2: np.ndarray
    p: np.ndarray
    df: int

    def interval(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """CI of the pooled mean z (t on df degrees of freedom)."""
        half = stats.t.ppf(0.5 + level / 2.0, self.df) * self.se
        return self.mean - half, self.mean + half


def paule_mandel_tau2(z: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Paule–Mandel τ² per row of z (… x k), within-variances v (k or … x k); 0 when Q < k − 1."""
    k = z.shape[-1]
    tau2 = np.zeros(z.shape[:-1])
    for _ in range(PAULE_MANDEL_ITERATIONS):
        w = 1.0 / (v + tau2[..., None])
        mean = (w * z).sum(-1) / w.sum(-1)
        resid_sq = (z - mean[..., None]) ** 2
        excess = (w * resid_sq).sum(-1) - (k - 1)
        # Q(τ²) is decreasing and convex, so Newton steps from τ² = 0 approach the root from below.
        step = np.where(excess > PAULE_MANDEL_ATOL, excess / (w * w * resid_sq).sum(-1), 0.0)
        tau2 = tau2 + step
        if not np.any(step):
            break
    return tau2


def random_effects_hartung_knapp(z: np.ndarray, v: np.ndarray) -> RandomEffectsPool:
    """Pool Fisher z (… x k) with PM τ² and the Hartung–Knapp variance; t on k − 1 df."""
    z = np.asarray(z, dtype=float)
    k = z.shape[-1]
    tau2 = paule_mandel_tau2(z, v)
    w = 1.0 / (v + tau2[..., None])
    mean = (w * z).sum(-1) / w.sum(-1)
    hk_var = (w * (z - mean[..., None]) ** 2).sum(-1) / ((k - 1) * w.sum(-1))
    se = np.sqrt(hk_var)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2.0 * stats.t.sf(np.abs(mean) / se, k - 1)
    return RandomEffectsPool(mean=mean, se=se, tau2=tau2, p=np.where(se > 0, p, np.nan), df=k - 1)


def t_test_of_z(z: np.ndarray) -> RandomEffectsPool:
    """Unweighted one-sample t-test of Fisher z (… x k) across elements; tau2 is not estimated (NaN)."""
    z = np.asarray(z, dtype=float)
    k = z.shape[-1]
    mean = z.mean(-1)
    se = z.std(-1, ddof=1) / np.sqrt(k)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2.0 * stats.t.sf(np.abs(mean) / se, k - 1)
    return RandomEffectsPool(mean=mean, se=se, tau2=np.full(mean.shape, np.nan), p=np.where(se > 0, p, np.nan),
                             df=k - 1)


def pool_fisher_z(z: np.ndarray, n_distinct_inputs: np.ndarray, pooling: str) -> RandomEffectsPool:
    """Pool per-element z by random effects (weighted by distinct inputs) or by an unweighted t-test."""
    if pooling == "random_effects":
        return random_effects_hartung_knapp(z, fisher_z_variance(n_distinct_inputs))
    if pooling == "t_test":
        return t_test_of_z(z)
    raise ValueError(f"unknown pooling {pooling!r}; expected one of {POOLING_METHODS}")


def fisher_z_variance(n_distinct_inputs: np.ndarray) -> np.ndarray:
    """Sampling variance of atanh(r) over m distinct inputs: 1 / (m − 3)."""
    return 1.0 / (np.asarray(n_distinct_inputs, dtype=float) - 3.0)


# --------------------------------------------------------------------------------------------
# Per element
# --------------------------------------------------------------------------------------------


def input_level_values(group: pd.DataFrame, feature: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Feature and mean target per distinct input of one element's rows."""
    by_input = group.groupby(INPUT_SHA256, sort=True)
    return by_input[feature].first().to_numpy(float), by_input[target].mean().to_numpy(float)


@dataclass(frozen=True)
class InputLevels:
    """The feature-independent part of the within-element analysis of one set of rows, computed once.

    Per element (sorted) its distinct inputs (sorted): the position of each input's first row and
    the input's mean target, exactly as :func:`input_level_values` gives them per element. Every
    feature then costs a gather and its correlations, not a pandas groupby per element; with
    hundreds of features and strata the groupbys (and copying every feature column into each
    element's group) made evaluate grow faster than linearly in the feature count (issue 22).
    """

    target: str
    n_rows: int
    varies: bool                  # inputs_vary_within_some_element
    sizes: pd.DataFrame           # per element: rows ("size") and distinct inputs ("nunique")
    first_row: np.ndarray         # per (element, input) group: the position of its first row
    mean_target: np.ndarray       # per (element, input) group: its mean target
    spans: dict[Any, tuple[int, int]]  # element -> its groups' [start, stop) in the two arrays above

    @classmethod
    def of(cls, table: pd.DataFrame, target: str) -> InputLevels:
        if table.empty:
            return cls(target, 0, False, pd.DataFrame(columns=["size", "nunique"]), np.array([], dtype=np.int64),
                       np.array([]), {})
        keys = table[[ELEMENT_ID, INPUT_SHA256]].reset_index(drop=True)
        sizes = keys.groupby(ELEMENT_ID, sort=True)[INPUT_SHA256].agg(["size", "nunique"])
        # the target keeps its dtype, as input_level_values averages it, and is cast to float afterwards
        frame = keys.assign(position=np.arange(len(keys)), target=table[target].to_numpy())
        groups = frame.groupby([ELEMENT_ID, INPUT_SHA256], sort=True, observed=True)
        first_row = groups["position"].first()
        mean_target = groups["target"].mean()
        per_element = first_row.groupby(level=0, sort=True).size()
        stops = np.cumsum(per_element.to_numpy())
        spans = {element: (int(stop - count), int(stop))
                 for element, count, stop in zip(per_element.index, per_element.to_numpy(), stops, strict=True)}
        return cls(target, len(table), bool((sizes["nunique"] > 1).any()), sizes,
                   first_row.to_numpy(np.int64), mean_target.to_numpy(float), spans)

    def values(self, feature_values: np.ndarray, element: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Feature (at each input's first row) and mean target per distinct input of one element
        (``None``: of every element, e.g. when the rows are one element's)."""
        start, stop = (0, len(self.first_row)) if element is None else self.spans.get(element, (0, 0))
        return np.asarray(feature_values[self.first_row[start:stop]], dtype=float), self.mean_target[start:stop]


def element_effect(
    element_id: str, group: pd.DataFrame, feature: str, target: str, min_distinct_inputs: int
) -> ElementEffect:
    """Pearson r over one element's distinct inputs, with its Fisher z and pooling weight."""
    x, y = input_level_values(group, feature, target)
    return element_effect_of_values(element_id, len(group), x, y, min_distinct_inputs)


def element_effect_of_values(
    element_id: str, n_rows: int, x: np.ndarray, y: np.ndarray, min_distinct_inputs: int
) -> ElementEffect:
    """:func:`element_effect` from the element's values per distinct input (feature x, mean target y)."""
    m = len(x)
    base = dict(element_id=str(element_id), n_rows=n_rows, n_distinct_inputs=m)
    needed = min_within_inputs(min_distinct_inputs)
    reasons = [] if m >= needed else [f"fewer than {needed} distinct model inputs in the element ({m})"]
    reasons = reasons or correlation_preconditions(x, y, MIN_CORRELATION_ROWS, "feature", "mean target per input")
    pearson = pearson_test(x, y) if not reasons else None
    if pearson is not None and pearson.reason:
        reasons = [pearson.reason]
    if reasons:
        return ElementEffect(**base, estimable=False, reason=join_reasons(reasons), pearson_r=None,
                             pearson_p=None, fisher_z=None, weight=None)
    z = float(np.arctanh(np.clip(pearson.estimate, -MAX_ABS_R, MAX_ABS_R)))
    return ElementEffect(**base, estimable=True, reason=None, pearson_r=pearson.estimate,
                         pearson_p=pearson.p, fisher_z=z, weight=None)


def pool_element_effects(
    effects: tuple[ElementEffect, ...], level: float, pooling: str
) -> tuple[WithinElementSummary, tuple[ElementEffect, ...]]:
    """Pooled summary of the estimable elements; effects returned with their relative weights."""
    excluded = {e.element_id: str(e.reason) for e in effects if not e.estimable}
    used = [e for e in effects if e.estimable]
    method = RANDOM_EFFECTS_METHOD if pooling == "random_effects" else T_TEST_METHOD
    common = dict(method=method, level=level, n_elements_used=len(used), excluded_elements=excluded)
    if len(used) < MIN_POOLED_ELEMENTS:
        reason = f"fewer than {MIN_POOLED_ELEMENTS} elements with an estimable correlation ({len(used)})"
        return WithinElementSummary(**common, pooled_r=None, ci_low=None, ci_high=None, p=None, tau2=None,
                                    reason=reason), effects
    z = np.array([e.fisher_z for e in used])
    m = np.array([e.n_distinct_inputs for e in used])
    pool = pool_fisher_z(z, m, pooling)
    low, high = pool.interval(level)
    weights = 1.0 / (fisher_z_variance(m) + pool.tau2) if pooling == "random_effects" else np.ones(len(used))
    weight_of = dict(zip([e.element_id for e in used], weights / weights.sum()))
    weighted = tuple(
        ElementEffect(**{**asdict(e), "weight": float(weight_of[e.element_id])}) if e.estimable else e for e in effects
    )
    summary = WithinElementSummary(
        **common, pooled_r=finite_or_none(np.tanh(pool.mean)), ci_low=finite_or_none(np.tanh(low)),
        ci_high=finite_or_none(np.tanh(high)), p=finite_or_none(pool.p),
        tau2=finite_or_none(pool.tau2) if np.isfinite(pool.tau2) else None,
        reason=None if np.isfinite(pool.p) else "zero spread of the per-element z values",
    )
    return summary, weighted


def inputs_vary_within_some_element(table: pd.DataFrame) -> bool:
    """True if at least one element has rows with more than one distinct model input."""
    return bool((table.groupby(ELEMENT_ID)[INPUT_SHA256].nunique() > 1).any())


def within_element_effects(
    table: pd.DataFrame, feature: str, target: str, *, min_distinct_inputs: int, level: float, pooling: str,
    levels: InputLevels | None = None,
) -> WithinElementResult:
    """Per-element correlations over distinct inputs and their pooled summary.

    ``pooling``: ``t_test`` (unweighted t-test of z; the headline and the TF strata, ``WITHIN_POOLING``:
    the calibration family showed the weighted pooling liberal under small or size-linked heterogeneity)
    or ``random_effects`` (PM + Hartung-Knapp, weighted by distinct inputs; kept as the candidate it replaced).
    ``levels``: :meth:`InputLevels.of` of these rows and this target, when the caller evaluates many
    features on the same rows (computed here otherwise).
    """
    if levels is None:
        levels = InputLevels.of(table, target)
    elif levels.target != target or levels.n_rows != len(table):
        raise ValueError(f"input levels of {levels.n_rows} rows and target {levels.target!r} given for "
                         f"{len(table)} rows and target {target!r}")
    values = np.array([])
    if levels.n_rows and levels.varies:
        values = as_finite_array(table[feature], feature)
        as_finite_array(table[target], target)
    return within_element_effects_of_values(feature, values, levels, min_distinct_inputs=min_distinct_inputs,
                                            level=level, pooling=pooling)


def within_element_effects_of_values(
    feature: str, values: np.ndarray, levels: InputLevels, *, min_distinct_inputs: int, level: float, pooling: str,
) -> WithinElementResult:
    """:func:`within_element_effects` from the feature's finite ``values`` on the rows ``levels`` describes."""
    if not levels.n_rows or not levels.varies:
        reason = REASON_EMPTY_TABLE if not levels.n_rows else REASON_NO_WITHIN_ELEMENT_VARIATION
        return WithinElementResult(feature, levels.target, False, reason, (), None)
    # Elements with too few distinct inputs get their reason from the sizes, not a correlation each: with
    # thousands of two-input elements (both orientations of a sequence) the per-element path dominated.
    needed = min_within_inputs(min_distinct_inputs)
    sizes = levels.sizes
    effects = tuple(
        element_effect_of_values(element_id, int(n_rows), *levels.values(values, element_id),
                                 min_distinct_inputs) if m >= needed else ElementEffect(
            element_id=str(element_id), n_rows=int(n_rows), n_distinct_inputs=int(m), estimable=False,
            reason=f"fewer than {needed} distinct model inputs in the element ({int(m)})", pearson_r=None,
            pearson_p=None, fisher_z=None, weight=None)
        for element_id, n_rows, m in zip(sizes.index, sizes["size"], sizes["nunique"], strict=True)
    )
    summary, effects = pool_element_effects(effects, level, pooling)
    return WithinElementResult(feature, levels.target, True, None, effects, summary)
