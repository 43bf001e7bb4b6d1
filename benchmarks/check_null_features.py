"""Null features through the real evaluate code, on the real GSE84888 structure (V2 and V3).

The check the statistics issue describes: features unrelated to activity, one per distinct
input, drawn from one null of conf's calibration family (--null, default het_0.15: within-element
slopes that differ by element around 0), evaluated exactly as the evaluate stage evaluates
predictions, in Bonferroni families the size of the real one (evaluate.primary_features: 6).
Prints, per structure, the share of features whose element-aware p rejects at 0.05 (goal 2-9 %),
the family-wise rate of the verdict flag (any feature of a family flagged; goal <= alpha + 0.015)
and the share whose CI covers 0 (goal >= 93 %). calibrate measures the same with its own
vectorised simulation; this runs evaluate's code path itself.
Run: .venv/bin/python -m benchmarks.check_null_features [--features 600] [--null NAME] [--seed S] [--counts DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.bench_calibrate import real_structure_rows
from benchmarks.common import CONF, REPO, report
from mprabench.config import load_params
from mprabench.evaluation import evaluate, evaluation_table
from mprabench.schema import INPUT_SHA256
from mprabench.stats.calibration import design_structure
from mprabench.stats.null_family import NullScenario, simulate_scenario_features
from tests.support.params import write_params

GOALS = {"reject": (0.02, 0.09), "flag": (0.0, 0.065), "cover": (0.93, 1.0)}


def null_feature_table(rows: pd.DataFrame, target: str, n: int, scenario: NullScenario, seed: int) -> pd.DataFrame:
    """n null features per distinct input (dropout rows' too: evaluate needs them), keyed like features.parquet."""
    if scenario.outlier != "none":
        raise SystemExit(f"null {scenario.name!r} moves an element's target; choose a null with outlier: none")
    structure = design_structure(rows, target)
    values = simulate_scenario_features(structure, scenario, n, np.random.default_rng(seed))
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
    parser.add_argument("--features", type=int, default=600, help="rounded down to whole families")
    parser.add_argument("--null", default="het_0.15", help="a null of evaluate.calibration.nulls")
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
            family_size = len(config.primary_features or [None])
            scenario = next((NullScenario(**asdict(n)) for n in config.calibration.nulls if n.name == args.null), None)
            if scenario is None:
                raise SystemExit(f"--null {args.null}: not in evaluate.calibration.nulls")
            n_families = args.features // family_size
            features = null_feature_table(rows, config.target, n_families * family_size, scenario,
                                          config.seed if args.seed is None else args.seed)
            names = [c for c in features if c != INPUT_SHA256]
            table = evaluation_table(rows, features, config.target)
            summary, families = {}, []
            for start in range(0, len(names), family_size):  # each family evaluated as evaluate would: its own Bonferroni
                family = names[start:start + family_size]
                config.primary_features = family
                summary |= evaluate(table[[c for c in table if c not in names or c in family]], family, config).summary()
                families.append(any(bool(summary[f]["element_bonferroni_significant"]) for f in family))
            checks = {"element_p rejects": rates(summary, names, "element_p")}
            if experiment == "v3":
                checks["within_element_p rejects"] = rates(summary, names, "within_element_p")
            flags = np.mean(families)
            cover = np.mean([summary[f]["pearson_r_ci_low"] <= 0 <= summary[f]["pearson_r_ci_high"] for f in names])
            for label, value in checks.items():
                low, high = GOALS["reject"]
                lines.append([experiment, label, f"{value['reject']:.3f}", value["n"], f"{low}-{high}",
                              "yes" if low <= value["reject"] <= high else "NO"])
            mcse = np.sqrt(flags * (1 - flags) / len(families))
            lines.append([experiment, f"verdict flag, family-wise ({family_size} features)", f"{flags:.3f} ± {mcse:.3f}",
                          f"{len(families)} families", f"<= {GOALS['flag'][1]}", "yes" if flags <= GOALS["flag"][1] else "NO"])
            lines.append([experiment, "CI covers 0", f"{cover:.3f}", len(names), ">= 0.93",
                          "yes" if cover >= GOALS["cover"][0] else "NO"])
    report(f"{args.features} null features per structure (null {args.null}) through evaluate (real GSE84888 counts)",
           ["structure", "measure", "share", "features", "goal", "met"], lines)


if __name__ == "__main__":
    main()
