"""The calibrate stage on the real GSE84888 structure (V2 and V3): type-I rates, coverages, wall time.

The structure comes from the real counts in ../shared/data/GSE84888: elements, oligos per element
and the real log2 ratio after the configured activity filters (and zero-RNA dropout flags, when
prepare sets them). V2 = one distinct input per element (as prepare builds it); V3 = one distinct
input per oligo (every oligo's designed sequence differs). No genome or predictions are needed:
calibrate reads only rows.parquet. The stage runs as a subprocess, timed like a DVC stage.
Run: .venv/bin/python -m benchmarks.bench_calibrate [--counts DIR] [--replicates N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.common import CONF, REPO, measure, report, stage
from mprabench.activity import prepare_activity
from mprabench.config import load_params
from mprabench.counts import read_library
from tests.support.params import write_params

SECONDS_GOAL = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", type=Path, default=REPO.parent / "shared" / "data" / "GSE84888")
    parser.add_argument("--replicates", type=int, default=None, help="override evaluate.calibration.n_replicates")
    args = parser.parse_args()
    if not args.counts.is_dir():
        raise SystemExit(f"real counts not found at {args.counts}: nothing measured (pass --counts DIR)")
    overrides = [f"evaluate.calibration.n_replicates={args.replicates}"] if args.replicates else []
    rows_table, times = [], []
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        for experiment in ("v2", "v3"):
            params = write_params(directory / f"{experiment}.yaml", CONF, [f"experiment={experiment}", *overrides])
            rows = real_structure_rows(args.counts, params, per_oligo_inputs=experiment == "v3")
            rows.to_parquet(directory / f"{experiment}.parquet")
            out = directory / f"{experiment}.json"
            run = measure(stage("calibrate", "--params", str(params), "--rows", str(directory / f"{experiment}.parquet"),
                                "--calibration", str(out), "--qq", str(directory / f"{experiment}.png")))
            result = json.loads(out.read_text())
            tolerance = load_params(params).evaluate.calibration  # the report's verdict
            type_i, coverage = tolerance.type_i_tolerance, tolerance.coverage_tolerance
            times.append([experiment, f"{run.wall_s:.1f}", f"{run.cpu_s:.1f}", f"{run.peak_rss_mb:.0f}",
                          result["n_replicates"], design_text(rows), "yes" if run.wall_s <= SECONDS_GOAL else "NO"])
            for key, test in result["tests"].items():
                ok = abs(test["type_I"] - result["alpha"]) <= type_i
                rows_table.append([experiment, key, "type I", f"{test['type_I']:.4f}", f"{test['mcse']:.4f}",
                                   f"{result['alpha']} ± {type_i}", "yes" if ok else "NO"])
            for key, interval in result["intervals"].items():
                ok = abs(interval["coverage"] - result["ci_level"]) <= coverage
                rows_table.append([experiment, key, "coverage", f"{interval['coverage']:.4f}",
                                   f"{interval['mcse']:.4f}", f"{result['ci_level']} ± {coverage}",
                                   "yes" if ok else "NO"])
            for key, flag in result["flags"].items():
                mcse = (flag["rate"] * (1 - flag["rate"]) / result["n_replicates"]) ** 0.5
                rows_table.append([experiment, key, "flag rate", f"{flag['rate']:.4f}", f"{mcse:.4f}",
                                   f"≤ {result['alpha']}", "yes" if flag["rate"] <= result["alpha"] else "NO"])
    report(f"calibrate stage on the real GSE84888 structure ({args.counts})",
           ["structure", "statistic", "measure", "value", "MC SE", "goal", "met"], rows_table)
    report(f"calibrate stage time (goal ≤ {SECONDS_GOAL:.0f} s on this machine)",
           ["structure", "wall s", "cpu s", "peak MB", "replicates", "design", "met"], times)


def design_text(rows) -> str:
    """The design calibrate simulates: the rows behind the headline (zero-RNA dropouts excluded)."""
    rows = rows[~rows["zero_rna_dropout"].astype(bool)]
    return (f"{len(rows):,} rows, {rows['input_sha256'].nunique():,} distinct inputs, "
            f"{rows['element_id'].nunique()} elements")


def real_structure_rows(counts: Path, params_path: Path, per_oligo_inputs: bool):
    """rows.parquet columns calibrate reads, from the real counts (inputs: per element or per oligo)."""
    params = load_params(params_path)
    library = read_library(counts, params.dataset.files)
    oligos = prepare_activity(library, params.dataset.activity).oligos  # zero-RNA dropouts flagged
    inputs = oligos["row_id"] if per_oligo_inputs else oligos["element_id"]
    columns = ["row_id", "element_id", "strand", "chrom", "tf_labels", "log2_ratio", "activity", "zero_rna_dropout"]
    return oligos[columns].assign(input_sha256=inputs.to_numpy())


if __name__ == "__main__":
    main()
