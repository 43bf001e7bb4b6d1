"""The calibrate stage on a synthetic sequence-table library from 10 % to 100 % of 196,664 sequences.

The library is bench_dataset_scale's (the Agarwal 2025 layout: each element in both orientations,
so 98,332 elements at 100 %), fetched and prepared by the real stages; only calibrate is timed, as a
subprocess like a DVC stage (wall, CPU, peak memory). Above evaluate.permutation_normal_above_elements
elements calibrate simulates the normal limit of the permutation p (stats/permutation_normal.py) and
draws no permutations; below it, the permutation p with evaluate.n_permutations. The worst type-I rate
of the element p and the Spearman p at each size are printed beside the time.
Goal: calibrate <= 120 s at 196,664 sequences with the shipped 2,000 replicates per null.
Run: .venv/bin/python -m benchmarks.bench_calibrate_scale [--sequences N | --full] [--fractions 0.1,0.25,0.5,1]
     [--replicates N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.bench_dataset_scale import add_size_arguments, fetched_library, library_sizes
from benchmarks.common import measure, report, stage

SECONDS_GOAL = 120.0


def calibrate_at_size(directory: Path, n_sequences: int, overrides: list[str]) -> list[str]:
    """Fetch and prepare a library of n_sequences, then time calibrate on its rows."""
    common, p = fetched_library(directory, n_sequences, overrides)
    measure(stage("prepare", *common, "--raw", p("raw"), "--genome-cache", p("cache.fa"), "--rows", p("rows.parquet"),
                  "--inputs", p("inputs.fa"), "--qc", p("qc.json"), "--qc-details", p("qc_details.json")))
    run = measure(stage("calibrate", *common, "--rows", p("rows.parquet"), "--calibration", p("calibration.json"),
                        "--details", p("details.json"), "--qq", p("qq.png")))
    result, details = json.loads(Path(p("calibration.json")).read_text()), json.loads(Path(p("details.json")).read_text())
    elements = json.loads(Path(p("qc.json")).read_text()).get("elements")
    tests = result["tests"]
    worst = "; ".join(f"{key} {tests[key]['type_I']:.3f}±{tests[key]['mcse']:.3f}"
                      for key in ("element_p", "element_spearman_p") if key in tests)
    return [f"{n_sequences:,}", f"{elements:,}" if isinstance(elements, int) else str(elements),
            f"{run.wall_s:.1f}", f"{run.cpu_s:.1f}", f"{run.peak_rss_mb:.0f}",
            f"{details['n_replicates']} x {details['n_nulls']}", worst,
            "yes" if run.wall_s <= SECONDS_GOAL else "NO"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_arguments(parser)
    parser.add_argument("--replicates", type=int, default=None, help="override evaluate.calibration.n_replicates")
    args = parser.parse_args()
    total, sizes = library_sizes(args)
    overrides = [f"evaluate.calibration.n_replicates={args.replicates}"] if args.replicates else []
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for fraction, n in sizes:
            rows.append([f"{fraction:.0%}", *calibrate_at_size(Path(scratch) / f"size_{n}", n, overrides)])
    report(f"calibrate on a synthetic sequence-table library, {total:,} sequences at 100 % "
           f"(goal <= {SECONDS_GOAL:.0f} s; settings: conf/ plus {overrides or 'nothing'})",
           ["size", "sequences", "elements", "wall s", "cpu s", "peak MB", "replicates x nulls",
            "worst type I (element p; Spearman p)", "met"], rows)


if __name__ == "__main__":
    main()
