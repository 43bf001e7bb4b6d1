"""The headline contract: the statistics summary.json reports for each primary feature, listed once.

Each :class:`HeadlineStatistic` says its key in summary.json, how it is computed (from a
feature's :class:`HeadlineInputs`), which simulation of the calibrate stage checks it under the
null (its key in calibration.json), and its label in the report and the forest plot. evaluate
computes the summary by iterating over :data:`HEADLINE`; calibrate simulates every `null` listed
here; the report's headline table, the MLflow note and plots/forest.csv read the values through it.
Adding a statistic is one entry here (and its test); the modules that consume the list follow.

It imports only schema.py (the file layouts), so every layer above it (stats, predictors,
evaluation, presentation) may import it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from mprabench.schema import (
    CALIBRATION_FLAGS,
    CALIBRATION_INTERVALS,
    CALIBRATION_TESTS,
    HEADLINE_FEATURE,
    SUMMARY_HEADLINE,
    SUMMARY_RESERVED,
)

# --- keys in metrics/summary.json (per primary feature) ----------------------------------------
ELEMENT_PEARSON_R = "element_pearson_r"
PEARSON_R_CI_LOW = "pearson_r_ci_low"
PEARSON_R_CI_HIGH = "pearson_r_ci_high"
ELEMENT_P = "element_p"
ELEMENT_NEGLOG10_P = "element_neglog10_p"
WITHIN_ELEMENT_R = "within_element_r"
WITHIN_ELEMENT_P = "within_element_p"
WITHIN_ELEMENT_NEGLOG10_P = "within_element_neglog10_p"
ELEMENT_BONFERRONI_SIGNIFICANT = "element_bonferroni_significant"
# Leverage, beside the element r (details.json per_feature.<f>.element_level; calibration test keys).
# The verdict flag reads the Spearman p (docs/statistics.md): it holds where leverage breaks the Pearson p.
ELEMENT_SPEARMAN_RHO = "spearman_rho"  # Spearman rho of the element means
ELEMENT_SPEARMAN_P = "element_spearman_p"  # its permutation p over elements
LOO_R_MIN, LOO_R_MAX = "loo_r_min", "loo_r_max"  # leave-one-element-out range of the element r
LOO_VERDICT_CHANGERS = "loo_verdict_changers"  # elements whose removal flips the verdict flag
# Element strata (calibration test keys): the per-element robust test, and BH over elements rejecting any
STRATA_ELEMENT_P = "strata_element_p"
STRATA_ELEMENT_BH = "strata_element_bh"

# --- the simulations in metrics/calibration.json that check them under the null -----------------
# `tests` hold type-I rates of p-values, `intervals` the coverage of CIs, `flags` the rate a flag is raised.
NULL_TESTS, NULL_INTERVALS, NULL_FLAGS = CALIBRATION_TESTS, CALIBRATION_INTERVALS, CALIBRATION_FLAGS
ELEMENT_R_CI = "pearson_r_ci"
WITHIN_ELEMENT_R_CI = "within_element_r_ci"

# Which reason in details.json explains a not-estimable value (report.inputs.REASON_KEYS).
Reason = Literal["r", "p", "ci", "within"]


class WithinSummary(Protocol):
    """The pooled within-element effect (stats.within_element.WithinElementSummary)."""

    pooled_r: float | None
    p: float | None


@dataclass(frozen=True)
class HeadlineInputs:
    """What one feature's headline is computed from (evaluation.FeatureEvaluation gives it)."""

    r: float | None  # Pearson r of element means
    ci_low: float | None  # its interval (None for a trained baseline)
    ci_high: float | None
    p: float | None  # element p: permutation p, or a trained baseline's refit null
    within: WithinSummary | None  # None where inputs do not vary within elements
    significant: bool | None  # Bonferroni over the family at evaluate.alpha; None: p not estimable


@dataclass(frozen=True)
class NullCheck:
    """The calibrate simulation of a statistic: `calibration.json[kind][key]`."""

    kind: str  # NULL_TESTS, NULL_INTERVALS or NULL_FLAGS
    key: str


@dataclass(frozen=True)
class HeadlineStatistic:
    key: str  # in summary.json
    label: str  # report column heading / what the value is, in words
    method: str  # how it is computed
    compute: Callable[[HeadlineInputs], Any]
    null: NullCheck  # its simulation under the null (calibrate)
    reason: Reason  # the details.json reason of a not-estimable value
    forest_column: str | None = None  # its column in plots/forest.csv (None: not in the forest plot)
    flag: bool = False  # a yes/no value, not a number
    bounds_of: str | None = None  # an interval bound of that statistic, shown in its cell
    in_report_table: bool = True
    digits: int = 3  # decimals in the report


def neglog10(p: float | None) -> float | None:
    return None if p is None else -math.log10(p)


