"""Calibration by simulation: null predictions with the dataset's own structure, under a family of nulls.

One null is not enough: a test can hold where feature values are exchangeable and fail when the
true within-element effect varies by element, when noise is heavy-tailed or grows with the measured
deviation, when feature variance follows element size, or when one element has high leverage. The
family (stats/null_family.py, listed in evaluate.calibration.nulls) covers these; in every null the
real target is kept (or one element moved, for leverage), every between-element null is true, and
the mean within-element effect over elements is 0.

Every test statistic evaluate reports is computed for all replicates at once (matrix products,
no per-replicate pandas) with the same functions evaluate uses. calibration.json gives, per
statistic, its worst type-I rate / coverage over the family with its Monte-Carlo SE and the null
where it happened; the detail file gives every null's rate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy import sparse, stats
from threadpoolctl import threadpool_limits

from mprabench.schema import (
    CALIBRATION_ALPHA,
    CALIBRATION_CI_LEVEL,
    CALIBRATION_FAMILYWISE,
    CALIBRATION_FLAGS,
    CALIBRATION_INTERVALS,
    CALIBRATION_N_NULLS,
    CALIBRATION_N_REPLICATES,
    CALIBRATION_TESTS,
    CALIBRATION_WORST_NULLS,
    ELEMENT_BONFERRONI_SIGNIFICANT,
    ELEMENT_ID,
    ELEMENT_P,
    ELEMENT_R_CI,
    ELEMENT_SPEARMAN_P,
    INPUT_SHA256,
    SPEARMAN_RHO_CI,
    STRATA_ELEMENT_BH,
    STRATA_ELEMENT_P,
    TF_LABELS,
    WITHIN_ELEMENT_P,
    WITHIN_ELEMENT_R_CI,
)
from mprabench.stats.clustered import (
    MIN_ELEMENTS_FISHER_Z,
    MIN_PERMUTATION_ELEMENTS,
    PERMUTATION_TIE_TOLERANCE,
    element_permutations,
    fisher_z_interval,
    permutation_pvalues,
)
from mprabench.stats.calibration_verdict import calibration_misses, worst_nulls
from mprabench.stats.null_family import (
    NullScenario,
    element_level_signature,
    element_mean_sd,
    simulate_scenario_element_means,
    simulate_scenario_features,
    with_outlier,
)
from mprabench.stats.pearson import grouped_pearson_r, pearson_from_sums, unit_scaled
from mprabench.stats.leverage import spearman_interval
from mprabench.stats.permutation_normal import normal_limit_p, uses_normal_limit
from mprabench.stats.rng import derive_rng
from mprabench.stats.robust_correlation import robust_p
from mprabench.stats.within_element import (
    MAX_ABS_R,
    MIN_POOLED_ELEMENTS,
    WITHIN_POOLING,
    RandomEffectsPool,
    pool_fisher_z,
)

# Candidate tests (detail file only): the ones the reported tests were chosen against.
WITHIN_ELEMENT_P_RANDOM_EFFECTS = "within_element_p_random_effects"
STRATA_ELEMENT_P_PEARSON = "strata_element_p_pearson"

# Strata defined by an element attribute: their element-aware p is the element permutation p.
# Element attributes whose strata evaluate tests between elements: kind -> rows column
ELEMENT_STRATUM_KINDS = {"strand": "strand", "chrom": "chrom", "class": "element_class"}
MIN_STRATUM_ELEMENTS = MIN_PERMUTATION_ELEMENTS

# Replicates simulated per batch: bounds memory at (batch x distinct inputs) floats.
REPLICATE_BATCH = 250
# Where only element means are drawn (means_batch_rows), a batch holds at most this many floats (16 MB):
# with ~98,000 elements a 250-replicate batch is a 200 MB array per step, and each fresh array of that
# size is mapped and page-faulted anew (a third of calibrate's time was spent in the kernel); arrays of
# this size are reused by the allocator instead.
MEANS_BATCH_ENTRIES = 2**21


def means_batch_rows(n_elements: int) -> int:
    """Replicates per batch where only element means are drawn: REPLICATE_BATCH, fewer with many elements."""
    return max(1, min(REPLICATE_BATCH, MEANS_BATCH_ENTRIES // max(1, n_elements)))


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
    nulls: tuple[NullScenario, ...]
    min_elements_ci: int
    n_primary_features: int
    seed: int
    # Distinct inputs an element needs for a within-element r: within_element.min_within_inputs(
    # evaluate.min_unique_inputs), the rule evaluate applies.
    min_within_inputs: int
    # Above this many elements a permutation p is its normal limit, in evaluate and here
    # (evaluate.permutation_normal_above_elements; stats/permutation_normal.py).
    normal_above_elements: int
    # Threads the nulls are simulated on (the stage: the CPUs it may use); the numbers do not depend on it.
    workers: int = 1


@dataclass(frozen=True)
class ElementNullBatch:
    """A batch of null replicates' element means: what a headline statistic that brings its own null
    simulation (headline.NullCheck.simulate) is computed from, one value per replicate."""

    means: np.ndarray           # (replicates x E) element means of the null features
    element_target: np.ndarray  # (E) the measured element means of the target
    permutations: np.ndarray | None  # (P x E) the element permutation p's permutations (None: its normal limit)
    alpha: float
    ci_level: float
    rng: np.random.Generator    # the statistic's own seeded stream under this null


class HeadlineNull(Protocol):
    """A headline statistic's null check (headline.NullCheck): ``calibration.json[kind][key]``."""

    kind: str
    key: str
    simulate: Callable[[ElementNullBatch], np.ndarray] | None


