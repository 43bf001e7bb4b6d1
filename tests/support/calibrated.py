"""A design's own calibration.json, by the calibrate stage on its rows (not hand-written), for the tests of
what evaluate, the report and the exports print where it passes or fails."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mprabench.stages import calibrate as calibrate_stage
from tests.conftest import write_params

# 5,000 replicates (MC SE 0.003 at 0.05): the leverage null's Pearson type-I rate (~0.17 on GSE84888's 18
# elements) is far outside the tolerance; a balanced design's Pearson p and interval stay within it (0.056 and
# 0.943 at worst with 2,000) by several MC SE. Other checks (the flag, with calibrate's 999 permutations) may
# miss: tests follow whatever the simulation says for them.
FAST = ["evaluate.calibration.n_replicates=5000", "evaluate.calibration.n_permutations=999",
        "evaluate.n_permutations=199", "evaluate.strata=[]"]
BALANCED_SIZES = (60,) * 60  # 60 elements of 60 oligos: no element with high leverage


def calibrated(directory: Path, rows: pd.DataFrame, features: list[str]) -> tuple[dict, Path]:
    """calibration.json of the calibrate stage on these rows (primary features ``features``), and its params."""
    directory.mkdir(parents=True, exist_ok=True)
    rows.to_parquet(directory / "rows.parquet")
    params = write_params(directory / "params.yaml", [*FAST, f"evaluate.primary_features=[{','.join(features)}]"])
    calibrate_stage.main(["--params", str(params), "--rows", str(directory / "rows.parquet"),
                          "--calibration", str(directory / "calibration.json"),
                          "--details", str(directory / "calibration_details.json"),
                          "--qq", str(directory / "qq.png")])
    return json.loads((directory / "calibration.json").read_text()), params


def with_features(rows: pd.DataFrame, seed: int, names: list[str]) -> pd.DataFrame:
    """Null features: one value per distinct model input."""
    rng = np.random.default_rng(seed)
    codes = pd.factorize(rows["input_sha256"])[0]
    return rows.assign(**{name: rng.normal(size=codes.max() + 1)[codes] for name in names})
