"""Stratified association with element-aware inference (PROTOCOL.md, Inference: Strata).

Per (feature, stratum), the estimate, its p and its CI are always the same quantity:

- ``strand`` / ``chrom``: Spearman's rho of element means over the stratum's elements and its
  permutation p over those elements, as the headline verdict (the Pearson permutation p rejected
  0.09-0.14 of nulls with one high-leverage element in the calibration family); no CI (no interval of
  rho is simulated);
- ``tf``: only where inputs vary within elements (V3) can the model see a TF's perturbation;
  then the within-element effect over the rows carrying the label: per-element Fisher z, one-sample
  t-test across elements (unweighted: calibration on GSE84888 showed the inverse-variance weighted
  pooling rejects ~9 % under the null here, because many elements hold only 4-8 inputs of a label). In V1/V2 every TF stratum is not estimable, with the reason;
- ``element``: Pearson r over the element's distinct inputs (V3) with the heteroscedasticity-robust
  score-test p (stats/robust_correlation.py: the Pearson t-test rejected 0.27-0.34 of nulls when noise
  grows with the measured deviation); no CI (the Fisher-z interval assumes constant noise, and the
  calibration family has no interval that holds there); not estimable where the element has one input.

A trained baseline (k-mer) gets no strata p or CI: its only calibrated p is the refit null of its
element r (``withhold_trained_strata``).

Benjamini–Hochberg runs on these p-values (per feature and kind). Row-level Pearson/Spearman
are kept as descriptions named ``naive_*``; they never feed BH.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from mprabench.schema import CHROM, ELEMENT_CLASS, ELEMENT_ID, INPUT_SHA256, STRAND, TF_LABELS
from mprabench.stats.association import (
    MIN_CORRELATION_ROWS,
    as_finite_array,
    benjamini_hochberg,
    correlation_preconditions,
    finite_or_none,
    join_reasons,
    pearson_test,
    spearman_test,
)
from mprabench.stats.rng import derive_rng
from mprabench.stats.robust_correlation import robust_correlation_p
from mprabench.stats.clustered import element_count_reason, element_means
from mprabench.stats.leverage import leverage
from mprabench.stats.within_element import (
    InputLevels,
    inputs_vary_within_some_element,
    min_within_inputs,
    within_element_effects_of_values,
)

StratumKind = Literal["tf", "strand", "chrom", "element", "class"]
# `class`: the element class a sequence-table reader assigns (enhancer / promoter / control)
STRATUM_COLUMNS = {"strand": STRAND, "chrom": CHROM, "element": ELEMENT_ID, "class": ELEMENT_CLASS}

REASON_TF_INVISIBLE = (
    "the TF perturbation never reaches the model: inputs do not vary within elements (V1/V2), so a "
    "per-TF correlation only re-tests between-element differences"
)
METHODS = {
    "between": "Spearman rho of element means over the stratum's elements; permutation p over elements; no CI",
    "within": "within-element r over the stratum's rows: per-element Fisher z over distinct inputs, one-sample "
              "t-test across elements (p and CI)",
    "element": "Pearson r over the element's distinct inputs; heteroscedasticity-robust score-test p "
               "(t = sum(x_c y_c) / sqrt(m/(m-2) sum(x_c^2 y_c^2)), m - 2 df); no CI",
}
REASON_ELEMENT_CI = (
    "no interval: the Fisher-z interval of an element's r assumes constant noise, which the calibration "
    "family showed does not hold (noise growing with the measured deviation)"
)
REASON_TRAINED_STRATA = (
    "trained predictor: its only calibrated p is the refit null of the element r (training.json); a stratum's "
    "permutation or within-element p of out-of-fold predictions has no refit null, so no p, CI or BH here"
)
# What the `r` of a stratum is, per `method` value, in a figure's few words.
METHOD_R_LABELS = {
    METHODS["between"]: "Spearman ρ of element means",
    METHODS["within"]: "pooled within-element r",
    METHODS["element"]: "Pearson r over the element's distinct inputs",
}

RESULT_COLUMNS = [
    "feature", "kind", "stratum", "n_rows", "n_unique_inputs", "n_elements", "estimable", "reason", "method",
    "r", "p", "ci_low", "ci_high", "ci_reason", "bh_q", "bh_significant",
    "naive_pearson_r", "naive_pearson_p", "naive_spearman_rho",
]  # fmt: skip
FLOAT_COLUMNS = ["r", "p", "ci_low", "ci_high", "bh_q", "naive_pearson_r", "naive_pearson_p", "naive_spearman_rho"]


@dataclass(frozen=True)
class StrataSettings:
    min_unique_inputs: int
    n_permutations: int
    level: float
    seed: int
    alpha: float
    min_elements_ci: int
    normal_above: int  # evaluate.permutation_normal_above_elements


def stratum_memberships(table: pd.DataFrame, kind: StratumKind) -> pd.DataFrame:
    """(position, stratum) pairs; for ``tf`` a row appears once per distinct label it carries.

    A row without a label (a dataset with no such column, e.g. no coordinates) is in no stratum.
    """
    if kind not in STRATUM_COLUMNS and kind != "tf":
        raise ValueError(f"unknown stratum kind {kind!r}; expected tf, {', '.join(STRATUM_COLUMNS)}")
    column = TF_LABELS if kind == "tf" else STRATUM_COLUMNS[kind]
    if column not in table:
        return pd.DataFrame({"position": np.array([], dtype=np.int64), "stratum": np.array([], dtype=object)})
    if kind == "tf":
        labels = table[TF_LABELS].reset_index(drop=True).explode().dropna()
    else:
        labels = table[column].reset_index(drop=True).dropna()
    positions = labels.index.to_numpy(dtype=np.int64)
    members = pd.DataFrame({"position": positions, "stratum": labels.astype(str).to_numpy()})
    return members.drop_duplicates(ignore_index=True)


def naive_columns(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Row-level Pearson r/p and Spearman rho: descriptions only (rows are not independent)."""
    if correlation_preconditions(x, y, MIN_CORRELATION_ROWS):
        return {}
    pearson, spearman = pearson_test(x, y), spearman_test(x, y)
    return dict(naive_pearson_r=pearson.estimate, naive_pearson_p=pearson.p, naive_spearman_rho=spearman.estimate)