def element_mean_matrix(structure: DesignStructure) -> sparse.csr_matrix:
    """(J x E) sparse matrix mapping input features to element means over rows (one entry per input:
    dense, 196,664 inputs x 98,332 elements would not fit)."""
    rows_per_element = np.bincount(structure.input_element, weights=structure.input_rows, minlength=structure.n_elements)
    share = structure.input_rows / rows_per_element[structure.input_element]
    return sparse.csr_matrix((share, (np.arange(structure.n_inputs), structure.input_element)),
                             shape=(structure.n_inputs, structure.n_elements))


def element_indicator(structure: DesignStructure, used: np.ndarray, inputs: np.ndarray | None = None) -> np.ndarray:
    """(J x k) 0/1 matrix: input j belongs to used element i (and to the ``inputs`` mask, if given)."""
    indicator = np.zeros((structure.n_inputs, structure.n_elements))
    indicator[np.arange(structure.n_inputs), structure.input_element] = 1.0
    if inputs is not None:
        indicator[~inputs] = 0.0
    return indicator[:, used]


def correlations_over_columns(structure: DesignStructure, features: np.ndarray, indicator: Any) -> np.ndarray:
    """(n x columns) Pearson r of features vs input target over the inputs of each indicator column (dense or
    sparse)."""
    return grouped_pearson_r(features, structure.input_target, indicator)


def within_element_correlations(structure: DesignStructure, features: np.ndarray, used: np.ndarray,
                                inputs: np.ndarray | None = None) -> np.ndarray:
    """(n x k) Pearson r over the distinct inputs (all, or the ``inputs`` mask) of each used element."""
    return correlations_over_columns(structure, features, element_indicator(structure, used, inputs))


def rate_with_mcse(hits: np.ndarray) -> dict[str, float]:
    """Proportion of True and its binomial Monte-Carlo standard error."""
    rate = float(np.mean(hits))
    return {"rate": rate, "mcse": float(np.sqrt(rate * (1 - rate) / len(hits)))}


STRATA_ELEMENT_P_PER_ELEMENT = "strata_element_p_at_alpha_over_elements"
# Strata: strand and chrom strata share one method (Spearman rho of element means over the stratum's
# elements, permutation p), so one key.
STRATA_BETWEEN_P = "strata_between_p"
STRATA_TF_P = "strata_tf_p"
STRATA_TF_R_CI = "strata_tf_r_ci"  # the only strata CI the tables give (strand/chrom and element strata: none)
REPORTED_FLAGS = (ELEMENT_BONFERRONI_SIGNIFICANT, STRATA_ELEMENT_BH)
FLAG_MEANINGS = {
    ELEMENT_BONFERRONI_SIGNIFICANT: "the verdict flag raised for any of family_size independent null features "
                                    "(Bonferroni at alpha / family_size): must stay <= alpha",
    STRATA_ELEMENT_BH: "BH over the elements rejects any element (every element null): must stay <= alpha",
    STRATA_ELEMENT_P_PER_ELEMENT: "an element's robust p <= alpha / number of elements (nominal alpha / elements)",
}

# Statistics simulated for the choice of a test but not reported by evaluate: in the detail file only.
CANDIDATE_TESTS = {
    WITHIN_ELEMENT_P_RANDOM_EFFECTS: "within-element p pooled by random effects (PM tau^2, Hartung-Knapp)",
    STRATA_ELEMENT_P_PEARSON: "element stratum p of the Pearson t-test (constant noise assumed)",
}


