"""The headline contract: the statistics summary.json reports for each primary feature, listed once.

Each :class:`HeadlineStatistic` says its key in summary.json, how it is computed (``compute``, from a
feature's :class:`HeadlineInputs`: the element-level results evaluate computed and the feature's own
element means and settings, :class:`FeatureData`), which simulation of the calibrate stage checks it
under the null (``null``: its key in calibration.json and, for a statistic calibrate does not simulate
itself, the function that computes it on simulated null replicates), and its label in the report and
the forest plot. evaluate computes the summary by iterating over :data:`HEADLINE`; the calibrate stage
passes :func:`null_checks` to stats.calibration.calibrate, which simulates each one (and fails when one
is neither simulated nor declared not estimable); the report's headline table, the MLflow note and
plots/forest.csv read the values through it. A statistic whose null check this design's calibration.json
shows failing is withheld: None, with ``<check>_reason`` beside it (:func:`headline`, :func:`withheld_reason`),
unless it is a ``description`` (a point estimate). Adding a statistic is one entry here (its functions in
stats/) and its tests; tests/test_headline.py adds one and follows it to summary.json, calibration.json
and report.md.

The keys themselves are file layout (schema.py), so stats/ names them without importing this module;
this module sits above stats/ (it may name their functions) and below evaluation and presentation.
Consumers call the functions below, which read :data:`HEADLINE` when called.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from mprabench.schema import (
    CALIBRATION_FLAGS,
    CALIBRATION_INTERVALS,
    CALIBRATION_TESTS,
    DETAILS_PER_FEATURE,
    ELEMENT_BONFERRONI_SIGNIFICANT,
    ELEMENT_NEGLOG10_P,
    ELEMENT_P,
    ELEMENT_PEARSON_R,
    ELEMENT_R_CI,
    ELEMENT_SPEARMAN_NEGLOG10_P,
    ELEMENT_SPEARMAN_P,
    ELEMENT_SPEARMAN_RHO,
    HEADLINE_FEATURE,
    PEARSON_R_CI_HIGH,
    PEARSON_R_CI_LOW,
    REFIT_ELEMENT_P,
    SPEARMAN_CI_HIGH,
    SPEARMAN_CI_LOW,
    SPEARMAN_RHO_CI,
    SUMMARY_HEADLINE,
    SUMMARY_RESERVED,
    WITHIN_ELEMENT_NEGLOG10_P,
    WITHIN_ELEMENT_P,
    WITHIN_ELEMENT_R,
    WITHIN_ELEMENT_R_CI,
)
from mprabench.stats.rng import derive_rng

if TYPE_CHECKING:
    from mprabench.stats.calibration import ElementNullBatch

# Which reason in details.json explains a not-estimable value (report.inputs.REASON_KEYS).
Reason = Literal["r", "p", "ci", "within", "spearman", "spearman_ci"]
# A statistic withheld because calibrate found it outside tolerance for this design: its value is None and
# `<calibration key>_reason` beside it in the block says which check failed, by how much and under which null.
REASON_SUFFIX = "_reason"


class SpearmanSummary(Protocol):
    """Spearman's rho of the element means with its permutation p and interval (stats.leverage.Leverage)."""

    spearman_rho: float | None
    spearman_p: float | None
    spearman_ci: tuple[float, float] | None


class WithinSummary(Protocol):
    """The pooled within-element effect (stats.within_element.WithinElementSummary)."""

    pooled_r: float | None
    p: float | None


@dataclass(frozen=True)
class FeatureData:
    """One feature's data a headline statistic may be computed from, with evaluate's settings.

    Element means are over the headline rows (zero-RNA dropouts excluded), in sorted element order.
    """

    feature: str
    element_ids: np.ndarray
    mean_x: np.ndarray  # element-mean feature
    mean_y: np.ndarray  # element-mean target
    n_permutations: int  # evaluate.n_permutations
    ci_level: float  # evaluate.ci_level
    alpha: float  # evaluate.alpha
    seed: int  # evaluate.seed
    trained: bool  # out-of-fold predictions of a trained baseline: its element means are not independent

    def rng(self, stream: str) -> np.random.Generator:
        """This feature's seeded random stream named ``stream`` (e.g. the statistic's key)."""
        return derive_rng(self.seed, f"{self.feature}|{stream}")


