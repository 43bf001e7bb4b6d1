"""k-mer ridge baseline: out-of-fold ridge predictions from k-mer frequencies.

Folds are grouped by base element, so no element is ever in both the training and the
test part of a fold; every distinct model input gets exactly one out-of-fold prediction.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import MISSING

from mprabench.dna import BASE_CODE_N, central_window, describe_input, encode_bases, n_free_starts
from mprabench.errors import ConfigError, InputDataError
from mprabench.feature_names import KMER_RIDGE_OOF
from mprabench.predictors.base import PredictionReport, Predictor, ResultSink
from mprabench.schema import ELEMENT_ID, INPUT_SHA256, ZERO_RNA_DROPOUT, dropout_mask, read_rows
from mprabench.settings import setting
from mprabench.stats.refit_calibration import REFIT_CALIBRATION, LinearRefit, refit_calibration
from mprabench.stats.refit_null import refit_null

FOLD_STRATEGY_SKLEARN = "sklearn.GroupKFold(shuffle=True, random_state=seed)"
REFIT_NULL_KEY = "kmer|refit_null"  # random stream of the refit null's permutations


@dataclass(frozen=True)
class KmerOutOfFold:
    """Out-of-fold predictions and the fold bookkeeping behind them.

    ``predictions``: float Series indexed by input id (name :data:`KMER_RIDGE_OOF`): the k-mer part
    of the out-of-fold prediction, WITHOUT the training-fold mean. With few elements the
    training-fold mean is anti-correlated with the held-out element (leave-out mean), so keeping
    it would make a null model look anti-predictive.
    ``full_predictions``: the ridge prediction itself (training-fold mean + k-mer part).
    ``fold_means``: per input, the (weighted) training-fold mean target: the baseline of the
    out-of-fold R².
    ``inputs``: DataFrame indexed by input id with columns ``group``, ``fold``, ``n_rows``
    and ``target_mean`` (the per-input training target).
    ``fold_strategy``: which group-fold implementation produced ``inputs.fold``.
    """

    predictions: pd.Series
    inputs: pd.DataFrame
    fold_strategy: str
    full_predictions: pd.Series | None = None
    fold_means: pd.Series | None = None


def kmer_frequencies(sequence: str, k: int) -> np.ndarray:
    """Counts of each k-mer divided by the number of N-free k-mers (k-mers with N are skipped)."""
    _check_k(k)
    codes = encode_bases(sequence).astype(np.int64)
    valid = n_free_starts(codes == BASE_CODE_N, k)
    n_valid = int(valid.sum())
    if n_valid == 0:
        raise ValueError(f"no N-free {k}-mer in a sequence of length {len(sequence)}")
    n_positions = valid.size
    index = np.zeros(n_positions, dtype=np.int64)
    for offset in range(k):
        # Base-4 positional code; N positions produce garbage indices but are masked out below.
        index = index * 4 + codes[offset : offset + n_positions]
    counts = np.bincount(index[valid], minlength=4**k)[: 4**k]
    return counts / n_valid


def kmer_frequency_matrix(sequences: Sequence[str], k: int, width: int | None = None) -> np.ndarray:
    """``(len(sequences), 4**k)`` float64 matrix of k-mer frequencies, one row per sequence.

    ``width``: if given, only the central window (same rule as the other baselines) is read;
    ``None`` (default) reads the whole sequence.
    """
    _check_k(k)
    matrix = np.empty((len(sequences), 4**k), dtype=np.float64)
    for row, sequence in enumerate(sequences):
        region = sequence if width is None else central_window(sequence, width)
        try:
            matrix[row] = kmer_frequencies(region, k)
        except ValueError as error:
            raise ValueError(f"{describe_input(row, sequence)}: {error}") from None
    return matrix


def assign_group_folds(
    groups: Sequence[Hashable], n_folds: int, seed: int
) -> tuple[np.ndarray, str]:
    """Fold number (0..n_folds-1) per item such that all items of a group share a fold.

    Uses ``GroupKFold(shuffle=True, random_state=seed)`` (scikit-learn >= 1.6, which the lock pins).
    Returns ``(folds, strategy_description)``.
    """
    # Imported here: every stage's local_inputs step imports this class for its declarations only,
    # and sklearn.model_selection costs 1.5 s of start-up there (benchmarks/bench_demo.py).
    from sklearn.model_selection import GroupKFold

    group_array = np.asarray(groups)
    _check_fold_count(group_array, n_folds)
    folds = np.full(group_array.size, -1, dtype=np.int64)
    splitter = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    splits = splitter.split(np.zeros((group_array.size, 1)), groups=group_array)
    for fold, (_, test_index) in enumerate(splits):
        folds[test_index] = fold
    return folds, FOLD_STRATEGY_SKLEARN


def summarise_inputs(
    row_input_ids: Sequence[str], row_targets: Sequence[float], row_groups: Sequence[Hashable]
) -> pd.DataFrame:
    """One row per distinct input (first-appearance order): group, n_rows, target_mean.

    Raises ValueError if lengths differ, a target is not finite, or an input belongs to
    several groups (its rows could then land on both sides of a fold).
    """
    n_rows = len(row_input_ids)
    if not (len(row_targets) == n_rows == len(row_groups)):
        raise ValueError(
            f"row_input_ids, row_targets and row_groups must have equal lengths, got "
            f"{n_rows}, {len(row_targets)}, {len(row_groups)}"
        )
    if n_rows == 0:
        raise ValueError("no rows given")
    rows = pd.DataFrame(
        {
            "input_id": list(row_input_ids),
            "target": np.asarray(row_targets, dtype=np.float64),
            "group": list(row_groups),
        }
    )
    if not np.isfinite(rows["target"]).all():
        bad = rows.loc[~np.isfinite(rows["target"]), "input_id"].iloc[0]
        raise ValueError(f"targets must be finite; first non-finite target is for input {bad!r}")
    if rows["group"].isna().any():
        raise ValueError("row_groups contains missing values")
    by_input = rows.groupby("input_id", sort=False)
    n_groups_per_input = by_input["group"].nunique()
    multi = n_groups_per_input[n_groups_per_input > 1]
    if not multi.empty:
        example = multi.index[0]
        example_groups = sorted(map(str, rows.loc[rows["input_id"] == example, "group"].unique()))
        raise ValueError(
            f"{multi.size} input(s) belong to more than one group, e.g. input {example!r} in "
            f"groups {example_groups}; an input shared by elements cannot be kept out of "
            f"training when either element is tested"
        )
    return pd.DataFrame(
        {
            "group": by_input["group"].first(),
            "n_rows": by_input.size(),
            "target_mean": by_input["target"].mean(),
        }
    )


def kmer_ridge_out_of_fold(
    row_input_ids: Sequence[str],
    row_targets: Sequence[float],
    row_groups: Sequence[Hashable],
    input_sequences: Mapping[str, str],
    *,
    k: int,
    alpha: float,
    n_folds: int,
    seed: int,
    standardize: bool = True,
    width: int | None = None,
) -> KmerOutOfFold:
    """Out-of-fold ridge predictions on k-mer frequencies, folds grouped by element.

    Rows are (input id, target, group); ``input_sequences`` maps input id -> sequence. Features are computed once per distinct
    input. Fitting on the distinct inputs with their mean target, weighted by their row
    count, is exactly equivalent to fitting on the rows themselves (same squared loss up
    to a constant) and cheaper. ``width`` restricts k-mers to the central window.
    """
    if alpha < 0:
        raise ValueError(f"alpha must be non-negative, got {alpha}")
    inputs = summarise_inputs(row_input_ids, row_targets, row_groups)
    missing = [input_id for input_id in inputs.index if input_id not in input_sequences]
    if missing:
        raise ValueError(f"{len(missing)} input id(s) have no sequence, e.g. {missing[0]!r}")
    folds, strategy = assign_group_folds(inputs["group"].to_numpy(), n_folds=n_folds, seed=seed)
    inputs.insert(1, "fold", folds)
    features = kmer_frequency_matrix([input_sequences[i] for i in inputs.index], k, width=width)
    targets = inputs["target_mean"].to_numpy()
    weights = inputs["n_rows"].to_numpy(dtype=np.float64)
    fit = ridge_out_of_fold(features, targets[:, None], weights, folds, alpha=alpha, standardize=standardize)
    return KmerOutOfFold(
        predictions=pd.Series(fit.kmer_part[:, 0], index=inputs.index, name=KMER_RIDGE_OOF),
        inputs=inputs,
        fold_strategy=strategy,
        full_predictions=pd.Series(fit.kmer_part[:, 0] + fit.fold_means[:, 0], index=inputs.index),
        fold_means=pd.Series(fit.fold_means[:, 0], index=inputs.index),
    )


# --------------------------------------------------------------------------------------------
# Closed-form ridge for many targets at once (the refit null re-runs the whole fit per permutation)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutOfFoldFit:
    """(inputs x targets) out-of-fold k-mer part and the training-fold mean of each input's fold."""

    kmer_part: np.ndarray
    fold_means: np.ndarray


