"""The family of null scenarios the calibration simulates (one null is not enough).

Every scenario keeps the dataset's own structure (elements, distinct inputs per element, rows per
input, the measured target) and draws one null feature per distinct input,

    x_j = s_e * u_e + b_e * d_j + h_j * eps_j,

with ``d_j = ybar_j - ybar_e`` the input's measured deviation from its element's row mean, so that
the element-mean feature is independent of the element-mean target and the mean within-element
effect over elements is 0 in every scenario. The scenario sets

- ``slope_sd``: per-element slopes ``b_e ~ N(0, slope_sd²)`` (heterogeneity of the true effect);
- ``size_linked_slope``: adds slopes drawn ``N(0, size_linked_slope²)`` per element and sorted so
  that the largest elements (rows) get the largest slopes: mean 0 over elements in expectation,
  but a weighting that favours large elements sees a positive effect;
- ``noise``: ``gaussian`` or ``t2`` (Student t, 2 df: infinite variance) for ``u_e`` and ``eps_j``;
- ``deviation_noise`` κ in [0, 1]: ``h_j = sqrt(1 − κ + κ d_j² / mean(d²))``, input noise that grows
  with the measured deviation (constant when κ = 0, or when inputs do not vary within elements);
- ``size_variance`` γ: ``s_e² ∝ size_e^γ`` (mean 1 over elements): 1 = variance ∝ size, −1 ∝ 1/size;
- ``outlier``: ``largest`` / ``smallest`` moves that element's target (all its inputs alike) so its
  element mean sits ``outlier_sd`` SD (of the other element means) below / above their mean: one
  high-leverage element (``none``: the target as measured).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

if TYPE_CHECKING:
    from mprabench.stats.calibration import DesignStructure

NOISES = ("gaussian", "t2")
OUTLIERS = ("none", "largest", "smallest")


@dataclass(frozen=True)
class NullScenario:
    """One null of the family (see the module docstring for each field)."""

    name: str
    slope_sd: float
    size_linked_slope: float
    noise: str
    deviation_noise: float
    size_variance: float
    outlier: str
    outlier_sd: float

    def __post_init__(self) -> None:
        if self.noise not in NOISES:
            raise ValueError(f"null {self.name!r}: noise {self.noise!r} is not one of {NOISES}")
        if self.outlier not in OUTLIERS:
            raise ValueError(f"null {self.name!r}: outlier {self.outlier!r} is not one of {OUTLIERS}")
        if not 0.0 <= self.deviation_noise <= 1.0:
            raise ValueError(f"null {self.name!r}: deviation_noise {self.deviation_noise} is outside [0, 1]")


def draw_noise(noise: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Standard normal or Student t (2 df) draws."""
    return rng.standard_normal(shape) if noise == "gaussian" else rng.standard_t(2.0, shape)


def element_sizes(structure: DesignStructure) -> np.ndarray:
    """Rows (oligos) per element."""
    return np.bincount(structure.input_element, weights=structure.input_rows, minlength=structure.n_elements)


def offset_scales(structure: DesignStructure, gamma: float) -> np.ndarray:
    """Per-element SD of the element offset: variance ∝ size^gamma, mean variance 1."""
    variance = element_sizes(structure) ** gamma
    return np.sqrt(variance / variance.mean())


def noise_scales(structure: DesignStructure, kappa: float) -> np.ndarray:
    """Per-input SD of the input noise: sqrt(1 − κ + κ d² / mean d²) (1 where d is always 0)."""
    centred = structure.input_target - structure.element_target[structure.input_element]
    mean_square = float(np.mean(centred**2))
    if kappa == 0 or mean_square <= 0:
        return np.ones(structure.n_inputs)
    return np.sqrt(1.0 - kappa + kappa * centred**2 / mean_square)


