"""Calibration by simulation: null predictions with the dataset's own structure.

Every replicate draws one null feature per distinct model input,
``x_j = u_e + b_e * (ybar_j - ybar_e) + eps_j``, with ``u_e, eps_j ~ N(0, 1)`` and, where
inputs vary within elements, an element-specific within-element slope ``b_e ~ N(0, slope_sd²)``
(mean 0: elements differ in their true effect, but on average there is none). ``ybar_j`` is the
mean target over the input's rows and ``ybar_e`` the element's row mean, so the element-mean
feature stays independent of the element-mean target: every between-element null is true, and
the random-effects within-element null (mean effect 0) is true. The real target is kept fixed.

Every test statistic the summary reports is computed for all replicates at once (matrix
products, no per-replicate pandas) with exactly the functions evaluate uses, and its rejection
rate at ``alpha`` and the coverage of each CI are returned with Monte-Carlo standard errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mprabench.headline import (
    ELEMENT_BONFERRONI_SIGNIFICANT,
    ELEMENT_P,
    ELEMENT_R_CI,
    WITHIN_ELEMENT_P,
    WITHIN_ELEMENT_R_CI,
    null_checks,
)
from mprabench.schema import (
    CALIBRATION_ALPHA,
    CALIBRATION_CI_LEVEL,
    CALIBRATION_FLAGS,
    CALIBRATION_INTERVALS,
    CALIBRATION_N_REPLICATES,
    CALIBRATION_TESTS,
    ELEMENT_ID,
    INPUT_SHA256,
    TF_LABELS,
)
from mprabench.stats.clustered import (
    MIN_ELEMENTS_FISHER_Z,
    MIN_PERMUTATION_ELEMENTS,
    element_permutations,
    fisher_z_interval,
    grouped_pearson_r,
    permutation_pvalues,
    unit_scaled,
)
from mprabench.stats.rng import derive_rng
from mprabench.stats.within_element import (
    MIN_POOLED_ELEMENTS,
    RandomEffectsPool,
    pool_fisher_z,
)

# Strata defined by an element attribute: their element-aware p is the element permutation p.
# Element attributes whose strata evaluate tests between elements: kind -> rows column
ELEMENT_STRATUM_KINDS = {"strand": "strand", "chrom": "chrom", "class": "element_class"}
MIN_STRATUM_ELEMENTS = MIN_PERMUTATION_ELEMENTS

# Replicates simulated per batch: bounds memory at (batch x distinct inputs) floats.
REPLICATE_BATCH = 250


@dataclass(frozen=True)
class DesignStructure:
    """What the simulation keeps from the data: elements, inputs per element, rows per input, target."""

    input_element: np.ndarray    # element code of each distinct input (J)
    input_rows: np.ndarray       # rows per distinct input (J)
    input_target: np.ndarray     # mean target over the input's rows (J)
    element_target: np.ndarray   # row mean of the target per element (E)
    element_strata: dict[str, np.ndarray]  # kind (strand, chrom) -> label per element (E)
    input_labels: dict[str, np.ndarray]    # TF label -> which inputs carry it (J), where inputs vary
    n_rows: int

    @property
    def n_elements(self) -> int:
        return len(self.element_target)

    @property
    def n_inputs(self) -> int:
        return len(self.input_element)

    @property
    def inputs_per_element(self) -> np.ndarray:
        return np.bincount(self.input_element, minlength=self.n_elements)

    @property
    def inputs_vary_within_elements(self) -> bool:
        return bool((self.inputs_per_element > 1).any())

    def label(self) -> str:
        """v3-like when inputs vary within elements, else v2-like (one input per element)."""
        return "within-element inputs" if self.inputs_vary_within_elements else "one input per element"


def design_structure(rows: pd.DataFrame, target: str) -> DesignStructure:
    """The structure of a rows table (element_id, input_sha256, target; strand, chrom, tf_labels if present)."""
    element_ids, element_code = np.unique(rows[ELEMENT_ID].astype(str).to_numpy(), return_inverse=True)
    frame = pd.DataFrame({"element": element_code, "input": rows[INPUT_SHA256].to_numpy(),
                          "y": rows[target].to_numpy(float)})
    inputs = frame.groupby("input", sort=True).agg(element=("element", "first"), rows=("y", "size"),
                                                   y=("y", "mean"), n_elements=("element", "nunique"))
    if (inputs["n_elements"] > 1).any():
        raise ValueError("an input is shared by several elements; the element is no longer the unit of replication")
    element_target = frame.groupby("element")["y"].mean().to_numpy()
    # a label-less element (no coordinates, no class) is in no stratum, as in evaluate
    element_strata = {kind: rows.groupby(element_code)[column].first().astype(object).to_numpy()
                      for kind, column in ELEMENT_STRATUM_KINDS.items() if column in rows and rows[column].notna().any()}
    labels: dict[str, np.ndarray] = {}
    if TF_LABELS in rows and (inputs["element"].value_counts() > 1).any():
        members = pd.DataFrame({"input": rows[INPUT_SHA256].to_numpy(), "label": rows[TF_LABELS].to_numpy()})
        members = members.explode("label").dropna().drop_duplicates()
        for label, group in members.groupby("label"):
            labels[str(label)] = inputs.index.isin(group["input"])
    return DesignStructure(inputs["element"].to_numpy(np.int64), inputs["rows"].to_numpy(np.int64),
                           inputs["y"].to_numpy(float), element_target, element_strata, labels, len(rows))


@dataclass(frozen=True)
class SimulationSettings:
    n_replicates: int
    n_permutations: int
    alpha: float
    ci_level: float
    within_slope_sd: float
    min_elements_ci: int
    n_primary_features: int
    seed: int
    # Distinct inputs an element needs for a within-element r: within_element.min_within_inputs(
    # evaluate.min_unique_inputs), the rule evaluate applies.
    min_within_inputs: int


def simulate_null_features(structure: DesignStructure, n: int, slope_sd: float, rng: np.random.Generator) -> np.ndarray:
    """(n x J) null features per distinct input (see module docstring)."""
    e, j = structure.n_elements, structure.n_inputs
    centred = structure.input_target - structure.element_target[structure.input_element]
    features = rng.standard_normal((n, e))[:, structure.input_element] + rng.standard_normal((n, j))
    if structure.inputs_vary_within_elements and slope_sd > 0:
        slopes = rng.normal(0.0, slope_sd, size=(n, e))
        features += slopes[:, structure.input_element] * centred
    return features


def element_mean_matrix(structure: DesignStructure) -> np.ndarray:
    """(J x E) matrix mapping input features to element means over rows."""
    weights = np.zeros((structure.n_inputs, structure.n_elements))
    rows_per_element = np.bincount(structure.input_element, weights=structure.input_rows, minlength=structure.n_elements)
    weights[np.arange(structure.n_inputs), structure.input_element] = structure.input_rows / rows_per_element[structure.input_element]
    return weights


def element_indicator(structure: DesignStructure, used: np.ndarray, inputs: np.ndarray | None = None) -> np.ndarray:
    """(J x k) 0/1 matrix: input j belongs to used element i (and to the ``inputs`` mask, if given)."""
    indicator = np.zeros((structure.n_inputs, structure.n_elements))
    indicator[np.arange(structure.n_inputs), structure.input_element] = 1.0
    if inputs is not None:
        indicator[~inputs] = 0.0
    return indicator[:, used]


def correlations_over_columns(structure: DesignStructure, features: np.ndarray, indicator: np.ndarray) -> np.ndarray:
    """(n x columns) Pearson r of features vs input target over the inputs of each indicator column."""
    return grouped_pearson_r(features, structure.input_target, indicator)


def within_element_correlations(structure: DesignStructure, features: np.ndarray, used: np.ndarray,
                                inputs: np.ndarray | None = None) -> np.ndarray:
    """(n x k) Pearson r over the distinct inputs (all, or the ``inputs`` mask) of each used element."""
    return correlations_over_columns(structure, features, element_indicator(structure, used, inputs))


def rate_with_mcse(hits: np.ndarray) -> dict[str, float]:
    """Proportion of True and its binomial Monte-Carlo standard error."""
    rate = float(np.mean(hits))
    return {"rate": rate, "mcse": float(np.sqrt(rate * (1 - rate) / len(hits)))}


@dataclass
class CalibrationResult:
    structure: DesignStructure
    settings: SimulationSettings
    pvalues: dict[str, np.ndarray]          # test key -> p per replicate
    covered: dict[str, np.ndarray]          # interval key -> covered per replicate
    flags: dict[str, np.ndarray]            # flag key -> raised per replicate
    not_estimable: dict[str, str]

    def to_dict(self, structure_name: str) -> dict[str, Any]:
        """metrics/calibration.json: type-I rate and coverage, with Monte-Carlo SE, of every simulated statistic."""
        s = self.settings
        tests = {}
        for key, p in self.pvalues.items():
            r = rate_with_mcse(p <= s.alpha)
            tests[key] = {"type_I": r["rate"], "mcse": r["mcse"]}
        intervals = {}
        for key, covered in self.covered.items():
            r = rate_with_mcse(covered)
            intervals[key] = {"coverage": r["rate"], "mcse": r["mcse"]}
        flags = {}
        for key, raised in self.flags.items():
            r = rate_with_mcse(raised)
            flags[key] = {"rate": r["rate"]}
        return {
            "structure": structure_name, CALIBRATION_N_REPLICATES: s.n_replicates, CALIBRATION_ALPHA: s.alpha,
            CALIBRATION_CI_LEVEL: s.ci_level, CALIBRATION_TESTS: tests, CALIBRATION_INTERVALS: intervals,
            CALIBRATION_FLAGS: flags,
            # Numbers only, and few: `dvc metrics diff` must stay within 100 readable rows over all
            # metrics files. The design is summary.json's `design`; the simulation settings are
            # params; the tests not simulated (not estimable here) are logged by the stage.
        }


def element_attribute_strata(structure: DesignStructure) -> dict[str, list[np.ndarray]]:
    """Per kind, the element masks of its strata with enough elements for a permutation p."""
    strata = {}
    for kind, labels in structure.element_strata.items():
        masks = [labels == label for label in sorted(pd.unique(labels[pd.notna(labels)]))]
        strata[kind] = [m for m in masks if m.sum() >= MIN_STRATUM_ELEMENTS]
    return {kind: masks for kind, masks in strata.items() if masks}


def tf_strata(structure: DesignStructure, min_inputs: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per TF label (inputs varying within elements only): input mask, used elements, inputs per used element."""
    strata = {}
    for label, inputs in structure.input_labels.items():
        per_element = np.bincount(structure.input_element[inputs], minlength=structure.n_elements)
        used = per_element >= min_inputs
        if used.sum() >= MIN_POOLED_ELEMENTS:
            strata[label] = (inputs, used, per_element[used])
    return strata