def _within_r(values: HeadlineInputs) -> float | None:
    """The pooled within-element r, reported only where its p is (else the r has no test)."""
    summary = values.within
    return summary.pooled_r if summary and summary.p is not None else None


def _within_p(values: HeadlineInputs) -> float | None:
    return values.within.p if values.within else None


_ELEMENT_P_NULL = NullCheck(NULL_TESTS, ELEMENT_P)
_ELEMENT_CI_NULL = NullCheck(NULL_INTERVALS, ELEMENT_R_CI)
_WITHIN_P_NULL = NullCheck(NULL_TESTS, WITHIN_ELEMENT_P)

HEADLINE: tuple[HeadlineStatistic, ...] = (
    HeadlineStatistic(ELEMENT_PEARSON_R, "element r", "Pearson r of element-mean prediction vs element-mean target",
                      lambda v: v.r, _ELEMENT_CI_NULL, "r", forest_column="r"),
    HeadlineStatistic(PEARSON_R_CI_LOW, "CI low", "Fisher-z interval of the element r, lower bound",
                      lambda v: v.ci_low, _ELEMENT_CI_NULL, "ci", forest_column="ci_low", bounds_of=ELEMENT_PEARSON_R),
    HeadlineStatistic(PEARSON_R_CI_HIGH, "CI high", "Fisher-z interval of the element r, upper bound",
                      lambda v: v.ci_high, _ELEMENT_CI_NULL, "ci", forest_column="ci_high",
                      bounds_of=ELEMENT_PEARSON_R),
    HeadlineStatistic(ELEMENT_P, "element p", "two-sided permutation p over elements (a trained baseline: refit null)",
                      lambda v: v.p, _ELEMENT_P_NULL, "p", forest_column="p"),
    HeadlineStatistic(ELEMENT_NEGLOG10_P, "−log10 p", "−log10 of the element p",
                      lambda v: neglog10(v.p), _ELEMENT_P_NULL, "p", forest_column="neglog10_p", digits=2),
    HeadlineStatistic(WITHIN_ELEMENT_R, "within-element r",
                      "per-element r over distinct inputs, Fisher z pooled by a one-sample t-test (unweighted)",
                      _within_r, NullCheck(NULL_INTERVALS, WITHIN_ELEMENT_R_CI), "within"),
    HeadlineStatistic(WITHIN_ELEMENT_P, "within-element p",
                      "one-sample t-test p of the per-element Fisher z (unweighted, k − 1 df)",
                      _within_p, _WITHIN_P_NULL, "within"),
    HeadlineStatistic(WITHIN_ELEMENT_NEGLOG10_P, "within-element −log10 p", "−log10 of the within-element p",
                      lambda v: neglog10(_within_p(v)), _WITHIN_P_NULL, "within", in_report_table=False, digits=2),
    HeadlineStatistic(ELEMENT_BONFERRONI_SIGNIFICANT, "verdict (Bonferroni)",
                      "Spearman permutation p of the element means (a trained baseline: its refit-null p) ≤ "
                      "alpha / (primary features with an estimable p)",
                      lambda v: v.significant, NullCheck(NULL_FLAGS, ELEMENT_BONFERRONI_SIGNIFICANT), "p",
                      forest_column="significant", flag=True),
)
HEADLINE_KEYS = tuple(s.key for s in HEADLINE)
STATISTICS = {s.key: s for s in HEADLINE}


def headline(values: HeadlineInputs) -> dict[str, Any]:
    """One feature's block of summary.json, in the order of :data:`HEADLINE`."""
    return {s.key: s.compute(values) for s in HEADLINE}


def bounds(statistic: HeadlineStatistic) -> tuple[HeadlineStatistic, ...]:
    """The interval bounds of a statistic (low, high), or () when it has none."""
    return tuple(s for s in HEADLINE if s.bounds_of == statistic.key)


def null_checks() -> tuple[NullCheck, ...]:
    """Every distinct simulation the headline needs from calibrate, in the order of :data:`HEADLINE`."""
    return tuple(dict.fromkeys(s.null for s in HEADLINE))


def primary_features(summary: Mapping[str, Any]) -> list[str]:
    """The features of a summary.json: every top-level block except `design` and `headline`."""
    return [k for k, v in summary.items() if k not in SUMMARY_RESERVED and isinstance(v, Mapping)]


def shared_headline(feature: str, block: Mapping[str, Any]) -> dict[str, Any]:
    """summary.json's `headline` block: the run's headline feature by name, then its statistics
    under the same keys as its own block (one set of columns for every predictor)."""
    return {HEADLINE_FEATURE: feature, **block}


def headline_feature(summary: Mapping[str, Any]) -> str | None:
    """The feature a summary.json's `headline` block shows (None: a summary written before it existed)."""
    block = summary.get(SUMMARY_HEADLINE)
    return block.get(HEADLINE_FEATURE) if isinstance(block, Mapping) else None