@dataclass
class ScenarioOutcome:
    """One null of the family: per statistic, the per-replicate rejections / coverage / p / flags."""

    rejected: dict[str, np.ndarray]   # test key -> rejected at alpha per replicate (per element: flattened)
    covered: dict[str, np.ndarray]    # interval key -> covered per replicate
    pvalues: dict[str, np.ndarray]    # test key -> p per replicate (for the QQ figure)
    flags: dict[str, np.ndarray]      # flag key -> raised per replicate (a rate that must stay <= alpha)

    def merged_with_element_level(self, other: ScenarioOutcome, own: tuple[str, ...]) -> ScenarioOutcome:
        """This outcome plus the between-element statistics of ``other`` (same element-level signature);
        ``own``: the keys of the headline statistics simulated from element means by their own function."""
        return ScenarioOutcome(other_first(other.rejected, self.rejected, BETWEEN_TESTS + own),
                               other_first(other.covered, self.covered, BETWEEN_INTERVALS + own),
                               other_first(other.pvalues, self.pvalues, BETWEEN_TESTS + own),
                               other_first(other.flags, self.flags, (ELEMENT_BONFERRONI_SIGNIFICANT, *own)))


def other_first(other: dict[str, np.ndarray], own: dict[str, np.ndarray], keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    shared = {k: v for k, v in other.items() if k in keys or k.startswith(BETWEEN_STRATA_PREFIXES)}
    return shared | own


# Statistics of the element means only (shared by nulls with the same element-level signature).
BETWEEN_TESTS = (ELEMENT_P, ELEMENT_SPEARMAN_P)
BETWEEN_INTERVALS = (ELEMENT_R_CI, SPEARMAN_RHO_CI)
BETWEEN_STRATA_PREFIXES = (STRATA_BETWEEN_P,)


@dataclass(frozen=True)
class Worst:
    """The null of the family farthest from nominal (flags: the highest rate) for one statistic."""

    key: str
    value: float
    mcse: float
    null: str

    def as_dict(self, name: str) -> dict[str, Any]:
        return {name: self.value, "mcse": self.mcse}


def worst_case(key: str, rates: dict[str, dict[str, float]], nominal: float | None) -> Worst:
    """The null whose rate is farthest from nominal (None: the highest rate) among those that simulated it."""
    distance = (lambda n: rates[n]["rate"]) if nominal is None else (lambda n: abs(rates[n]["rate"] - nominal))
    null = max(rates, key=distance)
    return Worst(key, rates[null]["rate"], rates[null]["mcse"], null)


@dataclass
class CalibrationResult:
    structure: DesignStructure
    settings: SimulationSettings
    outcomes: dict[str, ScenarioOutcome]    # null name -> outcome
    not_estimable: dict[str, str]
    reported_flags: tuple[str, ...]         # flags calibration.json reports (the rest: detail file only)

    def rates(self, kind: str) -> dict[str, dict[str, dict[str, float]]]:
        """statistic -> null -> {rate, mcse}; kind: rejected | covered | flags."""
        table: dict[str, dict[str, dict[str, float]]] = {}
        for null, outcome in self.outcomes.items():
            for key, hits in getattr(outcome, kind).items():
                table.setdefault(key, {})[null] = rate_with_mcse(hits)
        return table

    def worst_tests(self) -> dict[str, Worst]:
        return {key: worst_case(key, rates, self.settings.alpha) for key, rates in self.rates("rejected").items()}

    def worst_intervals(self) -> dict[str, Worst]:
        return {key: worst_case(key, rates, self.settings.ci_level) for key, rates in self.rates("covered").items()}

    def worst_flags(self) -> dict[str, Worst]:
        return {key: worst_case(key, rates, None) for key, rates in self.rates("flags").items()
                if key in self.reported_flags}

    def worst_pvalues(self) -> dict[str, np.ndarray]:
        """Per reported test, its p-values in the null where its type-I rate was worst (QQ figure)."""
        return {key: self.outcomes[w.null].pvalues[key] for key, w in self.worst_tests().items()
                if key not in CANDIDATE_TESTS}

    def to_dict(self, structure_name: str) -> dict[str, Any]:
        """metrics/calibration.json: per statistic the worst type-I rate / coverage over the null family,
        its Monte-Carlo SE and the null where it happened; the highest rate of each flag."""
        s = self.settings
        sections = {CALIBRATION_TESTS: {k: w for k, w in self.worst_tests().items() if k not in CANDIDATE_TESTS},
                    CALIBRATION_INTERVALS: self.worst_intervals(), CALIBRATION_FLAGS: self.worst_flags()}
        measure = {CALIBRATION_TESTS: "type_I", CALIBRATION_INTERVALS: "coverage", CALIBRATION_FLAGS: CALIBRATION_FAMILYWISE}
        nulls = "; ".join(f"{section}.{k}={w.null}" for section, worst in sections.items() for k, w in worst.items())
        return {
            CALIBRATION_ALPHA: s.alpha, CALIBRATION_CI_LEVEL: s.ci_level,
            **{section: {k: w.as_dict(measure[section]) for k, w in worst.items()} for section, worst in sections.items()},
            CALIBRATION_WORST_NULLS: nulls,
            # Few rows: `dvc metrics diff` must stay within 100 readable rows over all metrics files.
            # Every null's rates, the nulls and the replicate count are in the detail file (details_dict).
        }

    def details_dict(self, structure_name: str) -> dict[str, Any]:
        """The detail file: every statistic's rate under every null of the family, and the nulls themselves."""
        return {
            "structure": structure_name, CALIBRATION_N_REPLICATES: self.settings.n_replicates,
            CALIBRATION_N_NULLS: len(self.outcomes), CALIBRATION_ALPHA: self.settings.alpha, "family_size": self.settings.n_primary_features,
            "nulls": [asdict(n) for n in self.settings.nulls],
            "type_I": self.rates("rejected"), "coverage": self.rates("covered"), "flag_rates": self.rates("flags"),
            "flag_meaning": FLAG_MEANINGS, "candidate_tests": CANDIDATE_TESTS, "not_simulated": self.not_estimable,
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
                    inputs: np.ndarray | None = None, *, pooling: str) -> tuple[np.ndarray, RandomEffectsPool]:
    """Pooled within-element p of every replicate, as evaluate computes it (same pooling function)."""
    r = within_element_correlations(structure, features, used, inputs)
    pool = pool_fisher_z(np.arctanh(np.clip(r, -MAX_ABS_R, MAX_ABS_R)), per_element, pooling)
    return pool.p, pool


def any_benjamini_hochberg(p: np.ndarray, alpha: float) -> np.ndarray:
    """Per row of p (replicates x tests): does BH at alpha reject any test? (some p_(i) <= i alpha / k)."""
    ordered = np.sort(p, axis=1)
    k = p.shape[1]
    return (ordered <= alpha * np.arange(1, k + 1) / k).any(axis=1)


@dataclass(frozen=True)
class ElementColumns:
    """Each used element's inputs as one column: the input-level centred target and its powers."""

    indicator: np.ndarray       # (J x k) 0/1
    centred: np.ndarray         # (J) input target minus the unweighted mean over its element's inputs
    m: np.ndarray               # (k) distinct inputs per used element

    @classmethod
    def of(cls, structure: DesignStructure, used: np.ndarray) -> ElementColumns:
        indicator = element_indicator(structure, used)
        m = indicator.sum(0)
        element_mean = np.bincount(structure.input_element, weights=structure.input_target,
                                   minlength=structure.n_elements) / np.maximum(structure.inputs_per_element, 1)
        return cls(indicator, structure.input_target - element_mean[structure.input_element], m)

    def robust_and_pearson_p(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n x k) p of the robust score test and of the Pearson t-test, per used element."""
        y2 = self.indicator * (self.centred**2)[:, None]
        sxy = features @ (self.indicator * self.centred[:, None])
        sx, sxx, syy = features @ self.indicator, (features * features) @ self.indicator, y2.sum(0)
        mean_x = sx / self.m
        cross_squares = (features * features) @ y2 - 2 * mean_x * (features @ y2) + mean_x**2 * syy
        r = pearson_from_sums(self.m, sx, 0.0, sxx, syy, sxy)  # the target is centred within each element: Σy = 0
        df = self.m - 2
        pearson = 2 * stats.t.sf(np.abs(r * np.sqrt(df / (1 - r * r))), df)
        return robust_p(sxy, cross_squares, self.m), pearson


@dataclass(frozen=True)
class Plan:
    """What does not change between nulls: permutations, strata masks, indicators."""

    # None above normal_above_elements elements: the p is the normal limit (no permutations drawn)
    permutations: np.ndarray | None
    spearman_null: np.ndarray | None
    element_strata: dict[str, list[np.ndarray]]
    strata_spearman_nulls: dict[tuple[str, int], np.ndarray | None]
    used: np.ndarray
    within: bool
    labels: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    label_indicator: Any                      # sparse (J x columns) or None
    label_columns: list[tuple[int, int, np.ndarray]]
    ci_ok: bool


def make_plan(structure: DesignStructure, s: SimulationSettings) -> Plan:
    e = structure.n_elements
    element_strata = element_attribute_strata(structure)
    strata_nulls = {(kind, i): None if uses_normal_limit(int(m.sum()), s.normal_above_elements) else spearman_null(
                        int(m.sum()), element_permutations(int(m.sum()), s.n_permutations,
                                                           derive_rng(s.seed, f"calibration|{kind}|{i}")))
                    for kind, masks in element_strata.items() for i, m in enumerate(masks)}
    used = structure.inputs_per_element >= s.min_within_inputs
    within = structure.inputs_vary_within_elements and used.sum() >= MIN_POOLED_ELEMENTS
    labels = tf_strata(structure, s.min_within_inputs) if within else {}
    label_indicator, label_columns, start_column = None, [], 0
    if labels:
        blocks = [element_indicator(structure, used_l, inputs) for inputs, used_l, _ in labels.values()]
        # Sparse: each input carries few labels, so the label columns are mostly zeros.
        label_indicator = sparse.csc_matrix(np.concatenate(blocks, axis=1))
        for block, (_, _, per_element) in zip(blocks, labels.values()):
            label_columns.append((start_column, start_column + block.shape[1], per_element))
            start_column += block.shape[1]
    permutations = None if uses_normal_limit(e, s.normal_above_elements) else element_permutations(
        e, s.n_permutations, derive_rng(s.seed, "calibration|permutations"))
    return Plan(permutations, None if permutations is None else spearman_null(e, permutations), element_strata, strata_nulls, used, within, labels, label_indicator, label_columns,
                e >= max(s.min_elements_ci, MIN_ELEMENTS_FISHER_Z))


def spearman_null(n_elements: int, permutations: np.ndarray) -> np.ndarray:
    """Sorted |rho| of the ranks 1..E against each permutation of them.

    Without ties Spearman's permutation distribution is the same for every feature, so this one
    sorted null gives each replicate the p evaluate computes with its own random permutations.
    """
    ranks = unit_scaled(np.arange(n_elements, dtype=float))
    return np.sort(np.abs(ranks[permutations] @ ranks))


def spearman_rho_rows(means: np.ndarray, element_target: np.ndarray) -> np.ndarray:
    """Spearman's rho of every row of ``means`` (simulated, continuous: no ties) against the target means.

    One argsort per row (spearman_rho_of_order); rankdata's tie handling would double the cost (with
    thousands of elements the ranking is most of calibrate's time) for ties that cannot occur.
    """
    return spearman_rho_of_order(np.argsort(means, axis=1), scaled_ranks(element_target))


def scaled_ranks(values: np.ndarray) -> np.ndarray:
    """Unit-scaled ranks (ties: mid-ranks) of the target means: computed once per null, not per batch."""
    return unit_scaled(stats.rankdata(values))


def spearman_rho_of_order(order: np.ndarray, target_ranks: np.ndarray) -> np.ndarray:
    """Spearman's rho of rows whose argsort is ``order`` (no ties) against the target whose unit-scaled ranks
    are ``target_ranks`` (c): rho = sum_j s_j c[order_j], with s the unit-scaled ranks 1..E."""
    return target_ranks[order] @ unit_scaled(np.arange(order.shape[1], dtype=float))


def stratum_order(order: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The argsort of each row restricted to the stratum's elements (``mask``), as indices into the stratum,
    from the argsort of the whole row: the stratum's elements keep their relative order in the whole row's
    sorted order, so a second sort per stratum is not needed (the same ranks, hence the same rho)."""
    in_stratum = np.cumsum(mask) - 1  # an element's index among the stratum's elements
    return in_stratum[order[mask[order]].reshape(len(order), int(mask.sum()))]


def spearman_pvalues(means: np.ndarray, element_target: np.ndarray, null: np.ndarray | None,
                     rho: np.ndarray | None = None) -> np.ndarray:
    """Two-sided permutation p of Spearman's rho of every row of ``means`` against the target means
    (``null`` None: the normal limit of its permutation distribution, as evaluate above that many elements;
    ``rho``: already computed by spearman_rho_rows)."""
    rho = spearman_rho_rows(means, element_target) if rho is None else rho
    return spearman_p_of_rho(rho, means.shape[1], null)


def spearman_p_of_rho(rho: np.ndarray, n_elements: int, null: np.ndarray | None) -> np.ndarray:
    """Two-sided p of Spearman's rho over ``n_elements``: permutation p against the sorted |rho| ``null``,
    or (None) its normal limit."""
    if null is None:
        return normal_limit_p(rho, n_elements)
    n_extreme = len(null) - np.searchsorted(null, np.abs(rho) - PERMUTATION_TIE_TOLERANCE, side="left")
    return (1 + n_extreme) / (1 + len(null))


def slopes_free(scenario: NullScenario) -> bool:
    """No within-element slope in any element: each element's own null holds (its stratum test is a null)."""
    return scenario.slope_sd == 0 and scenario.size_linked_slope == 0


@dataclass
class Accumulator:
    """Per-batch arrays of one null, concatenated at the end."""

    p: dict[str, list[np.ndarray]] = field(default_factory=dict)
    covered: dict[str, list[np.ndarray]] = field(default_factory=dict)
    flags: dict[str, list[np.ndarray]] = field(default_factory=dict)

    @staticmethod
    def add(table: dict[str, list[np.ndarray]], key: str, values: np.ndarray) -> None:
        table.setdefault(key, []).append(values)

    def outcome(self, alpha: float) -> ScenarioOutcome:
        pvalues = {k: np.concatenate(v) for k, v in self.p.items()}
        return ScenarioOutcome({k: v <= alpha for k, v in pvalues.items()},
                               {k: np.concatenate(v) for k, v in self.covered.items()}, pvalues,
                               {k: np.concatenate(v) for k, v in self.flags.items()})


def target_ranks(structure: DesignStructure, plan: Plan) -> dict[tuple[str, int] | None, np.ndarray]:
    """scaled_ranks of the target means over all elements (key None) and over each element stratum."""
    ranks: dict[tuple[str, int] | None, np.ndarray] = {None: scaled_ranks(structure.element_target)}
    for kind, masks in plan.element_strata.items():
        ranks |= {(kind, i): scaled_ranks(structure.element_target[mask]) for i, mask in enumerate(masks)}
    return ranks


def element_level_batch(acc: Accumulator, structure: DesignStructure, s: SimulationSettings, plan: Plan,
                        means: np.ndarray, own: dict[HeadlineNull, np.random.Generator],
                        ranks: dict[tuple[str, int] | None, np.ndarray]) -> None:
    """The between-element statistics of one batch of replicates' element means, then those headline
    statistics that bring their own simulation (``own``: each with its random stream); ``ranks``: target_ranks."""
    e = structure.n_elements
    zx, zy = unit_scaled(means), unit_scaled(structure.element_target)
    acc.add(acc.p, ELEMENT_P, normal_limit_p(zx @ zy, e) if plan.permutations is None else
            permutation_pvalues(zx, zy, plan.permutations))
    order = np.argsort(means, axis=1)  # the one sort of each replicate: its strata reuse it
    rho = spearman_rho_of_order(order, ranks[None])
    acc.add(acc.p, ELEMENT_SPEARMAN_P, spearman_pvalues(means, structure.element_target, plan.spearman_null, rho))
    if plan.ci_ok:
        low, high = fisher_z_interval(zx @ zy, e, s.ci_level)
        acc.add(acc.covered, ELEMENT_R_CI, (low <= 0) & (high >= 0))
        low, high = spearman_interval(rho, e, s.ci_level)
        acc.add(acc.covered, SPEARMAN_RHO_CI, (low <= 0) & (high >= 0))
    for kind, masks in plan.element_strata.items():
        for i, mask in enumerate(masks):  # Spearman permutation p over the stratum's elements (no CI)
            rho_stratum = spearman_rho_of_order(stratum_order(order, mask), ranks[(kind, i)])
            acc.add(acc.p, STRATA_BETWEEN_P, spearman_p_of_rho(rho_stratum, int(mask.sum()),
                                                               plan.strata_spearman_nulls[(kind, i)]))
    tables = {CALIBRATION_TESTS: acc.p, CALIBRATION_INTERVALS: acc.covered, CALIBRATION_FLAGS: acc.flags}
    for check, rng in own.items():
        batch = ElementNullBatch(means, structure.element_target, plan.permutations, s.alpha, s.ci_level, rng)
        acc.add(tables[check.kind], check.key, np.asarray(check.simulate(batch)))


def within_batch(acc: Accumulator, structure: DesignStructure, s: SimulationSettings, plan: Plan,
                 features: np.ndarray, columns: ElementColumns | None) -> None:
    """The within-element statistics (pooled, per element, per TF label) of one batch."""
    per_element = structure.inputs_per_element[plan.used]
    for pooling, key in ((WITHIN_POOLING, WITHIN_ELEMENT_P), ("random_effects", WITHIN_ELEMENT_P_RANDOM_EFFECTS)):
        values, pool = pooled_within_p(structure, features, plan.used, per_element, pooling=pooling)
        acc.add(acc.p, key, values)
        if key == WITHIN_ELEMENT_P:
            low, high = pool.interval(s.ci_level)
            acc.add(acc.covered, WITHIN_ELEMENT_R_CI, (low <= 0) & (high >= 0))
    if columns is not None:  # the element strata: only where no element has a slope (each element's null holds)
        robust, pearson = columns.robust_and_pearson_p(features)
        acc.add(acc.p, STRATA_ELEMENT_P, robust.ravel())
        acc.add(acc.p, STRATA_ELEMENT_P_PEARSON, pearson.ravel())
        acc.add(acc.flags, STRATA_ELEMENT_BH, any_benjamini_hochberg(robust, s.alpha))
        acc.add(acc.flags, STRATA_ELEMENT_P_PER_ELEMENT, (robust <= s.alpha / robust.shape[1]).ravel())
    if plan.labels:  # all labels' element columns in one sparse product: one pass over the features
        r_labels = correlations_over_columns(structure, features, plan.label_indicator)
        for start_column, stop_column, label_per_element in plan.label_columns:
            z = np.arctanh(np.clip(r_labels[:, start_column:stop_column], -MAX_ABS_R, MAX_ABS_R))
            pool = pool_fisher_z(z, label_per_element, "t_test")
            acc.add(acc.p, STRATA_TF_P, pool.p)
            if len(label_per_element) >= s.min_elements_ci:  # the strata table gives a CI only from this many
                low, high = pool.interval(s.ci_level)
                acc.add(acc.covered, STRATA_TF_R_CI, (low <= 0) & (high >= 0))


def simulate_scenario(structure: DesignStructure, s: SimulationSettings, plan: Plan, scenario: NullScenario,
                      element_level_done: ScenarioOutcome | None, own: Sequence[HeadlineNull]) -> ScenarioOutcome:
    """Every reported statistic under one null of the family, ``n_replicates`` times.

    ``element_level_done``: the outcome of an earlier null with the same element-level signature, whose
    between-element statistics this null shares in distribution (they are reused, not resimulated).
    """
    structure = with_outlier(structure, scenario)
    rng = derive_rng(s.seed, f"calibration|{scenario.name}")
    to_means = element_mean_matrix(structure)
    columns = ElementColumns.of(structure, plan.used) if plan.within and slopes_free(scenario) else None
    acc = Accumulator()
    own_streams = {check: derive_rng(s.seed, f"calibration|{scenario.name}|{check.key}") for check in own}
    # Nothing to simulate when the element-level statistics are shared and there are no within-element ones.
    simulate = element_level_done is None or plan.within
    # Without within-element statistics only the element means are used: where elements have several inputs
    # they are drawn directly (simulate_scenario_element_means: the same distribution, a fraction of the
    # work, in memory-sized batches). With one input per element both draws cost the same and the per-input
    # one is kept, so one-input designs (GSE84888 V1, V2) keep their numbers.
    means_only = not plan.within and structure.n_inputs > structure.n_elements
    rows = means_batch_rows(structure.n_elements) if means_only else REPLICATE_BATCH
    sd = element_mean_sd(structure, scenario, to_means)
    ranks = target_ranks(structure, plan)
    for start in range(0, s.n_replicates, rows) if simulate else ():
        n = min(rows, s.n_replicates - start)
        if means_only:
            means = simulate_scenario_element_means(structure, scenario, n, to_means, rng, sd)
            element_level_batch(acc, structure, s, plan, means, own_streams, ranks)
            continue
        features = simulate_scenario_features(structure, scenario, n, rng)
        if element_level_done is None:
            element_level_batch(acc, structure, s, plan, features @ to_means, own_streams, ranks)
        if plan.within:
            within_batch(acc, structure, s, plan, features, columns)
    outcome = acc.outcome(s.alpha)
    if element_level_done is None:
        outcome.flags[ELEMENT_BONFERRONI_SIGNIFICANT] = familywise_flags(
            structure, s, plan, scenario, to_means, outcome.pvalues[ELEMENT_SPEARMAN_P])
    else:
        outcome = outcome.merged_with_element_level(element_level_done, tuple(check.key for check in own))
    return outcome


def familywise_flags(structure: DesignStructure, s: SimulationSettings, plan: Plan, scenario: NullScenario,
                     to_means: sparse.csr_matrix, first_p: np.ndarray) -> np.ndarray:
    """Per replicate family of ``n_primary_features`` independent null features: is the verdict flag
    (Bonferroni at alpha / family size over the verdict p, Spearman's permutation p: stats.leverage.VERDICT_P)
    raised for any of them?

    ``first_p``: the element Spearman p of this null's replicates (element_level_batch), the verdict p of
    each family's first feature. In the real design every primary feature is tested against the same
    measured target, and each simulated feature is an independent draw against that same target with the
    same p, so the replicate already simulated is a valid first member of its family: only the other
    family_size - 1 features are drawn here (a family of 1 needs no draw). Families stay independent of one
    another, so the flag rate and its Monte-Carlo SE mean what they did (docs/statistics.md).
    """
    k = max(1, s.n_primary_features)
    level = s.alpha / k
    raised = first_p <= level
    if k == 1:
        return raised
    rng = derive_rng(s.seed, f"calibration|familywise|{scenario.name}")
    sd = element_mean_sd(structure, scenario, to_means)
    others = []
    per_batch = max(1, means_batch_rows(structure.n_elements) // (k - 1))
    for start in range(0, s.n_replicates, per_batch):
        n = min(per_batch, s.n_replicates - start)
        means = simulate_scenario_element_means(structure, scenario, n * (k - 1), to_means, rng, sd)
        verdict_p = spearman_pvalues(means, structure.element_target, plan.spearman_null)
        others.append((verdict_p.reshape(n, k - 1) <= level).any(axis=1))
    return raised | np.concatenate(others)


def calibrate(structure: DesignStructure, settings: SimulationSettings,
              headline_nulls: Sequence[HeadlineNull]) -> CalibrationResult:
    """Simulate ``n_replicates`` null features under every null of the family and evaluate every reported
    statistic on each (plus the candidate tests the choice of each test rests on).

    Strata p-values are pooled per kind (``strata_<kind>_p``: the rejection rate over all estimable
    strata and replicates); ``strata_element_bh``: the rate at which BH over the elements rejects any.
    ``headline_nulls``: the null check of every headline statistic (headline.null_checks()); those with
    their own ``simulate`` are simulated from each batch's element means, the rest by this module.
    """
    s = settings
    if not s.nulls:
        raise ValueError("evaluate.calibration.nulls is empty: list at least one null scenario")
    plan = make_plan(structure, s)
    not_estimable: dict[str, str] = {}
    if not plan.within:
        not_estimable[WITHIN_ELEMENT_P] = not_estimable[WITHIN_ELEMENT_R_CI] = "model inputs do not vary within elements"
        not_estimable[STRATA_TF_P] = "the TF perturbation never reaches the model (inputs do not vary within elements)"
        not_estimable[STRATA_ELEMENT_P] = "model inputs do not vary within elements"
    if not plan.ci_ok:
        not_estimable[ELEMENT_R_CI] = not_estimable[SPEARMAN_RHO_CI] = f"fewer than {s.min_elements_ci} elements"
    if plan.within and not any(slopes_free(n) for n in s.nulls):
        not_estimable[STRATA_ELEMENT_P] = "no null of the family is free of within-element slopes"
    own = [check for check in headline_nulls if check.simulate is not None]
    # Nulls with the same element-level signature share its first null's between-element statistics, so each
    # signature's nulls run in order; signatures are independent (each null has its own seeded streams), so
    # they run on s.workers threads (numpy's sorts and draws release the GIL) with the same numbers.
    groups: dict[tuple, list[NullScenario]] = {}
    for scenario in s.nulls:
        groups.setdefault(element_level_signature(scenario), []).append(scenario)

    def simulate_group(group: list[NullScenario]) -> dict[str, ScenarioOutcome]:
        first = simulate_scenario(structure, s, plan, group[0], None, own)
        return {group[0].name: first} | {scenario.name: simulate_scenario(structure, s, plan, scenario, first, own)
                                         for scenario in group[1:]}

    simulated: dict[str, ScenarioOutcome] = {}
    # BLAS on one thread: its own threads (2 per matrix product) spun beside the workers and doubled the CPU
    # time per replicate at 98,000 elements; one thread also keeps every product's floats the same whatever
    # the number of workers.
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(max_workers=max(1, s.workers)) as pool:
        for group_outcomes in pool.map(simulate_group, groups.values()):
            simulated |= group_outcomes
    outcomes = {scenario.name: simulated[scenario.name] for scenario in s.nulls}
    own_flags = tuple(check.key for check in own if check.kind == CALIBRATION_FLAGS)
    result = CalibrationResult(structure, s, outcomes, not_estimable, REPORTED_FLAGS + own_flags)
    require_headline_nulls(result, headline_nulls)
    return result


def require_headline_nulls(result: CalibrationResult, headline_nulls: Sequence[HeadlineNull]) -> None:
    """Every headline statistic's null (mprabench.headline) is simulated or said to be not estimable."""
    simulated = {CALIBRATION_TESTS: result.rates("rejected"), CALIBRATION_INTERVALS: result.rates("covered"),
                 CALIBRATION_FLAGS: result.rates("flags")}
    missing = [f"{check.kind}.{check.key}" for check in headline_nulls
               if check.key not in simulated[check.kind] and check.key not in result.not_estimable]
    if missing:
        raise RuntimeError(f"calibrate simulates no null for the headline statistic(s) {missing}: give their "
                           "NullCheck a `simulate` function in mprabench/headline.py (the headline contract)")


def uniform_quantiles(n: int) -> np.ndarray:
    """Expected order statistics of n uniforms, for QQ plots."""
    return (np.arange(1, n + 1) - 0.5) / n


__all__ = ["DesignStructure", "SimulationSettings", "CalibrationResult", "ElementNullBatch", "design_structure", "calibrate",
           "calibration_misses", "worst_nulls", "uniform_quantiles"]