@dataclass(frozen=True)
class HeadlineInputs:
    """What one feature's headline is computed from (evaluation.Evaluation gives it)."""

    r: float | None  # Pearson r of element means
    ci_low: float | None  # its interval (None for a trained baseline)
    ci_high: float | None
    p: float | None  # element p: permutation p, or a trained baseline's refit null
    within: WithinSummary | None  # None where inputs do not vary within elements
    significant: bool | None  # Bonferroni over the family at evaluate.alpha; None: p not estimable
    data: FeatureData
    spearman: SpearmanSummary | None = None  # None for a trained baseline (its verdict p is the refit null)


@dataclass(frozen=True)
class NullCheck:
    """The calibrate simulation of a statistic: `calibration.json[kind][key]`.

    ``simulate``: the statistic on a batch of null replicates' element means (stats.calibration.ElementNullBatch),
    one value per replicate: its p (tests), whether its interval covers the null value 0 (intervals) or whether
    the flag is raised (flags). None for the statistics stats/calibration simulates itself, which need more than
    element means (within-element inputs, families of features) or share its permutations.
    """

    kind: str  # CALIBRATION_TESTS, CALIBRATION_INTERVALS or CALIBRATION_FLAGS
    key: str
    simulate: Callable[[ElementNullBatch], np.ndarray] | None = None


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
    # A point estimate, no test: printed even where its null check failed (then its interval and p are withheld).
    description: bool = False
    # False: only in summary.json's shared `headline` block, not in each feature's block, so that
    # `dvc metrics diff --all v1 v2` stays within 100 rows (details.json has it for every feature).
    every_feature: bool = True


def neglog10(p: float | None) -> float | None:
    return None if p is None else -math.log10(p)


def _within_r(values: HeadlineInputs) -> float | None:
    """The pooled within-element r, reported only where its p is (else the r has no test)."""
    summary = values.within
    return summary.pooled_r if summary and summary.p is not None else None


def _within_p(values: HeadlineInputs) -> float | None:
    return values.within.p if values.within else None


def _spearman_ci(values: HeadlineInputs, bound: int) -> float | None:
    interval = values.spearman.spearman_ci if values.spearman else None
    return None if interval is None else interval[bound]


def _spearman_p(values: HeadlineInputs) -> float | None:
    return values.spearman.spearman_p if values.spearman else None


_ELEMENT_P_NULL = NullCheck(CALIBRATION_TESTS, ELEMENT_P)
_ELEMENT_CI_NULL = NullCheck(CALIBRATION_INTERVALS, ELEMENT_R_CI)
_WITHIN_P_NULL = NullCheck(CALIBRATION_TESTS, WITHIN_ELEMENT_P)
_SPEARMAN_P_NULL = NullCheck(CALIBRATION_TESTS, ELEMENT_SPEARMAN_P)
_SPEARMAN_CI_NULL = NullCheck(CALIBRATION_INTERVALS, SPEARMAN_RHO_CI)

