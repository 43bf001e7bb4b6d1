"""Leverage beside the element r: Spearman's rho of the element means with its own permutation p, and
the leave-one-element-out range of r with the elements whose removal changes the verdict.

The verdict flag rests on the Spearman permutation p (``VERDICT_P``): in the calibration family
(stats/null_family.py) the Pearson permutation p rejected 0.17-0.27 of nulls with one high-leverage
element, where the rank-based p held (README, "Reading the numbers").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from mprabench.schema import (
    ELEMENT_SPEARMAN_P,
    ELEMENT_SPEARMAN_RHO,
    LOO_R_MAX,
    LOO_R_MIN,
    LOO_VERDICT_CHANGERS,
    SPEARMAN_CI_HIGH,
    SPEARMAN_CI_LOW,
)
from mprabench.stats.association import finite_or_none
from mprabench.stats.clustered import (
    MIN_ELEMENTS_FISHER_Z,
    MIN_PERMUTATION_ELEMENTS,
    element_count_reason,
    element_permutations,
    permutation_pvalues,
)
from mprabench.stats.json_values import json_ready
from mprabench.stats.permutation_normal import normal_limit_p, uses_normal_limit
from mprabench.stats.pearson import pearson_from_sums, unit_scaled

VERDICT_P = ELEMENT_SPEARMAN_P
SPEARMAN_METHOD = ("Spearman rho of element means (n = elements); two-sided permutation p over elements "
                   "(the verdict's p: Bonferroni over the primary features)")
LOO_METHOD = ("leave-one-element-out: Pearson r of the element means without each element in turn (a "
              "description, no p); verdict changers: elements whose removal flips the Bonferroni flag of "
              "the Spearman permutation p; not computed (null, with loo_verdict_reason) above "
              "evaluate.verdict_changers_max_elements or evaluate.permutation_normal_above_elements elements")


SPEARMAN_CI_METHOD = ("Fisher-z interval of Spearman's rho of the element means with variance (1 + rho^2 / 2) / "
                      "(n - 2): Bonett-Wright's rho term, the denominator chosen by calibrate")


@dataclass(frozen=True)
class Leverage:
    spearman_rho: float | None
    spearman_p: float | None
    spearman_p_reason: str | None
    loo_r_min: float | None
    loo_r_max: float | None
    loo_reason: str | None
    loo_verdict_changers: list[str] | None
    loo_verdict_reason: str | None  # why the verdict changers were not computed
    spearman_ci: tuple[float, float] | None  # rho's interval (the headline's; None in strata, or with a reason)
    spearman_ci_reason: str | None

    def to_dict(self) -> dict:
        values = json_ready(asdict(self))
        low, high = values["spearman_ci"] or (None, None)
        return {ELEMENT_SPEARMAN_RHO: values["spearman_rho"], ELEMENT_SPEARMAN_P: values["spearman_p"],
                SPEARMAN_CI_LOW: low, SPEARMAN_CI_HIGH: high, "spearman_ci_reason": values["spearman_ci_reason"],
                "spearman_ci_method": SPEARMAN_CI_METHOD,
                "spearman_p_reason": values["spearman_p_reason"], "spearman_method": SPEARMAN_METHOD,
                LOO_R_MIN: values["loo_r_min"], LOO_R_MAX: values["loo_r_max"], "loo_reason": values["loo_reason"],
                LOO_VERDICT_CHANGERS: values["loo_verdict_changers"],
                "loo_verdict_reason": values["loo_verdict_reason"], "loo_method": LOO_METHOD}


def spearman_permutation_p(mean_x: np.ndarray, mean_y: np.ndarray, permutations: np.ndarray) -> float:
    """Two-sided permutation p of Spearman's rho (Pearson r of the ranks; ties get average ranks)."""
    return float(permutation_pvalues(unit_scaled(stats.rankdata(mean_x)), unit_scaled(stats.rankdata(mean_y)),
                                     permutations)[0])


def leave_one_out_r(mean_x: np.ndarray, mean_y: np.ndarray) -> np.ndarray:
    """Pearson r of the element means without each element in turn (NaN where not finite).

    From sums about the full means minus each element's terms: O(n) time and memory (a 98,000-element
    library), the same r as recomputing each one (tests/test_stats_leverage.py)."""
    x, y = mean_x - mean_x.mean(), mean_y - mean_y.mean()
    m = len(x) - 1
    sx, sy = -x, -y                                    # sums without element i (the full sums are 0)
    sxx, syy, sxy = (x * x).sum() - x * x, (y * y).sum() - y * y, (x * y).sum() - x * y
    with np.errstate(divide="ignore", invalid="ignore"):
        return pearson_from_sums(m, sx, sy, sxx, syy, sxy)


