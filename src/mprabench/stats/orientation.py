"""Within-element orientation analysis (docs/PROTOCOL.md, "Orientation"): where an element is measured
in both orientations, does the model's orientation effect follow the measured one?

Per element with exactly one forward and one reverse row: d_model = feature(forward) − feature(reverse)
and d_measured = target(forward) − target(reverse). The estimate is the Pearson r of d_model and
d_measured across elements; its p is the permutation p over elements (d_measured permuted, two-sided)
and its CI the Fisher-z interval with n = elements. Each element contributes one difference, so the
element stays the unit of replication; the element-level headline is untouched by this analysis.
Its null is simulated on the dataset's own pairs by `orientation_null` (calibrate).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from mprabench.schema import (
    ELEMENT_ID,
    ORIENTATION,
    ORIENTATION_FORWARD,
    ORIENTATION_REVERSE,
)
from mprabench.stats.clustered import (
    PERMUTATION_MEMORY_ENTRIES,
    count_extreme,
    element_permutations,
    fisher_z_interval,
    permutation_pvalue,
)
from mprabench.stats.permutation_normal import normal_limit_p, uses_normal_limit
from mprabench.stats.pearson import unit_scaled
from mprabench.stats.rng import derive_rng

# SD of the simulated model's systematic orientation shift: the r of the differences does not depend on it (a
# shift common to every element cancels when they are centred), so it is no setting.
SIMULATED_SHIFT_SD = 1.0
# Floats per batch of the null's replicates above the normal-limit size (16 MB: reused by the allocator).
NULL_BATCH_ENTRIES = 2**21
MIN_ORIENTATION_ELEMENTS = 10  # fewer paired elements: no estimate (r over a handful of differences)
METHOD = ("Pearson r across elements of the model's forward − reverse difference vs the measured one; "
          "permutation p over elements; Fisher-z CI with n = paired elements")


@dataclass(frozen=True)
class OrientationPairs:
    """Row positions of each paired element's forward and reverse row (elements with exactly one of each)."""

    elements: np.ndarray
    forward: np.ndarray
    reverse: np.ndarray

    def differences(self, values: np.ndarray) -> np.ndarray:
        """forward − reverse of `values` (rows on the last axis) per paired element."""
        return values[..., self.forward] - values[..., self.reverse]


def orientation_pairs(table: pd.DataFrame) -> OrientationPairs | None:
    """The paired elements of a rows table, or None when it has no orientation column."""
    if ORIENTATION not in table or table[ORIENTATION].isna().all():
        return None
    frame = pd.DataFrame({"element": table[ELEMENT_ID].to_numpy(), "orientation": table[ORIENTATION].to_numpy(),
                          "position": np.arange(len(table))})
    frame = frame[frame["orientation"].isin([ORIENTATION_FORWARD, ORIENTATION_REVERSE])]
    counts = frame.groupby(["element", "orientation"]).size().unstack(fill_value=0)
    for orientation in (ORIENTATION_FORWARD, ORIENTATION_REVERSE):
        if orientation not in counts:
            counts[orientation] = 0
    paired = counts.index[(counts[ORIENTATION_FORWARD] == 1) & (counts[ORIENTATION_REVERSE] == 1)]
    kept = frame[frame["element"].isin(paired)]
    position = kept.set_index(["element", "orientation"])["position"]
    elements = np.asarray(sorted(paired))
    forward = position.xs(ORIENTATION_FORWARD, level="orientation").reindex(elements).to_numpy(np.int64)
    reverse = position.xs(ORIENTATION_REVERSE, level="orientation").reindex(elements).to_numpy(np.int64)
    return OrientationPairs(elements, forward, reverse)