def element_slopes(structure: DesignStructure, scenario: NullScenario, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n x E) per-element within-element slopes of the scenario (mean 0 over elements in expectation)."""
    slopes = rng.normal(0.0, scenario.slope_sd, size=(n, structure.n_elements)) if scenario.slope_sd > 0 else (
        np.zeros((n, structure.n_elements)))
    if scenario.size_linked_slope:
        order = np.argsort(element_sizes(structure), kind="stable")  # smallest element first
        linked = np.sort(rng.normal(0.0, scenario.size_linked_slope, size=(n, structure.n_elements)), axis=1)
        slopes[:, order] += linked
    return slopes


def element_level_signature(scenario: NullScenario) -> tuple:
    """The fields that shape the element means: slopes add exactly 0 to a row-weighted element mean
    (the deviations d_j average 0 over an element's rows), so nulls differing only in slopes share
    the distribution of every between-element statistic."""
    return (scenario.noise, scenario.deviation_noise, scenario.size_variance, scenario.outlier, scenario.outlier_sd)


def simulate_scenario_features(structure: DesignStructure, scenario: NullScenario, n: int,
                               rng: np.random.Generator) -> np.ndarray:
    """(n x J) null features per distinct input under one scenario of the family."""
    e, j = structure.n_elements, structure.n_inputs
    offsets = draw_noise(scenario.noise, (n, e), rng) * offset_scales(structure, scenario.size_variance)
    features = offsets[:, structure.input_element] + draw_noise(scenario.noise, (n, j), rng) * noise_scales(
        structure, scenario.deviation_noise)
    if structure.inputs_vary_within_elements and (scenario.slope_sd > 0 or scenario.size_linked_slope):
        centred = structure.input_target - structure.element_target[structure.input_element]
        features += element_slopes(structure, scenario, n, rng)[:, structure.input_element] * centred
    return features


def element_mean_sd(structure: DesignStructure, scenario: NullScenario, to_means: sparse.csr_matrix) -> np.ndarray:
    """(E) SD of a Gaussian null feature's element mean: the element offset's SD and the input noise's
    contribution sqrt(sum_j w_j² h_j²) (w_j the input's share of its element's rows), added in quadrature."""
    noise_var = to_means.multiply(to_means).T @ noise_scales(structure, scenario.deviation_noise) ** 2
    return np.sqrt(offset_scales(structure, scenario.size_variance) ** 2 + noise_var)


def simulate_scenario_element_means(structure: DesignStructure, scenario: NullScenario, n: int,
                                    to_means: sparse.csr_matrix, rng: np.random.Generator,
                                    sd: np.ndarray | None = None) -> np.ndarray:
    """(n x E) row-weighted element means of null features (slopes add exactly 0 to them).

    Gaussian noise: an element mean is its offset plus the mean of its inputs' noise, independent
    normals, so it is exactly normal with the variance element_mean_sd gives and is drawn as one normal
    per element instead of per input; t2 noise is drawn per input and averaged. ``sd``: element_mean_sd,
    when the caller draws many batches.
    """
    if scenario.noise != "gaussian":
        return simulate_scenario_features(structure, scenario, n, rng) @ to_means
    sd = element_mean_sd(structure, scenario, to_means) if sd is None else sd
    return rng.standard_normal((n, structure.n_elements)) * sd


def with_outlier(structure: DesignStructure, scenario: NullScenario) -> DesignStructure:
    """The structure with the scenario's outlier element moved (unchanged for ``none``)."""
    if scenario.outlier == "none":
        return structure
    sizes = element_sizes(structure)
    element = int(np.argmax(sizes) if scenario.outlier == "largest" else np.argmin(sizes))
    others = np.delete(structure.element_target, element)
    direction = -1.0 if scenario.outlier == "largest" else 1.0
    shift = others.mean() + direction * scenario.outlier_sd * others.std(ddof=1) - structure.element_target[element]
    element_target = structure.element_target.copy()
    element_target[element] += shift
    input_target = structure.input_target + np.where(structure.input_element == element, shift, 0.0)
    return dataclasses.replace(structure, input_target=input_target, element_target=element_target)


__all__ = ["NullScenario", "NOISES", "OUTLIERS", "simulate_scenario_features", "with_outlier", "element_sizes", "simulate_scenario_element_means",
           "element_mean_sd", "element_level_signature"]