def spearman_interval(rho: np.ndarray | float, n: int, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Fisher-z interval of Spearman's rho with variance (1 + rho²/2) / (n − 2) (vectorised).

    Chosen by calibrate on GSE84888's 18 elements (benchmarks/bench_calibrate.py): Bonett and Wright's
    (1 + rho²/2) / (n − 3) covered 0.965-0.971 of nulls (conservative beyond the 0.02 tolerance), the
    exact null variance of rho, 1 / (n − 1), 0.927 under leverage_smallest; n − 2 covers 0.936-0.940 in
    its worst null. The Fisher-z interval of the Pearson r covered 0.68-0.81 under the leverage nulls
    (metrics/calibration.json, ``spearman_rho_ci``)."""
    rho = np.clip(rho, -1 + 1e-15, 1 - 1e-15)
    half = stats.norm.ppf(0.5 + level / 2.0) * np.sqrt((1 + rho * rho / 2) / (n - 2))
    z = np.arctanh(rho)
    return np.tanh(z - half), np.tanh(z + half)


def spearman_p(mean_x: np.ndarray, mean_y: np.ndarray, rho: float, permutations: np.ndarray | None) -> float:
    """The permutation p of rho, or (``permutations`` None: above normal_above elements) its normal limit."""
    if permutations is None:
        return float(normal_limit_p(rho, len(mean_x)))
    return spearman_permutation_p(mean_x, mean_y, permutations)


def leverage(element_ids: np.ndarray, mean_x: np.ndarray, mean_y: np.ndarray, *, n_permutations: int,
             threshold: float, rng: np.random.Generator, normal_above: int, ci_level: float | None,
             min_elements_ci: int, changers_max_elements: int | None, leave_one_out: bool = True) -> Leverage:
    """Spearman rho and its permutation p, the leave-one-out r range and the verdict changers.

    ``threshold``: the verdict's per-feature level (alpha / Bonferroni family size). ``leave_one_out``:
    False gives rho and p only (strata). ``ci_level``: the level of rho's interval (None: no interval),
    which needs max(``min_elements_ci``, 4) elements. ``normal_above``: with more elements, the p is the normal limit
    of the permutation distribution (stats/permutation_normal.py) and the verdict changers are not
    computed (n Spearman p's of n − 1 elements: n² work; with that many elements no single one moves a
    rank-based verdict except at its boundary). ``changers_max_elements`` (None without ``leave_one_out``): above it the verdict changers
    are not computed either, with the reason: each is a Spearman permutation p of n − 1 elements, so
    their cost grows with n² × permutations (489 s at 2,002 elements).
    """
    n = len(mean_x)
    constant = np.ptp(mean_x) == 0 or np.ptp(mean_y) == 0
    minimum = MIN_PERMUTATION_ELEMENTS + 1 if leave_one_out else MIN_PERMUTATION_ELEMENTS
    reason = "constant element means" if constant else element_count_reason(
        n, minimum, "a Spearman permutation p" + (" and its leave-one-out verdicts" if leave_one_out else ""))
    if reason:
        return Leverage(None, None, reason, None, None, reason, None, reason, None, reason)
    rho = finite_or_none(stats.spearmanr(mean_x, mean_y).statistic)
    normal = uses_normal_limit(n, normal_above)
    if not leave_one_out:
        low = high = loo_reason = None
    else:
        loo = leave_one_out_r(mean_x, mean_y)
        finite = loo[np.isfinite(loo)]
        low, high = (finite_or_none(finite.min()), finite_or_none(finite.max())) if finite.size else (None, None)
        loo_reason = None if finite.size else "no finite leave-one-out r"
    interval, interval_reason = None, "no interval (strata)"
    if ci_level is not None:
        interval_reason = element_count_reason(n, max(min_elements_ci, MIN_ELEMENTS_FISHER_Z),
                                               "a confidence interval (evaluate.min_elements_ci)")
        if interval_reason is None and rho is not None:
            interval = tuple(float(v) for v in spearman_interval(rho, n, ci_level))
    if n_permutations <= 0 and not normal:
        no_test = "evaluate.n_permutations = 0: no permutation test was run"
        return Leverage(rho, None, no_test, low, high, loo_reason, None, no_test, interval, interval_reason)
    p = spearman_p(mean_x, mean_y, rho, None if normal else element_permutations(n, n_permutations, rng))
    if not leave_one_out:
        return Leverage(rho, p, None, None, None, "not computed", None, "not computed", None, interval_reason)
    if normal or changers_max_elements is None or n > changers_max_elements:
        limit = ("evaluate.permutation_normal_above_elements" if normal else "evaluate.verdict_changers_max_elements")
        too_many = f"not computed for {n} elements (more than {limit}: n Spearman p's of n − 1 elements each)"
        return Leverage(rho, p, None, low, high, loo_reason, None, too_many, interval, interval_reason)
    smaller = element_permutations(n - 1, n_permutations, rng)
    flag = p <= threshold
    changers = [str(element_ids[i]) for i in range(n)
                if (spearman_permutation_p(np.delete(mean_x, i), np.delete(mean_y, i), smaller) <= threshold) != flag]
    return Leverage(rho, p, None, low, high, loo_reason, changers, None, interval, interval_reason)
