"""The calibrate stage end to end on a GSE84888-shaped rows file, for every predictor's settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mprabench.stages import calibrate
from tests.conftest import write_params
from tests.support.null_rows import gse84888_like_rows

FAST = ["evaluate.calibration.n_replicates=200", "evaluate.n_permutations=199"]


@pytest.mark.parametrize("predictor", ["alphagenome", "gc"])  # gc leaves primary_features null (every feature)
def test_calibrate_writes_numbers_only_for_each_predictor_setting(tmp_path, predictor):
    rows = gse84888_like_rows(np.random.default_rng(0), within=False)
    rows.to_parquet(tmp_path / "rows.parquet")
    params = write_params(tmp_path / "params.yaml", [f"predictor={predictor}", *FAST])
    calibrate.main(["--params", str(params), "--rows", str(tmp_path / "rows.parquet"),
                    "--calibration", str(tmp_path / "calibration.json"), "--qq", str(tmp_path / "qq.png")])
    result = json.loads((tmp_path / "calibration.json").read_text())
    assert result["n_replicates"] == 200 and "element_p" in result["tests"]
    # Bonferroni over a family of 6 raises the flag about 6 times less often than over a family of 1.
    rate = result["flags"]["element_bonferroni_significant"]["rate"]
    assert rate <= (0.05 / 6 + 0.03 if predictor == "alphagenome" else 0.05 + 0.05)
    leaves = [v for test in result["tests"].values() for v in test.values()]
    assert all(isinstance(v, float) for v in leaves), "metrics hold numbers only"
    assert (tmp_path / "qq.png").stat().st_size > 0
