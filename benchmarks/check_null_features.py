"""Null features through the real evaluate code, on the real GSE84888 structure (V2 and V3).

The check the statistics issue describes: features unrelated to activity, one per distinct
input (V3: plus a within-element slope that differs by element around 0), evaluated exactly
as the evaluate stage evaluates predictions. Prints, per structure, the share of features
whose element-aware p rejects at 0.05 (goal 2-9 %), whose verdict flag is raised (goal
<= 10 %), and whose CI covers 0 (goal >= 93 %). calibrate measures the same with its own
vectorised simulation; this runs evaluate's code path itself.
Run: .venv/bin/python -m benchmarks.check_null_features [--features 200] [--seed S] [--counts DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.bench_calibrate import real_structure_rows
from benchmarks.common import CONF, REPO, report
from mprabench.config import load_params
from mprabench.evaluation import evaluate, evaluation_table
from mprabench.schema import INPUT_SHA256
from mprabench.stats.calibration import design_structure, simulate_null_features
from tests.support.params import write_params

GOALS = {"reject": (0.02, 0.09), "flag": (0.0, 0.10), "cover": (0.93, 1.0)}


def null_feature_table(rows: pd.DataFrame, target: str, n: int, slope_sd: float, seed: int) -> pd.DataFrame:
    """n null features per distinct input (dropout rows' too: evaluate needs them), keyed like features.parquet."""
    structure = design_structure(rows, target)
    values = simulate_null_features(structure, n, slope_sd, np.random.default_rng(seed))
    inputs = np.sort(rows[INPUT_SHA256].unique())  # design_structure's input order
    table = pd.DataFrame(values.T, columns=[f"null_{i:03d}" for i in range(n)])
    table.insert(0, INPUT_SHA256, inputs)
    return table


def rates(summary: dict, features: list[str], key: str) -> dict[str, float]:
    p = np.array([summary[f][key] for f in features], dtype=float)
    return {"n": int(np.isfinite(p).sum()), "reject": float(np.nanmean(p < 0.05))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=Path, default=REPO.parent / "shared" / "data" / "GSE84888")
    parser.add_argument("--features", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None, help="default: evaluate.seed")
    args = parser.parse_args()
    if not args.counts.is_dir():
        raise SystemExit(f"real counts not found at {args.counts}: nothing checked (pass --counts DIR)")
    lines = []
    with tempfile.TemporaryDirectory() as scratch:
        for experiment in ("v2", "v3"):
            path = write_params(Path(scratch) / f"{experiment}.yaml", CONF, [f"experiment={experiment}", "evaluate.strata=[]"])
            params = load_params(path)
            config = params.evaluate
            rows = real_structure_rows(args.counts, path, per_oligo_inputs=experiment == "v3")
            features = null_feature_table(rows, config.target, args.features, config.calibration.within_slope_sd,
                                          config.seed if args.seed is None else args.seed)
            names = [c for c in features if c != INPUT_SHA256]
            config.primary_features = names
            summary = evaluate(evaluation_table(rows, features, config.target), names, config).summary()
            checks = {"element_p rejects": rates(summary, names, "element_p")}
            if experiment == "v3":
                checks["within_element_p rejects"] = rates(summary, names, "within_element_p")
            flags = np.mean([bool(summary[f]["element_bonferroni_significant"]) for f in names])
            cover = np.mean([summary[f]["pearson_r_ci_low"] <= 0 <= summary[f]["pearson_r_ci_high"] for f in names])
            for label, value in checks.items():
                low, high = GOALS["reject"]
                lines.append([experiment, label, f"{value['reject']:.3f}", value["n"], f"{low}-{high}",
                              "yes" if low <= value["reject"] <= high else "NO"])
            lines.append([experiment, "verdict flag raised", f"{flags:.3f}", len(names), "<= 0.10",
                          "yes" if flags <= GOALS["flag"][1] else "NO"])
            lines.append([experiment, "CI covers 0", f"{cover:.3f}", len(names), ">= 0.93",
                          "yes" if cover >= GOALS["cover"][0] else "NO"])
    report(f"{args.features} null features per structure through evaluate (real GSE84888 counts)",
           ["structure", "measure", "share", "features", "goal", "met"], lines)


if __name__ == "__main__":
    main()