@dataclass(frozen=True)
class OrientationEffect:
    n_elements: int
    r: float | None
    p: float | None
    ci_low: float | None
    ci_high: float | None
    reason: str | None
    method: str = METHOD

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def orientation_effect(table: pd.DataFrame, feature: str, target: str, n_permutations: int, seed: int,
                       level: float, pairs: OrientationPairs | None = None, *, normal_above: int
                       ) -> OrientationEffect | None:
    """The orientation analysis of one feature; None when the dataset has no orientations.

    ``normal_above``: with more paired elements the p is the normal limit of its permutation
    distribution (stats/permutation_normal.py)."""
    pairs = pairs if pairs is not None else orientation_pairs(table)
    if pairs is None:
        return None
    n = len(pairs.elements)
    if n < MIN_ORIENTATION_ELEMENTS:
        return OrientationEffect(n, None, None, None, None,
                                 f"{n} element(s) measured in both orientations; needs {MIN_ORIENTATION_ELEMENTS}")
    d_model = pairs.differences(table[feature].to_numpy(float))
    d_measured = pairs.differences(table[target].to_numpy(float))
    if np.ptp(d_model) == 0 or np.ptp(d_measured) == 0:
        which = "model" if np.ptp(d_model) == 0 else "measured"
        return OrientationEffect(n, None, None, None, None,
                                 f"the {which} forward − reverse difference is the same for every element")
    r = float(np.corrcoef(d_model, d_measured)[0, 1])
    p = (float(normal_limit_p(r, n)) if uses_normal_limit(n, normal_above) else
         permutation_pvalue(d_model, d_measured, n_permutations, derive_rng(seed, f"{feature}|orientation")))
    low, high = fisher_z_interval(r, n, level)
    return OrientationEffect(n, r, p, float(low), float(high), None)


def orientation_null(d_measured: np.ndarray, n_replicates: int, n_permutations: int, level: float,
                     seed: int, *, normal_above: int) -> tuple[np.ndarray, np.ndarray]:
    """Null p-values and CI coverage of the orientation r on these paired elements.

    Each replicate draws a model with its own systematic orientation shift and element effects
    (which cancel in the difference) plus independent noise per input, so its forward − reverse
    difference is independent of the measured one; returns (p per replicate, CI covers 0).
    """
    rng = derive_rng(seed, "calibration|orientation")
    n = len(d_measured)
    shift = rng.normal(0.0, SIMULATED_SHIFT_SD, size=(n_replicates, 1))
    zy = unit_scaled(np.asarray(d_measured, float))
    if uses_normal_limit(n, normal_above):  # the p orientation_effect reports above that many elements
        # Replicates in batches of at most NULL_BATCH_ENTRIES floats: (replicates x elements) would not fit
        # with 98,000 elements, and smaller arrays are reused by the allocator instead of page-faulted anew.
        # The forward and reverse noises are independent standard normals: their difference is one normal
        # with variance 2 (one draw per element instead of two).
        batch = max(1, NULL_BATCH_ENTRIES // n)
        r = np.concatenate([unit_scaled(part + np.sqrt(2.0) * rng.standard_normal((len(part), n))) @ zy
                            for part in np.split(shift, range(batch, n_replicates, batch))])
        low, high = fisher_z_interval(r, n, level)
        return normal_limit_p(r, n), (low <= 0) & (high >= 0)
    d_model = shift + rng.standard_normal((n_replicates, n)) - rng.standard_normal((n_replicates, n))
    zx = unit_scaled(d_model)
    low, high = fisher_z_interval(zx @ zy, n, level)
    permutation_rng = derive_rng(seed, "calibration|orientation|permutations")
    rows = max(1, PERMUTATION_MEMORY_ENTRIES // max(1, n))  # bounded memory with many elements
    n_extreme = np.zeros(n_replicates, dtype=np.int64)
    for start in range(0, n_permutations, rows):
        n_extreme += count_extreme(zx, zy, element_permutations(n, min(rows, n_permutations - start), permutation_rng))
    p = (1 + n_extreme) / (1 + n_permutations)
    return p, (low <= 0) & (high >= 0)