HEADLINE: tuple[HeadlineStatistic, ...] = (
    HeadlineStatistic(ELEMENT_PEARSON_R, "element r", "Pearson r of element-mean prediction vs element-mean target",
                      lambda v: v.r, _ELEMENT_CI_NULL, "r", forest_column="r", description=True),
    HeadlineStatistic(PEARSON_R_CI_LOW, "CI low", "Fisher-z interval of the element r, lower bound",
                      lambda v: v.ci_low, _ELEMENT_CI_NULL, "ci", forest_column="ci_low", bounds_of=ELEMENT_PEARSON_R),
    HeadlineStatistic(PEARSON_R_CI_HIGH, "CI high", "Fisher-z interval of the element r, upper bound",
                      lambda v: v.ci_high, _ELEMENT_CI_NULL, "ci", forest_column="ci_high",
                      bounds_of=ELEMENT_PEARSON_R),
    HeadlineStatistic(ELEMENT_P, "element p", "two-sided permutation p over elements (a trained baseline: refit null)",
                      lambda v: v.p, _ELEMENT_P_NULL, "p", forest_column="p"),
    HeadlineStatistic(ELEMENT_NEGLOG10_P, "−log10 p", "−log10 of the element p",
                      lambda v: neglog10(v.p), _ELEMENT_P_NULL, "p", forest_column="neglog10_p", digits=2),
    # Spearman's rho of the same means, its interval and permutation p: the verdict's p, calibrated where one
    # high-leverage element breaks the Pearson p and interval (the report shows them in its leverage column).
    HeadlineStatistic(ELEMENT_SPEARMAN_RHO, "Spearman ρ", "Spearman rho of element-mean prediction vs target",
                      lambda v: v.spearman.spearman_rho if v.spearman else None, _SPEARMAN_CI_NULL, "spearman",
                      forest_column="rho", in_report_table=False, description=True, every_feature=False),
    HeadlineStatistic(SPEARMAN_CI_LOW, "ρ CI low", "Fisher-z interval of Spearman's rho (Bonett-Wright, n − 2), lower bound",
                      lambda v: _spearman_ci(v, 0), _SPEARMAN_CI_NULL, "spearman_ci", forest_column="rho_ci_low",
                      bounds_of=ELEMENT_SPEARMAN_RHO, in_report_table=False, every_feature=False),
    HeadlineStatistic(SPEARMAN_CI_HIGH, "ρ CI high", "Fisher-z interval of Spearman's rho (Bonett-Wright, n − 2), upper bound",
                      lambda v: _spearman_ci(v, 1), _SPEARMAN_CI_NULL, "spearman_ci", forest_column="rho_ci_high",
                      bounds_of=ELEMENT_SPEARMAN_RHO, in_report_table=False, every_feature=False),
    HeadlineStatistic(ELEMENT_SPEARMAN_P, "Spearman p", "two-sided permutation p of Spearman's rho over elements",
                      _spearman_p, _SPEARMAN_P_NULL, "spearman", forest_column="spearman_p", in_report_table=False, every_feature=False),
    HeadlineStatistic(ELEMENT_SPEARMAN_NEGLOG10_P, "Spearman −log10 p", "−log10 of the Spearman p",
                      lambda v: neglog10(_spearman_p(v)), _SPEARMAN_P_NULL, "spearman", in_report_table=False,
                      digits=2, every_feature=False),
    HeadlineStatistic(WITHIN_ELEMENT_R, "within-element r",
                      "per-element r over distinct inputs, Fisher z pooled by a one-sample t-test (unweighted)",
                      _within_r, NullCheck(CALIBRATION_INTERVALS, WITHIN_ELEMENT_R_CI), "within", description=True),
    HeadlineStatistic(WITHIN_ELEMENT_P, "within-element p",
                      "one-sample t-test p of the per-element Fisher z (unweighted, k − 1 df)",
                      _within_p, _WITHIN_P_NULL, "within"),
    HeadlineStatistic(WITHIN_ELEMENT_NEGLOG10_P, "within-element −log10 p", "−log10 of the within-element p",
                      lambda v: neglog10(_within_p(v)), _WITHIN_P_NULL, "within", in_report_table=False, digits=2),
    HeadlineStatistic(ELEMENT_BONFERRONI_SIGNIFICANT, "verdict (Bonferroni)",
                      "Spearman permutation p of the element means (a trained baseline: its refit-null p) ≤ "
                      "alpha / (primary features with an estimable p)",
                      lambda v: v.significant, NullCheck(CALIBRATION_FLAGS, ELEMENT_BONFERRONI_SIGNIFICANT), "p",
                      forest_column="significant", flag=True),
)


def headline_keys() -> tuple[str, ...]:
    """summary.json's keys of the shared `headline` block (after `feature`), in the order of :data:`HEADLINE`."""
    return tuple(s.key for s in HEADLINE)


def feature_keys() -> tuple[str, ...]:
    """summary.json's keys of each primary feature's own block (:func:`feature_block`)."""
    return tuple(s.key for s in HEADLINE if s.every_feature)


