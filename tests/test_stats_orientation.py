"""The within-element orientation analysis (stats/orientation.py): estimate, and its null on a paired structure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mprabench.schema import ELEMENT_ID, ORIENTATION
from mprabench.stats.orientation import orientation_effect, orientation_null, orientation_pairs


def paired_table(n: int, coupling: float, seed: int = 1) -> pd.DataFrame:
    """n elements in both orientations (plus one single-orientation element, left out of the pairs)."""
    rng = np.random.default_rng(seed)
    element_effect = np.repeat(rng.normal(size=n), 2)
    measured_orientation = rng.normal(size=n)
    model = element_effect + rng.normal(size=2 * n)
    model[0::2] += coupling * measured_orientation  # forward rows carry the measured orientation effect
    target = element_effect + np.column_stack([measured_orientation, np.zeros(n)]).ravel() + 0.1 * rng.normal(size=2 * n)
    table = pd.DataFrame({ELEMENT_ID: np.repeat([f"e{i}" for i in range(n)], 2),
                          ORIENTATION: ["forward", "reverse"] * n, "f": model, "y": target})
    return pd.concat([table, pd.DataFrame({ELEMENT_ID: ["single"], ORIENTATION: ["forward"], "f": [0.0], "y": [0.0]})],
                     ignore_index=True)


def test_pairs_keep_only_elements_measured_in_both_orientations():
    pairs = orientation_pairs(paired_table(20, 0.0))
    assert len(pairs.elements) == 20 and "single" not in pairs.elements


def test_orientation_effect_finds_a_coupled_model_and_not_a_null_one():
    coupled = orientation_effect(paired_table(200, 2.0), "f", "y", n_permutations=999, seed=0, level=0.95,
                                 normal_above=20_000)
    assert coupled.n_elements == 200 and coupled.r > 0.5 and coupled.p <= 0.002
    assert coupled.ci_low < coupled.r < coupled.ci_high


def test_orientation_null_rejects_at_the_nominal_rate_and_covers_at_the_nominal_level():
    table = paired_table(300, 0.0)
    pairs = orientation_pairs(table)
    d_measured = pairs.differences(table["y"].to_numpy(float)) ** 3  # heavy-tailed, as a real difference may be
    p, covered = orientation_null(d_measured, n_replicates=2000, n_permutations=199, level=0.95, seed=3,
                                  normal_above=20_000)
    assert abs((p <= 0.05).mean() - 0.05) < 0.015
    assert abs(covered.mean() - 0.95) < 0.02
    # above the normal-limit size (set low here) the null's p is the normal limit, drawn in batches
    p, covered = orientation_null(d_measured, n_replicates=2000, n_permutations=199, level=0.95, seed=3,
                                  normal_above=100)
    assert abs((p <= 0.05).mean() - 0.05) < 0.015
    assert abs(covered.mean() - 0.95) < 0.02
