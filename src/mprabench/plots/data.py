"""Data behind the figures and DVC's plots, prepared without drawing anything.

Rows of one element usually share a model input, so every per-input summary here has one
entry per distinct input (the unit that carries independent model information).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mprabench.files import write_csv
from mprabench.plots.style import natural_key
from mprabench.schema import ELEMENT_ID, INPUT_SHA256, IS_WILD_TYPE
from mprabench.stats.association import above_median, auroc_above_median

if TYPE_CHECKING:  # an annotation only: the report stage imports this module without the evaluation
    from mprabench.evaluation import Evaluation

ROC_COLUMNS = ["feature", "fpr", "tpr"]
SCATTER_COLUMNS = ["feature", "prediction", "target_mean", "n_rows", ELEMENT_ID]


# --------------------------------------------------------------------------------------------
# Per distinct input
# --------------------------------------------------------------------------------------------


def input_level_table(table: pd.DataFrame, features: Sequence[str], target: str) -> pd.DataFrame:
    """One row per distinct input: its features, mean target, row count and element(s)."""
    grouped = table.groupby(INPUT_SHA256, sort=True)
    # Features are joined on the input, so they are constant within it: first() is the value.
    frame = grouped[list(features)].first()
    frame["target_mean"] = grouped[target].mean()
    frame["n_rows"] = grouped.size()
    frame[ELEMENT_ID] = element_labels(table, grouped)
    return frame


def element_labels(table: pd.DataFrame, grouped: pd.core.groupby.DataFrameGroupBy) -> pd.Series:
    """The element of each input; ';'-joined ids in the rare case that elements share an input."""
    labels = grouped[ELEMENT_ID].first().astype(str)
    shared = grouped[ELEMENT_ID].nunique() > 1
    if shared.any():
        subset = table[table[INPUT_SHA256].isin(shared.index[shared])]
        joined = subset.groupby(INPUT_SHA256)[ELEMENT_ID].agg(lambda s: ";".join(sorted(map(str, set(s)))))
        labels.loc[joined.index] = joined
    return labels


def scatter_points(inputs: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """Long format of :func:`input_level_table`: one row per (feature, distinct input)."""
    frames = [
        pd.DataFrame({
            "feature": f, "prediction": inputs[f].to_numpy(float),
            "target_mean": inputs["target_mean"].to_numpy(float),
            "n_rows": inputs["n_rows"].to_numpy(int), ELEMENT_ID: inputs[ELEMENT_ID].to_numpy(),
        })
        for f in features
    ]  # fmt: skip
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SCATTER_COLUMNS)


def element_level_table(table: pd.DataFrame, features: Sequence[str], target: str) -> pd.DataFrame:
    """Unweighted mean of every feature and the target per element, with its row count."""
    grouped = table.groupby(ELEMENT_ID, sort=True)
    frame = grouped[[*features, target]].mean()
    frame["n_rows"] = grouped.size()
    return frame


def spearman_matrix(
    inputs: pd.DataFrame, features: Sequence[str], target_label: str
) -> pd.DataFrame:
    """Spearman ρ between features and the per-input mean target (NaN where not estimable)."""
    frame = inputs[list(features)].copy()
    frame[target_label] = inputs["target_mean"]
    return frame.corr(method="spearman")


# --------------------------------------------------------------------------------------------
# ROC
# --------------------------------------------------------------------------------------------


def roc_points(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Full-resolution ROC vertices (fpr, tpr) of feature x for y > median."""
    # imported here: the report stage reaches this module for write_csv only, and scikit-learn's
    # import is a second of CPU in every report (benchmarks/bench_demo.py)
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(above_median(y), x)
    return fpr, tpr