def headline(values: HeadlineInputs, withheld: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One feature's block of summary.json, in the order of :data:`HEADLINE`.

    ``withheld``: calibration.json key -> the reason, for each check whose worst case over calibrate's
    null family missed its tolerance (evaluation.withheld_by_calibration). Each statistic that check
    covers becomes None, with ``<key>_reason`` after the block's statistics, unless it is a description
    (a point estimate) or was not estimable anyway (its reason is then in details.json).
    """
    block = {s.key: s.compute(values) for s in HEADLINE}
    reasons = {}
    for s in HEADLINE:
        key = calibration_key(s, values.data.trained)
        if withheld and key in withheld and not s.description and block[s.key] is not None:
            block[s.key] = None
            reasons[reason_key(s)] = withheld[key]
    return block | reasons


def calibration_key(statistic: HeadlineStatistic, trained: bool) -> str:
    """The calibration.json key that checks ``statistic`` for a feature: its null check's, except that a
    trained baseline's element p is its refit null (``refit_element_p``)."""
    return REFIT_ELEMENT_P if trained and statistic.null.key == ELEMENT_P else statistic.null.key


def reason_key(statistic: HeadlineStatistic) -> str:
    """The key beside a withheld statistic that says why (one per null check: `pearson_r_ci_reason` covers
    both bounds of the interval, `element_p_reason` the p and its −log10)."""
    return f"{statistic.null.key}{REASON_SUFFIX}"


def withheld_reason(block: Mapping[str, Any], key: str) -> str | None:
    """Why the statistic ``key`` of a summary.json block is withheld (its reason key), or None."""
    statistic = next((s for s in HEADLINE if s.key == key), None)
    reason = block.get(reason_key(statistic)) if statistic is not None else None
    return reason if isinstance(reason, str) and reason else None


def withheld_pearson(block: Mapping[str, Any]) -> list[tuple[str, str]]:
    """("CI", reason) and ("p", reason) for the Pearson interval and p of a block that this design's
    calibration withholds; empty when both are printed."""
    return [(what, reason) for what, key in (("CI", PEARSON_R_CI_LOW), ("p", ELEMENT_P))
            if (reason := withheld_reason(block, key))]


def report_columns() -> list[HeadlineStatistic]:
    """The report's headline table columns: every statistic shown there, an interval inside its statistic's cell."""
    return [s for s in HEADLINE if s.in_report_table and not s.bounds_of]


def forest_statistics() -> list[HeadlineStatistic]:
    """The statistics plots/forest.csv has a column for."""
    return [s for s in HEADLINE if s.forest_column]


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


def feature_statistics(summary: Mapping[str, Any], feature: str,
                       details: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """Every statistic of `feature`: the shared `headline` block when it is the headline feature (it also
    carries the shared-only ones), else the feature's own block, completed from details.json's
    `per_feature.<feature>.element_level` (same keys) when `details` is given."""
    shared = summary.get(SUMMARY_HEADLINE)
    if isinstance(shared, Mapping) and shared.get(HEADLINE_FEATURE) == feature:
        return shared
    element = (((details or {}).get(DETAILS_PER_FEATURE) or {}).get(feature) or {}).get("element_level") or {}
    only_shared = {s.key: element[s.key] for s in HEADLINE if not s.every_feature and s.key in element}
    if ELEMENT_SPEARMAN_P in only_shared:  # details.json gives no −log10 p
        only_shared[ELEMENT_SPEARMAN_NEGLOG10_P] = neglog10(only_shared[ELEMENT_SPEARMAN_P])
    return {**summary[feature], **only_shared}


def feature_block(block: Mapping[str, Any]) -> dict[str, Any]:
    """A feature's own block of summary.json: its headline block without the statistics (and their
    reasons) that only the shared `headline` block carries (`every_feature=False`)."""
    only_shared = {s.key for s in HEADLINE if not s.every_feature}
    kept_checks = {s.null.key for s in HEADLINE if s.every_feature}
    dropped_reasons = {reason_key(s) for s in HEADLINE if not s.every_feature and s.null.key not in kept_checks}
    return {k: v for k, v in block.items() if k not in only_shared | dropped_reasons}


def headline_feature(summary: Mapping[str, Any]) -> str | None:
    """The feature a summary.json's `headline` block shows (None: a summary written before it existed)."""
    block = summary.get(SUMMARY_HEADLINE)
    return block.get(HEADLINE_FEATURE) if isinstance(block, Mapping) else None
