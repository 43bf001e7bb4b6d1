"""Calibration of a trained baseline's refit-null element p (stats/refit_null.py) by simulation.

The refit null re-runs the whole out-of-fold fit under element-permuted targets. For a fit that is
linear in the target (the k-mer ridge: its standardisation and folds depend on the features and row
weights only), every refit is one linear map of the target, so with

    m = M y          (row-weighted element means of the per-input target y),
    d = y − C m      (each input's deviation from its element's mean; C broadcasts means to inputs),
    A = M F C        (E x E: element-mean out-of-fold prediction from element-mean targets),
    b = M F d        (E: the same from the deviations, which the permutations keep),

the refit under the permutation π predicts the element means A m[π] + b, exactly what re-running
the fit on d + C m[π] gives. Each simulated replicate's p (and every one of its permutations) then
costs E x E arithmetic instead of a refit, so calibrate simulates the refit null with as many
replicates and permutations as the other statistics. Two nulls, each with this dataset's element
structure and the baseline's own features and folds:

- ``refit_noise_only``: every row's target is noise (SD σ, the measured within-element SD), so an
  element mean is pure sampling noise with variance σ²/rows: not exchangeable between elements;
- ``refit_permuted_means``: the measured element means permuted between elements, plus that row noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mprabench.schema import REFIT_ELEMENT_P
from mprabench.stats.clustered import element_permutations, permutation_p
from mprabench.stats.pearson import unit_scaled
from mprabench.stats.refit_null import scaled_permuted_means
from mprabench.stats.rng import derive_rng

REFIT_CALIBRATION = "refit_calibration"  # training.json key (per trained feature): the simulated p-values
REFIT_NOISE_ONLY, REFIT_PERMUTED_MEANS = "refit_noise_only", "refit_permuted_means"
REFIT_NULLS = (REFIT_NOISE_ONLY, REFIT_PERMUTED_MEANS)
# Replicates per batch: bounds memory at (batch x permutations x elements) floats.
REFIT_BATCH_ENTRIES = 20_000_000
# A refit that is linear in the target maps a + b to refit(a) + refit(b) up to this (relative).
LINEARITY_TOLERANCE = 1e-8


@dataclass(frozen=True)
class LinearRefit:
    """A trained baseline's out-of-fold refit, linear in the target, and the design it was trained on.

    ``refit``: (inputs x columns) targets -> the out-of-fold predictions of every column, fitted as the
    predictor fits (the part refit_null compares with the target). ``element``: element code per input
    (0..E−1); ``weights``: training rows per input; ``input_target``: the measured target per input
    (mean over its rows); ``row_sd``: the measured within-element SD of the target over rows (None
    when every element has one row, as V1's aggregated rows: each input then gets noise with the SD of
    the measured input targets, equal for all).
    """

    refit: Callable[[np.ndarray], np.ndarray]
    element: np.ndarray
    weights: np.ndarray
    input_target: np.ndarray
    row_sd: float | None

    @property
    def n_elements(self) -> int:
        return int(self.element.max()) + 1

    def averaging(self) -> np.ndarray:
        """(E x inputs) M: row-weighted element means."""
        m = np.zeros((self.n_elements, len(self.element)))
        m[self.element, np.arange(len(self.element))] = self.weights
        return m / m.sum(1, keepdims=True)

    def sampling_variance(self) -> np.ndarray | None:
        """(E) σ² / rows of each element mean (None without a row SD: every element alike)."""
        if self.row_sd is None:
            return None
        return self.row_sd**2 / np.bincount(self.element, weights=self.weights, minlength=self.n_elements)

    def broadcasting(self) -> np.ndarray:
        """(inputs x E) C: each element's value on each of its inputs."""
        c = np.zeros((len(self.element), self.n_elements))
        c[np.arange(len(self.element)), self.element] = 1.0
        return c


def check_linear(linear: LinearRefit, rng: np.random.Generator) -> None:
    """Stop with a clear message when the refit is not linear in the target (the simulation rests on it)."""
    a, b = rng.standard_normal((len(linear.element), 1)), rng.standard_normal((len(linear.element), 1))
    together = linear.refit(np.hstack([a, b, 2.0 * a - 3.0 * b]))
    expected = 2.0 * together[:, 0] - 3.0 * together[:, 1]
    scale = max(float(np.abs(together).max()), 1.0)
    if not np.allclose(together[:, 2], expected, atol=LINEARITY_TOLERANCE * scale, rtol=0):
        raise RuntimeError("the trained baseline's refit is not linear in the target, so calibrate cannot simulate "
                           "its refit null through one linear map (stats/refit_calibration.py); simulate it by "
                           "refitting instead, or leave its p withheld")