REASON_BETWEEN_CI = "no interval: no confidence interval of Spearman's rho is simulated by calibrate"


def between_elements(x: np.ndarray, y: np.ndarray, elements: np.ndarray, key: str, s: StrataSettings) -> dict[str, Any]:
    """Spearman rho of the stratum's element means and its permutation p (stats/leverage.py)."""
    ids, mean_x, mean_y = element_means(x, y, elements)
    result = leverage(ids, mean_x, mean_y, n_permutations=s.n_permutations, threshold=s.alpha,
                      rng=derive_rng(s.seed, key), normal_above=s.normal_above, ci_level=None,
                      min_elements_ci=s.min_elements_ci, changers_max_elements=None, leave_one_out=False)
    if result.spearman_p is None:
        return dict(estimable=False, reason=result.spearman_p_reason, ci_reason=result.spearman_p_reason)
    return dict(estimable=True, r=result.spearman_rho, p=result.spearman_p, ci_reason=REASON_BETWEEN_CI)


def within_elements(feature: str, x: np.ndarray, levels: InputLevels, s: StrataSettings) -> dict[str, Any]:
    result = within_element_effects_of_values(feature, x, levels, min_distinct_inputs=min_within_inputs(s.min_unique_inputs),
                                              level=s.level, pooling="t_test")
    summary = result.summary
    if summary is None or summary.p is None:
        reason = result.reason if summary is None else summary.reason
        return dict(estimable=False, reason=reason, ci_reason=reason)
    ci_reason = element_count_reason(summary.n_elements_used, s.min_elements_ci,
                                     "a confidence interval (evaluate.min_elements_ci)")
    low, high = (None, None) if ci_reason else (summary.ci_low, summary.ci_high)
    return dict(estimable=True, r=summary.pooled_r, p=summary.p, ci_low=low, ci_high=high, ci_reason=ci_reason)


