"""Stratified association: the feature-target correlation inside each TF / strand / chromosome /
element stratum, with its effective sample size, an element-resampling CI and BH q-values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from mprabench.stats.association import (
    as_finite_array,
    benjamini_hochberg,
    correlation_preconditions,
    join_reasons,
    pearson_test,
    spearman_test,
)
from mprabench.stats.clustered import cluster_bootstrap_pearson_ci

StratumKind = Literal["tf", "strand", "chrom", "element"]
STRATUM_COLUMNS = {"strand": "strand", "chrom": "chrom", "element": "element_id"}

RESULT_COLUMNS = [
    "feature", "kind", "stratum", "n_rows", "n_unique_inputs", "n_elements", "estimable",
    "reason", "pearson_r", "pearson_p", "spearman_rho", "spearman_p", "ci_low", "ci_high",
    "ci_reason", "bh_q", "bh_significant",
]  # fmt: skip
FLOAT_COLUMNS = [
    "pearson_r", "pearson_p", "spearman_rho", "spearman_p", "ci_low", "ci_high", "bh_q",
]  # fmt: skip


def stratum_memberships(table: pd.DataFrame, kind: StratumKind) -> pd.DataFrame:
    """(position, stratum) pairs; for ``tf`` a row appears once per distinct label it carries."""
    if kind == "tf":
        labels = table["tf_labels"].reset_index(drop=True).explode().dropna()
    elif kind in STRATUM_COLUMNS:
        labels = table[STRATUM_COLUMNS[kind]].reset_index(drop=True)
    else:
        raise ValueError(f"unknown stratum kind {kind!r}; expected tf, strand, chrom or element")
    positions = labels.index.to_numpy(dtype=np.int64)
    members = pd.DataFrame({"position": positions, "stratum": labels.astype(str).to_numpy()})
    return members.drop_duplicates(ignore_index=True)


def stratum_reasons(
    x: np.ndarray, y: np.ndarray, n_unique_inputs: int, min_unique_inputs: int
) -> list[str]:
    """Why a stratum's correlation is not estimable (empty list: it is)."""
    reasons = []
    if n_unique_inputs < min_unique_inputs:
        reasons.append(
            f"fewer than {min_unique_inputs} distinct model inputs ({n_unique_inputs})"
        )
    # min_rows=1 here: the row-count requirement is pearson_test's own (reported if it fails).
    return reasons + correlation_preconditions(x, y, min_rows=1)


def analyse_stratum(
    x: np.ndarray,
    y: np.ndarray,
    input_codes: np.ndarray,
    element_codes: np.ndarray,
    key: str,
    min_unique_inputs: int,
    bootstrap: dict[str, Any],
) -> dict[str, Any]:
    """Sample sizes, correlations and cluster-bootstrap CI for one stratum's rows."""
    n_unique_inputs = len(np.unique(input_codes))
    result: dict[str, Any] = dict(
        n_rows=len(x), n_unique_inputs=n_unique_inputs, n_elements=len(np.unique(element_codes))
    )
    reasons = stratum_reasons(x, y, n_unique_inputs, min_unique_inputs)
    pearson = spearman = None
    if not reasons:
        pearson, spearman = pearson_test(x, y), spearman_test(x, y)
        # Only < 3 rows (possible if min_unique_inputs < 3) or a non-finite result land here.
        reasons += list(dict.fromkeys(r for r in (pearson.reason, spearman.reason) if r))
    if reasons:
        reason = join_reasons(reasons)
        return result | dict(estimable=False, reason=reason, ci_reason=reason)
    ci = cluster_bootstrap_pearson_ci(x, y, element_codes, key=key, **bootstrap)
    return result | dict(
        estimable=True, reason=None, pearson_r=pearson.estimate, pearson_p=pearson.p,
        spearman_rho=spearman.estimate, spearman_p=spearman.p,
        ci_low=ci.ci_low, ci_high=ci.ci_high, ci_reason=ci.reason,
    )  # fmt: skip


def add_benjamini_hochberg(frame: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """BH q-values of pearson_p over the estimable strata only; None elsewhere."""
    pvalues = [p if ok else None for p, ok in zip(frame["pearson_p"], frame["estimable"])]
    adjusted = benjamini_hochberg(pvalues, alpha)
    frame["bh_q"] = list(adjusted.p_adjusted)
    frame["bh_significant"] = list(adjusted.reject)
    return frame


def tidy_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable dtypes so that non-estimable numbers are <NA>, never NaN floats."""
    frame = frame.reindex(columns=RESULT_COLUMNS)
    # Missing entries are only the keys a non-estimable stratum never got: they become <NA>.
    frame[FLOAT_COLUMNS] = frame[FLOAT_COLUMNS].astype("Float64")
    frame[["n_rows", "n_unique_inputs", "n_elements"]] = frame[
        ["n_rows", "n_unique_inputs", "n_elements"]
    ].astype("int64")
    frame["estimable"] = frame["estimable"].astype(bool)
    frame["bh_significant"] = frame["bh_significant"].astype("boolean")
    for column in ["reason", "ci_reason"]:
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def stratified_association(
    table: pd.DataFrame,
    features: str | Sequence[str],
    target: str,
    kind: StratumKind,
    min_unique_inputs: int = 3,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    alpha: float = 0.05,
    min_valid_fraction: float = 0.9,
) -> pd.DataFrame:
    """One tidy row per (feature, stratum of ``kind``): sizes, Pearson/Spearman, CI and BH q (Pearson).

    ``min_unique_inputs`` (default 3): strata with fewer distinct model inputs are not
    estimable. The CI resamples the stratum's elements (RNG key "feature|kind|stratum");
    ``min_valid_fraction`` is passed to :func:`cluster_bootstrap_pearson_ci`. BH runs over
    the strata of each feature separately. Memberships are computed once for all features.
    """
    features = [features] if isinstance(features, str) else list(features)
    y = as_finite_array(table[target], target)
    input_codes = pd.factorize(table["input_sha256"])[0]
    element_codes = pd.factorize(table["element_id"], sort=True)[0]
    bootstrap = dict(n_boot=n_boot, level=level, seed=seed, min_valid_fraction=min_valid_fraction)
    strata = [(str(stratum), positions.to_numpy())
              for stratum, positions in stratum_memberships(table, kind).groupby("stratum", sort=True)["position"]]
    frames = []
    for feature in features:
        x = as_finite_array(table[feature], feature)
        rows = [
            dict(feature=feature, kind=kind, stratum=stratum)
            | analyse_stratum(x[p], y[p], input_codes[p], element_codes[p], f"{feature}|{kind}|{stratum}",
                              min_unique_inputs, bootstrap)
            for stratum, p in strata
        ]
        frames.append(add_benjamini_hochberg(pd.DataFrame(rows, columns=RESULT_COLUMNS), alpha))
    return tidy_types(pd.concat(frames, ignore_index=True))
