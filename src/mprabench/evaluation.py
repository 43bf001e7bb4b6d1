"""The evaluation of every prediction feature against measured activity (PROTOCOL.md, Evaluation).

Pooled numbers always travel with their effective sample size and with element-aware
inference, because rows of one element share a model input and are not independent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mprabench.config import EvaluateConfig
from mprabench.errors import InputDataError
from mprabench.predictors.store import KEY_COLUMN
from mprabench.stats.association import (
    EffectiveSampleSize,
    PooledAssociation,
    bonferroni,
    effective_sample_size,
    pooled_association,
)
from mprabench.stats.clustered import (
    BOOTSTRAP_METHOD,
    ClusterBootstrapCI,
    ElementLevelAssociation,
    cluster_bootstrap_pearson_ci,
    element_level_association,
)
from mprabench.stats.strata import stratified_association
from mprabench.stats.within_element import WithinElementResult, within_element_effects

TARGETS = ("log2_ratio", "activity")


@dataclass(frozen=True)
class FeatureEvaluation:
    feature: str
    pooled: PooledAssociation
    bootstrap: ClusterBootstrapCI
    element: ElementLevelAssociation
    within: WithinElementResult


@dataclass
class Evaluation:
    target: str
    features: list[str]
    sizes: EffectiveSampleSize
    results: dict[str, FeatureEvaluation]
    family: list[str]
    pooled_significant: dict[str, bool | None]
    element_significant: dict[str, bool | None]
    strata: pd.DataFrame
    config: EvaluateConfig

    def summary(self) -> dict[str, dict[str, Any]]:
        """metrics/summary.json: the headline numbers of each feature, for `dvc metrics diff`."""
        return {feature: self._headline(feature) for feature in self.features}

    def details(self) -> dict[str, Any]:
        """Everything behind the headline: methods, reasons, the Bonferroni family."""
        return {
            "target": self.target,
            "features": self.features,
            "effective_sample_size": self.sizes.to_dict(),
            "bonferroni_family": self.family,
            "alpha": self.config.alpha,
            "bootstrap": {"method": BOOTSTRAP_METHOD, "n_bootstrap": self.config.n_bootstrap,
                          "level": self.config.ci_level, "seed": self.config.seed},
            "per_feature": {f: self._feature_details(f) for f in self.features},
        }

    def within_element_table(self) -> pd.DataFrame:
        frames = [r.within.elements_frame().assign(feature=f) for f, r in self.results.items()]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def _headline(self, feature: str) -> dict[str, Any]:
        result = self.results[feature]
        summary = result.within.summary
        return {
            **self.sizes.to_dict(),
            "pearson_r": result.pooled.pearson_r,
            "pearson_p": result.pooled.pearson_p,
            "spearman_r": result.pooled.spearman_rho,
            "spearman_p": result.pooled.spearman_p,
            "auroc": result.pooled.auroc,
            "pearson_r_ci_low": result.bootstrap.ci_low,
            "pearson_r_ci_high": result.bootstrap.ci_high,
            "element_pearson_r": result.element.r,
            "element_p": result.element.p,
            "bonferroni_significant": self.pooled_significant.get(feature),
            "element_bonferroni_significant": self.element_significant.get(feature),
            "within_element_r": summary.pooled_r if summary else None,
            "within_element_p": summary.p if summary else None,
            "within_element_sign_agreement": summary.sign_agreement if summary else None,
            "within_element_n_elements": summary.n_elements_used if summary else 0,
        }

    def _feature_details(self, feature: str) -> dict[str, Any]:
        result = self.results[feature]
        within = result.within.to_dict()
        within.pop("elements")  # per element: metrics/tables/within_element.csv
        return {
            "pooled": result.pooled.to_dict(),
            "cluster_bootstrap": result.bootstrap.to_dict(),
            "element_level": result.element.to_dict(),
            "within_element": within,
            "in_bonferroni_family": feature in self.family,
        }


def evaluation_table(rows: pd.DataFrame, features: pd.DataFrame, target: str) -> pd.DataFrame:
    """Rows joined with their input's features; every row must have features and a finite target."""
    if target not in rows:
        raise InputDataError(f"evaluate.target = {target!r} is not a column of the rows; choose one of {TARGETS}")
    table = rows.merge(features, on=KEY_COLUMN, how="left", validate="many_to_one")
    names = feature_columns(features)
    missing = table[names].isna().any(axis=1)
    if missing.any():
        raise InputDataError(
            f"{int(missing.sum())} rows have no predictions (e.g. {table.loc[missing, 'row_id'].iloc[0]}); "
            "rerun the predict stage"
        )
    if not np.isfinite(table[target].to_numpy(dtype=float)).all():
        raise InputDataError(f"target {target} has non-finite values; check the prepare stage")
    return table


def feature_columns(features: pd.DataFrame) -> list[str]:
    return [c for c in features.columns if c != KEY_COLUMN]


def evaluate(table: pd.DataFrame, features: list[str], config: EvaluateConfig) -> Evaluation:
    target = config.target
    results = {f: _evaluate_feature(table, f, config) for f in features}
    family = [f for f in config.primary_features if f in features] or list(features)
    pooled = _significant(family, {f: results[f].pooled.pearson_p for f in family}, config.alpha)
    element = _significant(family, {f: results[f].element.p for f in family}, config.alpha)
    strata = pd.concat([_strata(table, features, kind, config) for kind in config.strata], ignore_index=True)
    return Evaluation(target, list(features), effective_sample_size(table), results, family, pooled, element,
                      strata, config)


def _evaluate_feature(table: pd.DataFrame, feature: str, config: EvaluateConfig) -> FeatureEvaluation:
    x, y = table[feature].to_numpy(float), table[config.target].to_numpy(float)
    elements = table["element_id"].to_numpy()
    return FeatureEvaluation(
        feature=feature,
        pooled=pooled_association(x, y),
        bootstrap=cluster_bootstrap_pearson_ci(
            x, y, elements, n_boot=config.n_bootstrap, level=config.ci_level, seed=config.seed, key=feature
        ),
        element=element_level_association(
            x, y, elements, method=config.element_test.value, n_permutations=config.n_permutations,
            seed=config.seed, key=feature,
        ),
        within=within_element_effects(table, feature, config.target, min_distinct_inputs=config.min_unique_inputs,
                                      level=config.ci_level),
    )


def _significant(family: list[str], pvalues: dict[str, float | None], alpha: float) -> dict[str, bool | None]:
    """Bonferroni over the family; a feature whose p is not estimable gets None."""
    result = bonferroni([pvalues[f] for f in family], alpha=alpha)
    return dict(zip(family, result.reject, strict=True))


def _strata(table: pd.DataFrame, features: list[str], kind: str, config: EvaluateConfig) -> pd.DataFrame:
    return stratified_association(
        table, features, config.target, kind, min_unique_inputs=config.min_unique_inputs,
        n_boot=config.n_bootstrap, level=config.ci_level, seed=config.seed, alpha=config.alpha,
    )