def pooled_within_p(structure: DesignStructure, features: np.ndarray, used: np.ndarray, per_element: np.ndarray,
                    inputs: np.ndarray | None = None, pooling: str = "random_effects") -> tuple[np.ndarray, RandomEffectsPool]:
    """Pooled within-element p of every replicate, as evaluate computes it (same pooling function)."""
    r = within_element_correlations(structure, features, used, inputs)
    pool = pool_fisher_z(np.arctanh(np.clip(r, -1 + 1e-12, 1 - 1e-12)), per_element, pooling)
    return pool.p, pool


def calibrate(structure: DesignStructure, settings: SimulationSettings) -> CalibrationResult:
    """Simulate ``n_replicates`` null features and evaluate every reported test on each.

    Strata p-values are pooled per kind (``strata_<kind>_p``: the rejection rate over all
    estimable strata and replicates), so that calibration.json stays small.
    """
    s = settings
    rng = derive_rng(s.seed, "calibration")
    e = structure.n_elements
    to_means = element_mean_matrix(structure)
    zy = unit_scaled(structure.element_target)
    permutations = element_permutations(e, s.n_permutations, derive_rng(s.seed, "calibration|permutations"))
    element_strata = element_attribute_strata(structure)
    strata_perms = {(kind, i): element_permutations(int(m.sum()), s.n_permutations,
                                                     derive_rng(s.seed, f"calibration|{kind}|{i}"))
                    for kind, masks in element_strata.items() for i, m in enumerate(masks)}
    used = structure.inputs_per_element >= s.min_within_inputs
    within = structure.inputs_vary_within_elements and used.sum() >= MIN_POOLED_ELEMENTS
    labels = tf_strata(structure, s.min_within_inputs) if within else {}
    label_indicator, label_columns, start_column = None, [], 0
    if labels:
        blocks = [element_indicator(structure, used_l, inputs) for inputs, used_l, _ in labels.values()]
        label_indicator = np.concatenate(blocks, axis=1)
        for block, (_, _, per_element) in zip(blocks, labels.values()):
            label_columns.append((start_column, start_column + block.shape[1], per_element))
            start_column += block.shape[1]
    pvalues: dict[str, list[np.ndarray]] = {ELEMENT_P: []}
    covered: dict[str, list[np.ndarray]] = {ELEMENT_R_CI: []}
    not_estimable: dict[str, str] = {}
    if within:
        pvalues[WITHIN_ELEMENT_P], covered[WITHIN_ELEMENT_R_CI] = [], []
    else:
        not_estimable[WITHIN_ELEMENT_P] = not_estimable[WITHIN_ELEMENT_R_CI] = "model inputs do not vary within elements"
        not_estimable["strata_tf_p"] = "the TF perturbation never reaches the model (inputs do not vary within elements)"
    for kind in element_strata:
        pvalues[f"strata_{kind}_p"] = []
    if labels:
        pvalues["strata_tf_p"] = []
    if within:
        pvalues["strata_element_p"] = []
    ci_ok = e >= max(s.min_elements_ci, MIN_ELEMENTS_FISHER_Z)
    if not ci_ok:
        not_estimable[ELEMENT_R_CI] = f"fewer than {s.min_elements_ci} elements"
        covered.pop(ELEMENT_R_CI)
    for start in range(0, s.n_replicates, REPLICATE_BATCH):
        n = min(REPLICATE_BATCH, s.n_replicates - start)
        features = simulate_null_features(structure, n, s.within_slope_sd, rng)
        means = features @ to_means
        zx = unit_scaled(means)
        pvalues[ELEMENT_P].append(permutation_pvalues(zx, zy, permutations))
        if ci_ok:
            low, high = fisher_z_interval(zx @ zy, e, s.ci_level)
            covered[ELEMENT_R_CI].append((low <= 0) & (high >= 0))
        for kind, masks in element_strata.items():
            for i, mask in enumerate(masks):
                p = permutation_pvalues(unit_scaled(means[:, mask]), unit_scaled(structure.element_target[mask]),
                                        strata_perms[(kind, i)])
                pvalues[f"strata_{kind}_p"].append(p)
        if within:
            p, pool = pooled_within_p(structure, features, used, structure.inputs_per_element[used])
            pvalues[WITHIN_ELEMENT_P].append(p)
            low, high = pool.interval(s.ci_level)
            covered[WITHIN_ELEMENT_R_CI].append((low <= 0) & (high >= 0))
            # An element stratum tests that one element's own effect: its null needs slope 0 in that element.
            flat = simulate_null_features(structure, n, 0.0, rng)
            r = within_element_correlations(structure, flat, used)
            df = structure.inputs_per_element[used] - 2
            t = r * np.sqrt(df / (1 - r * r))
            pvalues["strata_element_p"].append((2 * stats.t.sf(np.abs(t), df)).ravel())
            if labels:  # all labels' element columns in one product: one pass over the features
                r_labels = correlations_over_columns(structure, features, label_indicator)
                for start_column, stop_column, per_element in label_columns:
                    z = np.arctanh(np.clip(r_labels[:, start_column:stop_column], -1 + 1e-12, 1 - 1e-12))
                    pvalues["strata_tf_p"].append(pool_fisher_z(z, per_element, "t_test").p)
    p_arrays = {k: np.concatenate(v) for k, v in pvalues.items()}
    flags = {ELEMENT_BONFERRONI_SIGNIFICANT: p_arrays[ELEMENT_P] <= s.alpha / max(1, s.n_primary_features)}
    result = CalibrationResult(structure, s, p_arrays, {k: np.concatenate(v) for k, v in covered.items()},
                               flags, not_estimable)
    require_headline_nulls(result)
    return result