def roc_on_grid(fpr: np.ndarray, tpr: np.ndarray, n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """The piecewise-linear ROC sampled at n_points evenly spaced FPRs, from (0, 0) to (1, 1).

    Where the curve rises vertically at a grid FPR the top of the rise is taken. Joining the
    samples by straight lines changes the area by at most half a grid step in total, because
    the curve is monotone: within each step the error is at most half that step times the
    step's rise, and the rises add up to 1.
    """
    unique_fpr, first = np.unique(fpr, return_index=True)
    last = np.append(first[1:], len(fpr)) - 1
    # roc_curve's tpr is non-decreasing: the first vertex at an FPR is the bottom of a vertical
    # rise (reached from the left), the last one its top (where the curve leaves to the right).
    bottom, top = tpr[first], tpr[last]
    grid = np.linspace(0.0, 1.0, n_points)
    k = np.clip(np.searchsorted(unique_fpr, grid, side="right") - 1, 0, len(unique_fpr) - 1)
    on_vertex = unique_fpr[k] == grid
    nxt = np.minimum(k + 1, len(unique_fpr) - 1)
    span = np.where(nxt > k, unique_fpr[nxt] - unique_fpr[k], 1.0)
    between = top[k] + (bottom[nxt] - top[k]) * (grid - unique_fpr[k]) / span
    sampled = np.maximum.accumulate(np.where(on_vertex, top[k], between))  # no round-off dips
    if sampled[0] > 0.0:  # keep the vertical rise at FPR 0
        return np.append(0.0, grid), np.append(0.0, sampled)
    return grid, sampled


def roc_table(table: pd.DataFrame, features: Sequence[str], target: str,
              n_points: int) -> pd.DataFrame:
    """Long `feature, fpr, tpr` on a common FPR grid; features without an AUROC are left out."""
    y = table[target].to_numpy(float)
    frames = []
    for feature in features:
        x = table[feature].to_numpy(float)
        if auroc_above_median(x, y)[0] is None:
            continue
        fpr, tpr = roc_on_grid(*roc_points(x, y), n_points)
        frames.append(pd.DataFrame({"feature": feature, "fpr": fpr, "tpr": tpr}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ROC_COLUMNS)


# --------------------------------------------------------------------------------------------
# Strata
# --------------------------------------------------------------------------------------------


def stratum_bar_data(strata: pd.DataFrame, kind: str, features: Sequence[str]) -> pd.DataFrame:
    """Bars for one stratum kind: r and CI only where estimable (<NA> elsewhere), natural order.

    Columns: feature, stratum, n_rows, n_unique_inputs, estimable, r, ci_low, ci_high (the
    element-aware p and its BH q are in the strata tables).
    """
    rows = strata[(strata["kind"] == kind) & strata["feature"].isin(list(features))]
    bars = pd.DataFrame({
        "feature": rows["feature"].to_numpy(), "stratum": rows["stratum"].astype(str).to_numpy(),
        "n_rows": rows["n_rows"].to_numpy(), "n_unique_inputs": rows["n_unique_inputs"].to_numpy(),
        "estimable": rows["estimable"].to_numpy(bool),
        "r": rows["r"].astype("Float64").to_numpy(),
        "ci_low": rows["ci_low"].astype("Float64").to_numpy(),
        "ci_high": rows["ci_high"].astype("Float64").to_numpy(),
    })  # fmt: skip
    # A non-estimable stratum never shows a number, whatever the upstream table holds.
    hidden = ~bars["estimable"]
    bars.loc[hidden, ["r", "ci_low", "ci_high"]] = pd.NA
    order = sorted(bars["stratum"].unique(), key=natural_key)
    bars["stratum"] = pd.Categorical(bars["stratum"], categories=order, ordered=True)
    feature_order = pd.Categorical(bars["feature"], categories=list(features), ordered=True)
    bars = bars.assign(_f=feature_order).sort_values(["_f", "stratum"]).drop(columns="_f")
    return bars.reset_index(drop=True)


def stratum_labels(bars: pd.DataFrame) -> list[str]:
    """Axis labels `stratum (n distinct inputs)`, in the bars' stratum order."""
    sizes = bars.groupby("stratum", observed=True)["n_unique_inputs"].max()
    return [f"{s} ({int(sizes[s])})" for s in bars["stratum"].cat.categories if s in sizes.index]


# --------------------------------------------------------------------------------------------
# Within-element deltas
# --------------------------------------------------------------------------------------------


def within_element_deltas(
    table: pd.DataFrame, features: Sequence[str], target: str
) -> pd.DataFrame:
    """Δ of every feature and the target relative to the element's wild-type mean.

    One row per non-wild-type row of an element that has a wild type; columns element_id,
    one Δ column per feature (same name) and `delta_target`.
    """
    columns = [*features, target]
    wild = table[IS_WILD_TYPE].to_numpy(bool)
    reference = table.loc[wild].groupby(ELEMENT_ID)[columns].mean()
    mutants = table.loc[~wild & table[ELEMENT_ID].isin(reference.index).to_numpy()]
    ref = reference.reindex(mutants[ELEMENT_ID]).to_numpy(float)
    deltas = pd.DataFrame(mutants[columns].to_numpy(float) - ref, columns=columns)
    deltas.insert(0, ELEMENT_ID, mutants[ELEMENT_ID].to_numpy())
    return deltas.rename(columns={target: "delta_target"})


# --------------------------------------------------------------------------------------------
# DVC plot files
# --------------------------------------------------------------------------------------------


def write_plot_data(table: pd.DataFrame, evaluation: Evaluation, *, roc: Path, scatter: Path,
                    n_roc_points: int) -> list[Path]:
    """Write the CSVs behind `dvc plots` (parent folders are created); returns [roc, scatter].

    roc: `feature, fpr, tpr` on a common FPR grid (features without an AUROC left out);
    scatter: `feature, prediction, target_mean, n_rows, element_id`, one row per feature
    and distinct input.
    """
    features, target = evaluation.features, evaluation.target
    roc_frame = roc_table(table, features, target, n_roc_points)
    scatter_frame = scatter_points(input_level_table(table, features, target), features)
    for path in (roc, scatter):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return [write_csv(roc_frame[ROC_COLUMNS], Path(roc)),
            write_csv(scatter_frame[SCATTER_COLUMNS], Path(scatter))]