def one_element(x: np.ndarray, levels: InputLevels, s: StrataSettings) -> dict[str, Any]:
    """Pearson r over the distinct inputs of a stratum that is one element (``levels`` of its rows)."""
    x, y = levels.values(x)
    reasons = correlation_preconditions(x, y, min_within_inputs(s.min_unique_inputs), "feature", "mean target per input")
    if reasons:
        reason = join_reasons(reasons)
        return dict(estimable=False, reason=reason, ci_reason=reason)
    pearson = pearson_test(x, y)
    if pearson.reason:
        return dict(estimable=False, reason=pearson.reason, ci_reason=pearson.reason)
    return dict(estimable=True, r=pearson.estimate, p=finite_or_none(robust_correlation_p(x, y)), ci_low=None,
                ci_high=None, ci_reason=REASON_ELEMENT_CI)


@dataclass(frozen=True)
class Stratum:
    """One stratum's rows and what about them does not depend on the feature, computed once for all features."""

    name: str
    positions: np.ndarray        # its rows in the table
    y: np.ndarray                # their target
    elements: np.ndarray         # their element ids
    n_inputs: int
    n_elements: int
    levels: InputLevels | None   # per-input values (tf and element strata that get an estimate)


def strata_of(table: pd.DataFrame, members: pd.DataFrame, target: str, kind: str, within_visible: bool,
              s: StrataSettings) -> list[Stratum]:
    """The strata of ``members`` ((position, stratum) pairs of ``table``), in stratum-name order.

    Sizes come from one groupby over all strata and each stratum's values from numpy indexing, so the
    cost is linear in the rows: a copy of the table per stratum was quadratic with one stratum per
    element (98,000 elements in a 196,664-sequence library). Input levels are built only where a
    within-element estimate is made."""
    columns = table[[ELEMENT_ID, INPUT_SHA256, target]]
    y, elements = columns[target].to_numpy(float), columns[ELEMENT_ID].to_numpy()
    positions = members["position"].to_numpy()
    grouped = members.assign(input=columns[INPUT_SHA256].to_numpy()[positions],
                             element=elements[positions]).groupby("stratum", sort=True)
    n_inputs, n_elements = grouped["input"].nunique(), grouped["element"].nunique()
    strata = []
    for name, rows in grouped["position"]:
        rows = rows.to_numpy()
        inputs = int(n_inputs[name])
        needs_levels = kind in ("tf", "element") and inputs >= s.min_unique_inputs and (kind != "tf" or within_visible)
        strata.append(Stratum(str(name), rows, y[rows], elements[rows], inputs, int(n_elements[name]),
                              InputLevels.of(columns.iloc[rows], target) if needs_levels else None))
    return strata


def analyse_stratum(part: Stratum, x: np.ndarray, feature: str, kind: str, key: str, within_visible: bool,
                    s: StrataSettings) -> dict[str, Any]:
    """Sizes, element-aware estimate/p/CI and naive descriptions for one stratum's rows (``x``: the feature on them)."""
    y = part.y
    result: dict[str, Any] = dict(n_rows=len(part.positions), n_unique_inputs=part.n_inputs,
                                  n_elements=part.n_elements, **naive_columns(x, y))
    if kind == "tf" and not within_visible:
        return result | dict(estimable=False, reason=REASON_TF_INVISIBLE, ci_reason=REASON_TF_INVISIBLE)
    if part.n_inputs < s.min_unique_inputs:
        reason = f"fewer than {s.min_unique_inputs} distinct model inputs ({part.n_inputs})"
        return result | dict(estimable=False, reason=reason, ci_reason=reason)
    if kind == "tf":
        return result | dict(method=METHODS["within"]) | within_elements(feature, x, part.levels, s)
    if kind == "element":
        return result | dict(method=METHODS["element"]) | one_element(x, part.levels, s)
    return result | dict(method=METHODS["between"]) | between_elements(x, y, part.elements, key, s)