def require_headline_nulls(result: CalibrationResult) -> None:
    """Every headline statistic's null (mprabench.headline) is simulated or said to be not estimable."""
    simulated = {CALIBRATION_TESTS: result.pvalues, CALIBRATION_INTERVALS: result.covered,
                 CALIBRATION_FLAGS: result.flags}
    missing = [f"{check.kind}.{check.key}" for check in null_checks()
               if check.key not in simulated[check.kind] and check.key not in result.not_estimable]
    if missing:
        raise RuntimeError(f"calibrate simulates no null for the headline statistic(s) {missing}: add their "
                           "simulation to stats/calibration.calibrate (the headline contract, mprabench/headline.py)")


@dataclass(frozen=True)
class CalibrationMiss:
    """One simulated rate outside its tolerance: ``kind`` is "type I" or "coverage"."""

    key: str
    kind: str
    rate: float
    mcse: float | None
    nominal: float


def calibration_misses(result: dict[str, Any], type_i_tolerance: float, coverage_tolerance: float) -> list[CalibrationMiss]:
    """Every type-I rate and coverage of a calibration.json dict that is outside its tolerance
    (evaluate.calibration.type_i_tolerance and coverage_tolerance: the report's verdict)."""
    misses = []
    alpha, level = result[CALIBRATION_ALPHA], result[CALIBRATION_CI_LEVEL]
    for key, test in (result.get(CALIBRATION_TESTS) or {}).items():
        if abs(test["type_I"] - alpha) > type_i_tolerance:
            misses.append(CalibrationMiss(key, "type I", test["type_I"], test.get("mcse"), alpha))
    for key, interval in (result.get(CALIBRATION_INTERVALS) or {}).items():
        if abs(interval["coverage"] - level) > coverage_tolerance:
            misses.append(CalibrationMiss(key, "coverage", interval["coverage"], interval.get("mcse"), level))
    return misses


def uniform_quantiles(n: int) -> np.ndarray:
    """Expected order statistics of n uniforms, for QQ plots."""
    return (np.arange(1, n + 1) - 0.5) / n


__all__ = ["DesignStructure", "SimulationSettings", "CalibrationResult", "design_structure", "calibrate",
           "simulate_null_features", "calibration_misses", "uniform_quantiles"]