def weighted_standardizer(features: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and scale per column, as sklearn's StandardScaler(sample_weight) (scale 1 if constant)."""
    total = weights.sum()
    mean = weights @ features / total
    variance = weights @ (features - mean) ** 2 / total
    scale = np.sqrt(variance)
    return mean, np.where(scale > 10 * np.finfo(float).eps * np.maximum(np.abs(mean), 1.0), scale, 1.0)


def weighted_ridge_coefficients(xc: np.ndarray, yc: np.ndarray, w: np.ndarray, alpha: float) -> np.ndarray:
    """argmin Σ w (yc − xc β)² + α|β|² for every column of yc; the smaller of primal and dual systems."""
    root = np.sqrt(w)[:, None]
    xw, yw = xc * root, yc * root
    if xw.shape[0] < xw.shape[1]:  # few training inputs (V1/V2: one per element): n x n dual system
        return xw.T @ np.linalg.solve(xw @ xw.T + alpha * np.eye(xw.shape[0]), yw)
    return np.linalg.solve(xw.T @ xw + alpha * np.eye(xw.shape[1]), xw.T @ yw)


def ridge_out_of_fold(
    features: np.ndarray, targets: np.ndarray, weights: np.ndarray, folds: np.ndarray, *, alpha: float,
    standardize: bool = True,
) -> OutOfFoldFit:
    """Out-of-fold weighted ridge (intercept unpenalised) for every column of ``targets`` at once.

    Equals sklearn's fit per fold and target (its Ridge with sample weights after a
    weighted StandardScaler; tests/test_baseline_kmer.py checks it), but solves each fold's
    normal equations once for all targets. k-mer frequencies are ~1/4**k in scale, so without
    standardisation any usual alpha would shrink every coefficient to ~0; the scaling is fitted
    on the training folds only.
    """
    kmer_part = np.zeros((len(features), targets.shape[1]))
    fold_means = np.zeros_like(kmer_part)
    for fold in np.unique(folds):
        test, train = folds == fold, (folds != fold) & (weights > 0)
        x, w, y = features[train], weights[train], targets[train]
        if standardize:
            mean, scale = weighted_standardizer(x, w)
            x, x_test = (x - mean) / scale, (features[test] - mean) / scale
        else:
            x_test = features[test]
        x_offset = w @ x / w.sum()
        y_offset = w @ y / w.sum()
        xc = x - x_offset
        coef = weighted_ridge_coefficients(xc, y - y_offset, w, alpha)
        kmer_part[test] = (x_test - x_offset) @ coef
        fold_means[test] = y_offset
    return OutOfFoldFit(kmer_part, fold_means)


# --------------------------------------------------------------------------------------------
# Out-of-fold R² and the refit null (stats.refit_null) of the out-of-fold fit
# --------------------------------------------------------------------------------------------


def out_of_fold_r2(targets: np.ndarray, full: np.ndarray, fold_means: np.ndarray, weights: np.ndarray) -> float | None:
    """1 − SS(prediction) / SS(training-fold mean): out-of-fold R² against the training-mean baseline."""
    baseline = float(weights @ (targets - fold_means) ** 2)
    return None if baseline == 0 else 1.0 - float(weights @ (targets - full) ** 2) / baseline


def kmer_training_statistics(
    features: np.ndarray, targets: np.ndarray, weights: np.ndarray, groups: np.ndarray, folds: np.ndarray, *,
    alpha: float, n_permutations: int, seed: int, row_sd: float | None,
) -> dict[str, Any]:
    """Element r of the out-of-fold k-mer part, its refit-null p, and the out-of-fold R².

    ``row_sd``: the within-element SD of the target over the training rows (refit_null scales its
    permutation by each element's sampling variance, row_sd² / rows); None: one row per element.

    Inputs with zero weight (only zero-RNA dropout rows) are left out first: they are never trained on,
    and an element whose rows are all dropouts has no element mean (its row weights sum to 0).
    """
    kept = np.asarray(weights) > 0
    features, targets, weights = features[kept], targets[kept], weights[kept]
    groups, folds = np.asarray(groups)[kept], np.asarray(folds)[kept]
    fit = ridge_out_of_fold(features, targets[:, None], weights, folds, alpha=alpha)

    def refit(permuted: np.ndarray) -> np.ndarray:
        return ridge_out_of_fold(features, permuted, weights, folds, alpha=alpha).kmer_part

    null = refit_null(fit.kmer_part[:, 0], refit, targets, groups, weights, n_permutations=n_permutations,
                      seed=seed, key=REFIT_NULL_KEY, row_sd=row_sd)
    full = fit.kmer_part[:, 0] + fit.fold_means[:, 0]
    return null.to_dict() | {
        "oof_r2": out_of_fold_r2(targets, full, fit.fold_means[:, 0], weights),
        "oof_r2_baseline": "training-fold mean target (weighted by rows)",
        "n_inputs": int(len(targets)),
        "n_elements": int(len(np.unique(groups))),
    } | null.reason_entry()


def _check_k(k: int) -> None:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")


def _check_fold_count(groups: np.ndarray, n_folds: int) -> None:
    if not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ValueError(f"n_folds must be an integer >= 2, got {n_folds!r}")
    try:
        n_groups = np.unique(groups).size
    except TypeError as error:
        raise ValueError(f"group labels must be mutually sortable (e.g. all str): {error}") from None
    if n_groups < n_folds:
        raise ValueError(
            f"only {n_groups} distinct group(s) (elements) exist, fewer than n_folds={n_folds}; "
            f"lower n_folds or add elements"
        )


@dataclass
class KmerConfig:
    name: str = MISSING
    k: int = setting(ge=1)
    alpha: float = setting(ge=0)
    n_folds: int = setting(ge=2)
    seed: int = setting(ge=0)
    target: str = MISSING
    n_permutations: int = setting(ge=99)  # refit null of the whole out-of-fold fit (element-permuted targets)
    calibration_replicates: int = setting(ge=100)  # null targets per null simulated for calibrate (refit null)
    calibration_max_elements: int = setting(ge=5)  # above this many elements the refit null is not simulated


class KmerPredictor(Predictor):
    """Offline baseline trained on activity: out-of-fold ridge on k-mer frequencies.

    Rows flagged as zero-RNA dropouts (``zero_rna_dropout``) are not trained on, as evaluate's
    headline does not rest on them; their inputs still get a prediction.
    """

    settings = KmerConfig
    label = "kmer baseline (offline)"
    build_context = ("rows",)

    def __init__(self, config: KmerConfig, rows: Path):
        self.config = config
        self.rows = read_rows(rows, [INPUT_SHA256, ELEMENT_ID, config.target, ZERO_RNA_DROPOUT])
        if not np.isfinite(self.rows[config.target].to_numpy(float)).all():
            raise InputDataError(f"{rows}: target {config.target} has non-finite values")
        self.weights = (~dropout_mask(self.rows)).astype(float)
        self._require_enough_elements(rows)

    def _require_enough_elements(self, rows: Path) -> None:
        """Folds are whole elements: fewer elements than folds is a setting to change, not a crash."""
        n_elements = self.rows[ELEMENT_ID].nunique()
        if n_elements >= self.config.n_folds:
            return
        change = (f"set `-S predictor.n_folds={n_elements}`" if n_elements >= 2
                  else "use a dataset with at least 2 elements, or another predictor")
        raise ConfigError(f"{rows}: the k-mer baseline holds out whole elements, and these rows have {n_elements} "
                          f"element(s), fewer than predictor.n_folds={self.config.n_folds}; {change}")

    def headline_feature(self) -> str:
        return KMER_RIDGE_OOF

    def _fit(self, inputs: Mapping[str, str]) -> tuple[KmerOutOfFold, np.ndarray, np.ndarray]:
        """Out-of-fold fit on the non-dropout rows, with per-input features and training weights."""
        kept = self.rows.loc[self.weights > 0]
        result = kmer_ridge_out_of_fold(
            self.rows[INPUT_SHA256].tolist(), self.rows[self.config.target].to_numpy(float),
            self.rows[ELEMENT_ID].tolist(), inputs, k=self.config.k, alpha=self.config.alpha,
            n_folds=self.config.n_folds, seed=self.config.seed,
        ) if len(kept) == len(self.rows) else self._fit_without_dropouts(kept, inputs)
        features = kmer_frequency_matrix([inputs[i] for i in result.inputs.index], self.config.k)
        return result, features, result.inputs["n_rows"].to_numpy(float)

    def _fit_without_dropouts(self, kept: pd.DataFrame, inputs: Mapping[str, str]) -> KmerOutOfFold:
        everything = summarise_inputs(self.rows[INPUT_SHA256].tolist(), self.rows[self.config.target].to_numpy(float),
                                      self.rows[ELEMENT_ID].tolist())
        training = kept.groupby(INPUT_SHA256)[self.config.target].agg(["mean", "size"])
        everything["n_rows"] = training["size"].reindex(everything.index).fillna(0).astype(int)
        everything["target_mean"] = training["mean"].reindex(everything.index).fillna(0.0)
        folds, strategy = assign_group_folds(everything["group"].to_numpy(), self.config.n_folds, self.config.seed)
        everything.insert(1, "fold", folds)
        features = kmer_frequency_matrix([inputs[i] for i in everything.index], self.config.k)
        fit = ridge_out_of_fold(features, everything["target_mean"].to_numpy()[:, None],
                                everything["n_rows"].to_numpy(float), folds, alpha=self.config.alpha)
        index = everything.index
        return KmerOutOfFold(pd.Series(fit.kmer_part[:, 0], index=index, name=KMER_RIDGE_OOF), everything, strategy,
                             pd.Series(fit.kmer_part[:, 0] + fit.fold_means[:, 0], index=index),
                             pd.Series(fit.fold_means[:, 0], index=index))

    def _require_all_inputs(self, inputs: Mapping[str, str]) -> None:
        if not set(self.rows[INPUT_SHA256]) <= set(inputs):
            raise InputDataError(
                "the k-mer model is trained on every row at once, but rows.parquet names inputs that inputs.fa "
                "does not hold; rerun the prepare stage (`dvc repro prepare`)"
            )

    def predict(self, inputs: Mapping[str, str], sink: ResultSink) -> PredictionReport:
        self._require_all_inputs(inputs)
        result, _, _ = self._fit(inputs)
        sink.put_many({sha: {KMER_RIDGE_OOF: float(value)} for sha, value in result.predictions.items()})
        return PredictionReport(requested=len(result.predictions))

    def training_statistics(self, inputs: Mapping[str, str]) -> dict[str, Any]:
        """Out-of-fold R² and the refit-null element p of the k-mer feature (predict's training.json)."""
        self._require_all_inputs(inputs)
        result, features, weights = self._fit(inputs)
        frame = result.inputs
        statistics = kmer_training_statistics(
            features, frame["target_mean"].to_numpy(), weights, frame["group"].astype(str).to_numpy(),
            frame["fold"].to_numpy(), alpha=self.config.alpha, n_permutations=self.config.n_permutations,
            seed=self.config.seed, row_sd=self._within_row_sd(),
        )
        calibration = refit_calibration(self.linear_refit(result, features, weights),
                                        n_replicates=self.config.calibration_replicates,
                                        n_permutations=self.config.n_permutations, seed=self.config.seed,
                                        max_elements=self.config.calibration_max_elements)
        return {KMER_RIDGE_OOF: statistics | {"target": self.config.target, REFIT_CALIBRATION: calibration}}

    def linear_refit(self, result: KmerOutOfFold, features: np.ndarray, weights: np.ndarray) -> LinearRefit:
        """The refit behind training_statistics' refit null as one linear map of the target (its type-I
        rate is simulated with it: stats/refit_calibration.py), on the inputs it trains on."""
        kept = weights > 0
        frame = result.inputs.loc[kept]
        features, weights, folds = features[kept], weights[kept], frame["fold"].to_numpy()
        _, element = np.unique(frame["group"].astype(str).to_numpy(), return_inverse=True)

        def refit(targets: np.ndarray) -> np.ndarray:
            return ridge_out_of_fold(features, targets, weights, folds, alpha=self.config.alpha).kmer_part

        return LinearRefit(refit, element, weights, frame["target_mean"].to_numpy(float), self._within_row_sd())

    def _within_row_sd(self) -> float | None:
        """Pooled within-element SD of the target over the rows trained on (rows minus elements df); None
        when every element has one row (V1's aggregated rows)."""
        rows = self.rows.loc[self.weights > 0]
        target = rows[self.config.target].to_numpy(float)
        centred = target - rows.groupby(ELEMENT_ID)[self.config.target].transform("mean").to_numpy(float)
        df = len(rows) - rows[ELEMENT_ID].nunique()
        return None if df <= 0 else float(np.sqrt(centred @ centred / df))
