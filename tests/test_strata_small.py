"""Element strata too small for any statistic are counted in bulk: the same rows as analysing each one."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mprabench.schema import ELEMENT_ID, INPUT_SHA256
from mprabench.stats.strata import StrataSettings, analyse_stratum, stratified_association

SETTINGS = StrataSettings(min_unique_inputs=3, n_permutations=99, level=0.95, seed=0, alpha=0.05, min_elements_ci=10,
                          normal_above=20_000)


def test_small_element_strata_give_what_analyse_stratum_gives():
    rng = np.random.default_rng(1)
    elements = [f"E{i}" for i in range(20) for _ in range(2)] + ["big"] * 6 + ["shared"] * 3
    inputs = [f"i{n}" for n in range(40)] + [f"b{n}" for n in range(6)] + ["s0", "s0", "s1"]
    table = pd.DataFrame({ELEMENT_ID: elements, INPUT_SHA256: inputs, "f": rng.normal(size=len(elements)),
                          "log2_ratio": rng.normal(size=len(elements))})
    result = stratified_association(table, ["f"], "log2_ratio", "element", SETTINGS).set_index("stratum")
    for stratum, part in table.groupby(ELEMENT_ID):
        expected = analyse_stratum(part, "f", "log2_ratio", "element", f"f|element|{stratum}", True, SETTINGS)
        row = result.loc[stratum]
        for key in ("n_rows", "n_unique_inputs", "n_elements", "estimable", "reason"):
            assert row[key] == expected.get(key), (stratum, key)
    assert result.loc["E3", "reason"] == "fewer than 3 distinct model inputs (2)"
    assert bool(result.loc["big", "estimable"])
