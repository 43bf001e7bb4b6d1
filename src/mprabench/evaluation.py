"""Evaluation of every prediction feature against measured activity (summary and details).

The element is the unit of replication (PROTOCOL.md, "Evaluation" and "Inference"). The headline per feature is the Pearson r of element
means with its permutation p over elements and the Fisher-z CI of that same r; where inputs vary
within elements (V3) the random-effects within-element effect is added. Row-level pooled
numbers are descriptions only (``naive_*`` in details.json) and never feed a flag or BH.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mprabench.config import CalibrationConfig, EvaluateConfig
from mprabench.errors import InputDataError
from mprabench.schema import (
    DETAILS_ALPHA,
    DETAILS_BONFERRONI_FAMILY,
    DETAILS_EFFECTIVE_SAMPLE_SIZE,
    DETAILS_FEATURES,
    DETAILS_METHODS,
    DETAILS_ORIENTATION,
    DETAILS_PER_FEATURE,
    DETAILS_SENSITIVITY,
    DETAILS_TARGET,
    DETAILS_WITH_ZERO_RNA_DROPOUTS,
    ELEMENT_BONFERRONI_SIGNIFICANT,
    ELEMENT_ID,
    ELEMENT_P,
    ELEMENT_PEARSON_R,
    ELEMENT_R_CI,
    ELEMENT_SPEARMAN_P,
    FEATURES_KEY,
    PEARSON_R_CI_HIGH,
    PEARSON_R_CI_LOW,
    REFIT_ELEMENT_P,
    ROW_ID,
    SPEARMAN_CI_HIGH,
    SPEARMAN_CI_LOW,
    SPEARMAN_RHO_CI,
    SUMMARY_DESIGN,
    SUMMARY_HEADLINE,
    TARGETS,
    WITH_DROPOUTS_SUFFIX,
    WITHIN_ELEMENT_P,
    dropout_mask,
    headline_rows,
)
from mprabench.headline import FeatureData, HeadlineInputs, feature_block, headline, shared_headline
from mprabench.stats.calibration_verdict import CalibrationMiss, calibration_misses
from mprabench.stats.association import (
    EffectiveSampleSize,
    PooledAssociation,
    bonferroni,
    effective_sample_size,
    pooled_association,
)
from mprabench.stats.clustered import (
    CI_METHOD,
    PERMUTATION_METHOD,
    ElementLevelAssociation,
    element_level_association,
    element_means,
)
from mprabench.stats.leverage import LOO_METHOD, SPEARMAN_METHOD, Leverage, leverage
from mprabench.stats.rng import derive_rng
from mprabench.stats.orientation import OrientationEffect, orientation_effect, orientation_pairs
from mprabench.stats.refit_null import ELEMENT_P_REASON
from mprabench.stats.strata import StrataSettings, stratified_association, withhold_trained_strata
from mprabench.stats.within_element import (
    SUMMARY_METHOD,
    InputLevels,
    WITHIN_POOLING,
    WithinElementResult,
    min_within_inputs,
    within_element_effects,
)

# Reason keys beside the values of each feature in `sensitivity.with_zero_rna_dropouts.per_feature`.
SENSITIVITY_R_REASON, SENSITIVITY_P_REASON, SENSITIVITY_CI_REASON = "r_reason", "p_reason", "ci_reason"

REASON_TRAINED_WITHIN_P = (
    "trained predictor: its only calibrated p is the refit null of the element r (training.json); a "
    "within-element p of out-of-fold predictions has no refit null, so it is not reported"
)
REASON_TRAINED_LEVERAGE = (
    "trained predictor: its verdict p is the refit null of the element r; a Spearman permutation p of "
    "out-of-fold predictions would be a different, uncalibrated test"
)

REASON_TRAINED_CI = (
    "trained predictor: out-of-fold predictions share their training elements, so the Fisher-z interval "
    "of independent element means does not apply; see the out-of-fold R² in details"
)


@dataclass(frozen=True)
class Withheld:
    """A p, interval or flag this design's calibration shows failing (a stats.calibration_verdict.CalibrationMiss):
    evaluate withholds it, saying why (``short`` in summary.json, ``long`` in details.json and the report)."""

    miss: CalibrationMiss

    @property
    def short(self) -> str:
        m = self.miss
        nominal = f"{'at most ' if m.kind == 'flag rate' else ''}{m.nominal:g}"
        mcse = "" if m.mcse is None else f" ± {m.mcse:.3f}"
        return f"not calibrated: {m.key} {m.kind} {m.rate:.3f}{mcse} under the null {m.null} (nominal {nominal})"

    def long(self, tolerances: CalibrationConfig) -> str:
        m = self.miss
        tolerance = tolerances.coverage_tolerance if m.kind == "coverage" else tolerances.type_i_tolerance
        held = ("; read Spearman's rho with its interval and permutation p, which held" if m.key in PEARSON_CHECKS
                else "")
        return (f"withheld, {self.short.replace('not calibrated: ', 'not calibrated for this design: ', 1)}, "
                f"outside the tolerance {tolerance:g} (evaluate.calibration) in calibrate's null simulations with "
                f"this dataset's structure (metrics/calibration.json){held}")


# The Pearson p and interval: where they fail, the Spearman ones beside them are the calibrated answer.
PEARSON_CHECKS = (ELEMENT_P, ELEMENT_R_CI)


def withheld_by_calibration(calibration: Mapping[str, Any] | None, tolerances: CalibrationConfig) -> dict[str, Withheld]:
    """calibration.json key -> the failing check, for every statistic whose worst case over calibrate's null
    family misses its tolerance (stats.calibration.calibration_misses, the report's verdict too); {} without
    a calibration (evaluate run on its own: nothing simulated, nothing withheld, the report says so)."""
    if not calibration:
        return {}
    misses = calibration_misses(dict(calibration), tolerances.type_i_tolerance, tolerances.coverage_tolerance)
    return {m.key: Withheld(m) for m in misses}


@dataclass(frozen=True)
class FeatureEvaluation:
    feature: str
    pooled: PooledAssociation          # naive row-level description
    element: ElementLevelAssociation   # headline: element means, permutation p, Fisher-z CI
    within: WithinElementResult
    data: FeatureData                  # its element means and settings: what any headline statistic is computed from
    trained: dict[str, Any] | None = None  # out-of-fold fit statistics of a trained baseline
    leverage: Leverage | None = None       # Spearman rho/p and leave-one-out r (None for trained baselines)

    @property
    def verdict_p(self) -> float | None:
        """The p the verdict flag rests on: the refit null of a trained baseline, else Spearman's permutation p."""
        if self.trained is not None:
            return self.trained.get(ELEMENT_P)
        return self.leverage.spearman_p if self.leverage is not None else None

    @property
    def within_p(self) -> float | None:
        summary = self.within.summary
        return None if self.trained is not None or summary is None else summary.p

    @property
    def element_p(self) -> float | None:
        """The element-level p: the refit null of a trained baseline, else the permutation p."""
        if self.trained is not None:
            return self.trained.get(ELEMENT_P)
        return self.element.p

    @property
    def ci(self) -> tuple[float | None, float | None]:
        """CI of the element r (None for trained baselines)."""
        if self.trained is not None:
            return None, None
        return self.element.ci_low, self.element.ci_high


@dataclass
class Evaluation:
    target: str
    features: list[str]
    sizes: EffectiveSampleSize
    results: dict[str, FeatureEvaluation]
    family: list[str]
    element_significant: dict[str, bool | None]
    strata: pd.DataFrame
    config: EvaluateConfig
    sensitivity: dict[str, Any] = field(default_factory=dict)
    # per feature: the within-element orientation analysis (stats/orientation.py); empty without orientations
    orientation: dict[str, OrientationEffect] = field(default_factory=dict)
    # calibration.json key -> the check this design's calibration fails (withheld_by_calibration)
    withheld: dict[str, Withheld] = field(default_factory=dict)

    def summary(self, headline_feature: str | None = None) -> dict[str, Any]:
        """metrics/summary.json: design sizes, the shared `headline` block of `headline_feature` (a
        family feature; the evaluate stage resolves it) and the headline of each family (primary) feature."""
        blocks = {f: self._headline(f) for f in self.family}
        shared = {} if headline_feature is None else {SUMMARY_HEADLINE: shared_headline(headline_feature,
                                                                                         blocks[headline_feature])}
        return {SUMMARY_DESIGN: self.sizes.to_dict()} | shared | {f: feature_block(b) for f, b in blocks.items()}

    def details(self) -> dict[str, Any]:
        """Everything behind the headline: methods, naive descriptions, reasons, sensitivity."""
        return {
            DETAILS_TARGET: self.target,
            DETAILS_FEATURES: self.features,
            DETAILS_EFFECTIVE_SAMPLE_SIZE: self.sizes.to_dict(),
            DETAILS_BONFERRONI_FAMILY: self.family,
            DETAILS_ALPHA: self.config.alpha,
            DETAILS_METHODS: {
                ELEMENT_P: PERMUTATION_METHOD + f"; {self.config.n_permutations} permutations",
                ELEMENT_R_CI: CI_METHOD + f"; level {self.config.ci_level}; needs "
                                f"{self.config.min_elements_ci} elements (evaluate.min_elements_ci)",
                "within_element": SUMMARY_METHOD,
                "leverage": f"{SPEARMAN_METHOD}; {LOO_METHOD}",
                ELEMENT_BONFERRONI_SIGNIFICANT: f"Bonferroni over the Spearman permutation p of the element means "
                                                  f"(a trained baseline: its refit-null p) of the {len(self.family)} "
                                                  f"family features at alpha {self.config.alpha}",
                "naive": "row-level scipy Pearson/Spearman and AUROC, rows treated as independent: descriptions only",
                "trained_baseline": "element_p of a trained predictor comes from re-running its whole out-of-fold "
                                    "fit under element-permuted targets (predict stage, training.json)",
            },
            DETAILS_PER_FEATURE: {f: self._feature_details(f) for f in self.features},
            DETAILS_SENSITIVITY: self.sensitivity,
        } | ({DETAILS_ORIENTATION: {f: e.to_dict() for f, e in self.orientation.items()}} if self.orientation else {})

    def within_element_table(self) -> pd.DataFrame:
        frames = [r.within.elements_frame().assign(feature=f) for f, r in self.results.items()]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def _headline(self, feature: str) -> dict[str, Any]:
        result = self.results[feature]
        low, high = result.ci
        return headline(HeadlineInputs(r=result.element.r, ci_low=low, ci_high=high, p=result.element_p,
                                       # a trained baseline's within p has no refit null: withheld (REASON_TRAINED_WITHIN_P)
                                       within=None if result.trained is not None else result.within.summary,
                                       significant=self.element_significant.get(feature), data=result.data,
                                       spearman=result.leverage),
                        {key: w.short for key, w in self.withheld.items()})

    def _withhold_details(self, feature: str, element: dict[str, Any], within: dict[str, Any]) -> None:
        """details.json: each value this design's calibration fails becomes None, its reason beside it."""
        trained = self.results[feature].trained is not None
        blocks = {  # calibration key -> (block, value keys, reason key)
            REFIT_ELEMENT_P if trained else ELEMENT_P: (element, ("p",), "p_reason"),
            ELEMENT_R_CI: (element, ("ci_low", "ci_high"), "ci_reason"),
            ELEMENT_SPEARMAN_P: (element, (ELEMENT_SPEARMAN_P,), "spearman_p_reason"),
            SPEARMAN_RHO_CI: (element, (SPEARMAN_CI_LOW, SPEARMAN_CI_HIGH), "spearman_ci_reason"),
            WITHIN_ELEMENT_P: (within, ("p",), "p_reason"),
        }
        for key, (block, values, reason) in blocks.items():
            if key in self.withheld and any(block.get(v) is not None for v in values):
                block |= dict.fromkeys(values) | {reason: self.withheld[key].long(self.config.calibration)}

    def _feature_details(self, feature: str) -> dict[str, Any]:
        result = self.results[feature]
        within = result.within.to_dict()
        within.pop("elements")  # per element: metrics/tables/within_element.csv
        if result.trained is not None:
            within["p_reason"] = REASON_TRAINED_WITHIN_P
        pooled = result.pooled.to_dict()
        naive = {
            "n_rows": pooled["n"], "naive_pearson_r": pooled["pearson_r"], "naive_pearson_p": pooled["pearson_p"],
            "naive_spearman_rho": pooled["spearman_rho"], "naive_spearman_p": pooled["spearman_p"],
            "auroc": pooled["auroc"],
            "reasons": {k: pooled[k] for k in ("pearson_reason", "spearman_reason", "auroc_reason") if pooled[k]},
        }
        element = result.element.to_dict()
        element |= result.leverage.to_dict() if result.leverage is not None else {
            "spearman_p_reason": REASON_TRAINED_LEVERAGE, "loo_reason": REASON_TRAINED_LEVERAGE}
        if result.trained is not None:
            p_reason = None if result.element_p is not None else (
                result.trained.get(ELEMENT_P_REASON) or "training.json gives no refit-null element_p")
            element |= {"p": result.element_p, "p_source": "trained baseline refit null (training.json)",
                        "p_reason": p_reason, "ci_low": None, "ci_high": None, "ci_reason": REASON_TRAINED_CI}
        self._withhold_details(feature, element, within)
        return {
            "naive": naive,
            "element_level": element,
            "within_element": within,
            "trained_baseline": result.trained,
            "in_bonferroni_family": feature in self.family,
        }


def evaluation_table(rows: pd.DataFrame, features: pd.DataFrame, target: str) -> pd.DataFrame:
    """Rows joined with their input's features; every row must have features and a finite target."""
    if target not in rows:
        raise InputDataError(f"evaluate.target = {target!r} is not a column of the rows; choose one of {TARGETS}")
    table = rows.merge(features, on=FEATURES_KEY, how="left", validate="many_to_one")
    names = feature_columns(features)
    missing = table[names].isna().any(axis=1)
    if missing.any():
        raise InputDataError(
            f"{int(missing.sum())} rows have no predictions (e.g. {table.loc[missing, ROW_ID].iloc[0]}); "
            "rerun the predict stage"
        )
    if not np.isfinite(table[target].to_numpy(dtype=float)).all():
        raise InputDataError(f"target {target} has non-finite values; check the prepare stage")
    return table


def feature_columns(features: pd.DataFrame) -> list[str]:
    return [c for c in features.columns if c != FEATURES_KEY]


def evaluate(
    table: pd.DataFrame, features: list[str], config: EvaluateConfig, training: dict[str, Any] | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> Evaluation:
    """Headline, details, strata and the zero-RNA dropout sensitivity of every feature.

    `config.primary_features` is the Bonferroni family, each one of `features` (the evaluate stage
    resolves it: stages/evaluate.primary_family). `calibration`: the calibrate stage's calibration.json;
    every p, interval or flag whose worst case there misses its tolerance is withheld with the reason.
    """
    training = {f: matching_training(stats_, config.target) for f, stats_ in (training or {}).items()}
    rows = headline_rows(table)
    family = list(config.primary_features)  # resolved against `features` by the stage (primary_family)
    threshold = config.alpha / len(family)
    levels = InputLevels.of(rows, config.target)  # the within-element structure, shared by every feature
    results = {f: _evaluate_feature(rows, f, config, config.target, training.get(f), threshold, levels)
               for f in features}
    element = _significant(family, {f: results[f].verdict_p for f in family}, config.alpha)
    settings = StrataSettings(config.min_unique_inputs, config.n_permutations, config.ci_level, config.seed,
                              config.alpha, config.min_elements_ci, config.permutation_normal_above_elements)
    strata = [stratified_association(rows, features, config.target, kind, settings) for kind in config.strata]
    strata_frame = withhold_trained_strata(pd.concat(strata, ignore_index=True), set(training)) if strata else (
        pd.DataFrame())
    sensitivity = dropout_sensitivity(table, family, config, trained=set(training))
    pairs = orientation_pairs(rows)
    orientation = {} if pairs is None else {
        f: orientation_effect(rows, f, config.target, config.n_permutations, config.seed, config.ci_level, pairs,
                              normal_above=config.permutation_normal_above_elements)
        for f in features}
    return Evaluation(config.target, list(features), effective_sample_size(rows), results, family, element,
                      strata_frame, config, {DETAILS_WITH_ZERO_RNA_DROPOUTS: sensitivity}, orientation,
                      withheld_by_calibration(calibration, config.calibration))


def matching_training(statistics: dict[str, Any], target: str) -> dict[str, Any]:
    """A trained baseline's refit-null p is about its own training target; another target gets no p."""
    trained_on = statistics.get("target", target)
    if trained_on == target:
        return statistics
    reason = (f"the baseline was trained and its null refitted on {trained_on!r}, but evaluate.target is {target!r}; "
              f"set predictor.target={target}")
    return statistics | {ELEMENT_P: None, ELEMENT_P_REASON: reason}


REASON_SENSITIVITY_NOT_CALIBRATED = (
    "not calibrated: calibrate simulates the headline rows (dropouts excluded); with the dropouts kept the "
    "element permutation p and Fisher-z CI failed the null where feature variance follows element size, so "
    "only the element r is given, as a description"
)
REASON_SENSITIVITY_TRAINED = (
    "trained predictor: its element p is the refit null of the whole out-of-fold fit, which was run on the "
    "headline rows only (dropouts excluded); a plain permutation p or Fisher-z interval here would be a "
    "different test, not comparable with the headline"
)


def dropout_sensitivity(table: pd.DataFrame, features: list[str], config: EvaluateConfig,
                        trained: Collection[str] = ()) -> dict[str, Any]:
    """The element r on all rows, zero-RNA dropouts included: a description beside the headline.

    Its p and CI are withheld with the reason: calibrate simulates the headline rows, and with the
    dropouts kept the permutation p rejected 0.069-0.072 of nulls and the CI covered 0.923-0.927 (measured for issue 20)
    where feature variance follows element size. ``trained``: features of trained baselines, whose
    headline p is not a permutation p of these rows (their own reason).
    """
    target = config.target
    if f"{target}{WITH_DROPOUTS_SUFFIX}" in table:  # V1: element targets recomputed with the dropouts
        target = f"{target}{WITH_DROPOUTS_SUFFIX}"
    n_dropouts = int(dropout_mask(table).sum())
    per_feature = {}
    for feature in features:
        element = element_level_association(
            table[feature].to_numpy(float), table[target].to_numpy(float), table[ELEMENT_ID].to_numpy(),
            n_permutations=0, seed=config.seed, key=f"{feature}|with_dropouts",  # no p: see the docstring
            level=config.ci_level, min_elements_ci=config.min_elements_ci,
            normal_above=config.permutation_normal_above_elements,
        )
        reason = REASON_SENSITIVITY_NOT_CALIBRATED
        values = {ELEMENT_PEARSON_R: element.r, PEARSON_R_CI_LOW: None, PEARSON_R_CI_HIGH: None,
                  ELEMENT_P: None, SENSITIVITY_R_REASON: element.r_reason,
                  SENSITIVITY_P_REASON: element.r_reason or reason, SENSITIVITY_CI_REASON: element.r_reason or reason}
        if feature in trained:
            values |= {PEARSON_R_CI_LOW: None, PEARSON_R_CI_HIGH: None, ELEMENT_P: None,
                       SENSITIVITY_P_REASON: REASON_SENSITIVITY_TRAINED, SENSITIVITY_CI_REASON: REASON_SENSITIVITY_TRAINED}
        per_feature[feature] = values
    return {"n_rows": len(table), "n_dropout_rows": n_dropouts, "target": target, "per_feature": per_feature}


def _evaluate_feature(
    table: pd.DataFrame, feature: str, config: EvaluateConfig, target: str, trained: dict[str, Any] | None,
    threshold: float, levels: InputLevels,
) -> FeatureEvaluation:
    """``threshold``: the verdict's per-feature level (alpha / Bonferroni family size), for the leave-one-out verdicts;
    ``levels``: the table's InputLevels for ``target``."""
    x, y = table[feature].to_numpy(float), table[target].to_numpy(float)
    elements = table[ELEMENT_ID].to_numpy()
    ids, mean_x, mean_y = element_means(x, y, elements)
    lever = None if trained is not None else leverage(
        ids, mean_x, mean_y, n_permutations=config.n_permutations, threshold=threshold,
        rng=derive_rng(config.seed, f"{feature}|spearman"), normal_above=config.permutation_normal_above_elements,
        ci_level=config.ci_level, min_elements_ci=config.min_elements_ci,
        changers_max_elements=config.verdict_changers_max_elements)
    return FeatureEvaluation(
        feature=feature,
        pooled=pooled_association(x, y),
        element=element_level_association(
            x, y, elements, n_permutations=config.n_permutations, seed=config.seed, key=feature,
            level=config.ci_level, min_elements_ci=config.min_elements_ci,
            normal_above=config.permutation_normal_above_elements,
        ),
        within=within_element_effects(table, feature, target, min_distinct_inputs=min_within_inputs(config.min_unique_inputs),
                                      level=config.ci_level, pooling=WITHIN_POOLING, levels=levels),
        data=FeatureData(feature, ids, mean_x, mean_y, n_permutations=config.n_permutations, ci_level=config.ci_level,
                         alpha=config.alpha, seed=config.seed, trained=trained is not None),
        trained=trained,
        leverage=lever,
    )


def _significant(family: list[str], pvalues: dict[str, float | None], alpha: float) -> dict[str, bool | None]:
    """Bonferroni over the family; a feature whose p is not estimable gets None."""
    result = bonferroni([pvalues[f] for f in family], alpha=alpha)
    return dict(zip(family, result.reject, strict=True))


__all__ = ["Evaluation", "FeatureEvaluation", "evaluate", "evaluation_table", "feature_columns"]