def add_benjamini_hochberg(frame: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """BH q-values of the element-aware p over the estimable strata only; None elsewhere."""
    pvalues = [p if ok and p is not None and not pd.isna(p) else None for p, ok in zip(frame["p"], frame["estimable"])]
    adjusted = benjamini_hochberg(pvalues, alpha)
    frame["bh_q"] = list(adjusted.p_adjusted)
    frame["bh_significant"] = list(adjusted.reject)
    return frame


def withhold_trained_strata(frame: pd.DataFrame, trained: set[str]) -> pd.DataFrame:
    """A trained baseline's strata keep their r; p, CI and BH are None with the reason (the issue of
    trained baselines: every p reported comes from a refit null or is not estimable)."""
    rows = frame["feature"].isin(trained) & frame["estimable"].astype(bool)
    if not rows.any():
        return frame
    frame = frame.copy()
    for column in ("p", "ci_low", "ci_high", "bh_q"):
        frame.loc[rows, column] = pd.NA
    frame.loc[rows, "bh_significant"] = pd.NA
    frame["reason"] = frame["reason"].astype(object)
    frame["ci_reason"] = frame["ci_reason"].astype(object)
    frame.loc[rows, "reason"] = REASON_TRAINED_STRATA
    frame.loc[rows, "ci_reason"] = REASON_TRAINED_STRATA
    return frame


def tidy_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable dtypes so that non-estimable numbers are <NA>, never NaN floats."""
    frame = frame.reindex(columns=RESULT_COLUMNS)
    frame[FLOAT_COLUMNS] = frame[FLOAT_COLUMNS].astype("Float64")
    frame[["n_rows", "n_unique_inputs", "n_elements"]] = frame[["n_rows", "n_unique_inputs", "n_elements"]].astype("int64")
    frame["estimable"] = frame["estimable"].astype(bool)
    frame["bh_significant"] = frame["bh_significant"].astype("boolean")
    for column in ["reason", "ci_reason", "method"]:
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def stratified_association(
    table: pd.DataFrame, features: str | Sequence[str], target: str, kind: StratumKind, settings: StrataSettings
) -> pd.DataFrame:
    """One tidy row per (feature, stratum of ``kind``); BH per feature over its strata of this kind."""
    features = [features] if isinstance(features, str) else list(features)
    as_finite_array(table[target], target)
    table = table.reset_index(drop=True)
    within_visible = inputs_vary_within_some_element(table)
    # Everything that does not depend on the feature is computed once per stratum (and no per-feature
    # copy of the table's rows carries every other feature's column): evaluate's cost grows linearly
    # in the feature count (issue 22: 1,000 features).
    strata = strata_of(table, stratum_memberships(table, kind), target, kind, within_visible, settings)
    if not strata:  # no row carries a label of this kind
        return tidy_types(pd.DataFrame(columns=RESULT_COLUMNS))
    frames = []
    for feature in features:
        values = as_finite_array(table[feature], feature)
        rows = [
            dict(feature=feature, kind=kind, stratum=part.name)
            | analyse_stratum(part, values[part.positions], feature, kind, f"{feature}|{kind}|{part.name}",
                              within_visible, settings)
            for part in strata
        ]
        # typed per feature: a feature with no estimable stratum has all-NA columns, whose dtype pandas'
        # concat is deprecating to ignore (FutureWarning); with the dtypes set first there is nothing to ignore
        frames.append(tidy_types(add_benjamini_hochberg(pd.DataFrame(rows, columns=RESULT_COLUMNS), settings.alpha)))
    return pd.concat(frames, ignore_index=True)
