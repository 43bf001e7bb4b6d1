"""Null features through the real evaluate code on a sequence-table dataset's own structure (Agarwal 2025 folds).

The issue's check for a second dataset: the held-out fold is read by its shipped config (reader,
elements, orientations, classes), its inputs built as prepare builds them, and features unrelated
to activity (an element effect plus independent noise per input, as calibrate simulates them) are
evaluated exactly as the evaluate stage evaluates predictions. Prints the share of features whose
element p rejects at 0.05, whose element-r CI covers 0, and whose orientation p rejects (goal for
rejection 5 ± 2 %, coverage >= 93 %).
Run: .venv/bin/python -m benchmarks.check_null_dataset [--data DIR] [--features 200] [--permutations 999]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.check_null_features import null_feature_table
from benchmarks.common import CONF, REPO, report
from mprabench.config import load_params
from mprabench.evaluation import evaluate, evaluation_table
from mprabench.readers.registry import read_dataset
from mprabench.schema import INPUT_SHA256
from mprabench.sequences import build_given_inputs
from tests.support.params import write_params

REJECT, COVER = (0.03, 0.07), 0.93
DATASETS = {"agarwal2025_hepg2_test": "test_HepG2.tsv", "agarwal2025_wtc11_test": "test_WTC11.tsv"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "agarwal2025",
                        help="folder with the fold files (the shipped configs' layout)")
    parser.add_argument("--features", type=int, default=400)
    parser.add_argument("--permutations", type=int, default=999, help="evaluate.n_permutations for this check")
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, file_name in DATASETS.items():
            if not (args.data / file_name).is_file():
                print(f"{args.data / file_name} not found: {name} not checked")
                continue
            path = write_params(Path(scratch) / f"{name}.yaml", CONF, [
                f"dataset={name}", f"dataset.source={args.data}", "experiment=insert", "evaluate.strata=[]",
                f"evaluate.n_permutations={args.permutations}"])
            params = load_params(path)
            config = params.evaluate
            library = read_dataset(params.dataset, args.data)
            rows = build_given_inputs(library.oligos, params.experiment.window).rows
            features = null_feature_table(rows, config.target, args.features, 0.0, config.seed)
            names = [c for c in features if c != INPUT_SHA256]
            config.primary_features = names
            evaluation = evaluate(evaluation_table(rows, features, config.target), names, config)
            summary = evaluation.summary()
            element_p = np.array([summary[f]["element_p"] for f in names], float)
            cover = np.mean([summary[f]["pearson_r_ci_low"] <= 0 <= summary[f]["pearson_r_ci_high"] for f in names])
            orientation_p = np.array([evaluation.orientation[f].p for f in names], float)
            design = summary["design"]
            label = f"{name} ({design['n_rows']:,} rows, {design['n_elements']:,} elements)"
            for measure, share, goal, ok in (
                ("element_p rejects", np.mean(element_p < 0.05), f"{REJECT[0]}-{REJECT[1]}",
                 REJECT[0] <= np.mean(element_p < 0.05) <= REJECT[1]),
                ("element r CI covers 0", cover, f">= {COVER}", cover >= COVER),
                ("orientation_p rejects", np.mean(orientation_p < 0.05), f"{REJECT[0]}-{REJECT[1]}",
                 REJECT[0] <= np.mean(orientation_p < 0.05) <= REJECT[1]),
            ):
                lines.append([label, measure, f"{share:.3f}", len(names), goal, "yes" if ok else "NO"])
    report(f"{args.features} null features per dataset through evaluate ({args.permutations} permutations)",
           ["structure", "measure", "share", "features", "goal", "met"], lines)


if __name__ == "__main__":
    main()