def refit_pvalues(a: np.ndarray, b: np.ndarray, means: np.ndarray, permutations: np.ndarray,
                  sampling_variance: np.ndarray | None = None) -> np.ndarray:
    """Refit-null p of every replicate (rows of ``means``, n x E; ``b``: n x E) under ``permutations`` (P x E).

    Observed: r(A m + b, m); permuted: r(A m[π] + b, m[π]) (``sampling_variance`` None) or the scaled
    permutation of stats.refit_null.scaled_permuted_means; p = (1 + #{|r_π| ≥ |r|}) / (1 + P), as
    refit_null counts (same tie tolerance through unit_scaled products).
    """
    observed = np.einsum("ne,ne->n", unit_scaled(means @ a.T + b), unit_scaled(means))
    permuted_means = (means[:, permutations] if sampling_variance is None        # (n x P x E)
                      else scaled_permuted_means(means, sampling_variance, permutations))
    permuted = np.einsum("npe,npe->np", unit_scaled(permuted_means @ a.T + b[:, None, :]), unit_scaled(permuted_means))
    n_extreme = np.count_nonzero(np.abs(permuted) >= np.abs(observed)[:, None] - 1e-12, axis=1)
    return np.asarray(permutation_p(n_extreme, len(permutations)))


def simulate_refit_null(linear: LinearRefit, *, n_replicates: int, n_permutations: int, seed: int,
                        scaled: bool = True) -> dict[str, np.ndarray]:
    """Refit-null p of ``n_replicates`` simulated targets under each of REFIT_NULLS (``scaled``: the scaled
    permutation refit_null uses; False: the plain permutation of element means it replaced)."""
    check_linear(linear, derive_rng(seed, "calibration|refit|linearity"))
    to_means, to_inputs = linear.averaging(), linear.broadcasting()
    a = to_means @ linear.refit(to_inputs)                         # (E x E)
    measured_means = to_means @ linear.input_target
    noise_sd = (linear.row_sd / np.sqrt(linear.weights) if linear.row_sd is not None  # an input: mean of its rows
                else np.full(len(linear.element), float(np.std(linear.input_target, ddof=1))))
    e = linear.n_elements
    permutations = element_permutations(e, n_permutations, derive_rng(seed, "calibration|refit|permutations"))
    batch = max(1, REFIT_BATCH_ENTRIES // max(1, n_permutations * e))
    pvalues = {}
    for null in REFIT_NULLS:
        rng = derive_rng(seed, f"calibration|{null}")
        chunks = []
        for start in range(0, n_replicates, batch):
            n = min(batch, n_replicates - start)
            y = rng.standard_normal((len(linear.element), n)) * noise_sd[:, None]   # (inputs x n)
            if null == REFIT_PERMUTED_MEANS:
                order = element_permutations(e, n, rng)                              # (n x E)
                y = y + (measured_means[order] @ to_inputs.T).T
            means = (to_means @ y).T                                                 # (n x E)
            deviations = y - to_inputs @ means.T
            b = (to_means @ linear.refit(deviations)).T                              # (n x E)
            chunks.append(refit_pvalues(a, b, means, permutations, linear.sampling_variance() if scaled else None))
        pvalues[null] = np.concatenate(chunks)
    return pvalues


def refit_calibration(linear: LinearRefit, *, n_replicates: int, n_permutations: int, seed: int,
                      max_elements: int) -> dict[str, object]:
    """training.json's record of the simulation: every null's p-values (calibrate reads them), or why none."""
    common = {"n_replicates": n_replicates, "n_permutations": n_permutations,
              "method": "refit null simulated through its linear map (stats/refit_calibration.py)"}
    if linear.n_elements > max_elements:
        return common | {"extreme_counts": None, "reason": f"{linear.n_elements} elements, more than "
                         f"predictor.calibration_max_elements = {max_elements} (its cost grows as elements² per "
                         "permutation)"}
    pvalues = simulate_refit_null(linear, n_replicates=n_replicates, n_permutations=n_permutations, seed=seed)
    # p = (1 + count) / (1 + permutations): the counts are exact and short in JSON
    counts = {null: np.rint(p * (n_permutations + 1) - 1).astype(int).tolist() for null, p in pvalues.items()}
    return common | {"extreme_counts": counts, "reason": None}


def simulated_pvalues(record: dict) -> dict[str, np.ndarray]:
    """The p-values per null of a training.json refit_calibration record ({} when it was not simulated)."""
    counts = record.get("extreme_counts") or {}
    return {null: np.asarray(permutation_p(np.asarray(c), record["n_permutations"]), dtype=float)
            for null, c in counts.items()}


__all__ = ["refit_calibration", "simulated_pvalues", "REFIT_CALIBRATION", "LinearRefit", "REFIT_ELEMENT_P", "REFIT_NULLS", "simulate_refit_null", "refit_pvalues", "check_linear"]
