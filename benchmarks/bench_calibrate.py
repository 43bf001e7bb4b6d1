"""The calibrate stage on the real GSE84888 structure (V2 and V3): per statistic its worst type-I rate /
coverage over the null family (and the null), the family-wise flag rate, wall time.

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
from mprabench.stats.calibration import worst_nulls
from tests.support.params import write_params

SECONDS_GOAL = 120.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", type=Path, default=REPO.parent / "shared" / "data" / "GSE84888")
    parser.add_argument("--replicates", type=int, default=None, help="override evaluate.calibration.n_replicates")
    args = parser.parse_args()
    if not args.counts.is_dir():
        raise SystemExit(f"real counts not found at {args.counts}: nothing measured (pass --counts DIR)")
    overrides = [f"evaluate.calibration.n_replicates={args.replicates}"] if args.replicates else []
    rows_table, times, candidates = [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        for experiment in ("v2", "v3"):
            params = write_params(directory / f"{experiment}.yaml", CONF, [f"experiment={experiment}", *overrides])
            rows = real_structure_rows(args.counts, params, per_oligo_inputs=experiment == "v3")
            rows.to_parquet(directory / f"{experiment}.parquet")
            out, details_path = directory / f"{experiment}.json", directory / f"{experiment}_details.json"
            run = measure(stage("calibrate", "--params", str(params), "--rows", str(directory / f"{experiment}.parquet"),
                                "--calibration", str(out), "--details", str(details_path),
                                "--qq", str(directory / f"{experiment}.png")))
            result, details = json.loads(out.read_text()), json.loads(details_path.read_text())
            tolerance = load_params(params).evaluate.calibration  # the report's verdict
            type_i, coverage = tolerance.type_i_tolerance, tolerance.coverage_tolerance
            times.append([experiment, f"{run.wall_s:.1f}", f"{run.cpu_s:.1f}", f"{run.peak_rss_mb:.0f}",
                          f"{details['n_replicates']} x {details['n_nulls']} nulls", design_text(rows),
                          "yes" if run.wall_s <= SECONDS_GOAL else "NO"])
            alpha, level = result["alpha"], result["ci_level"]
            nulls = worst_nulls(result)
            for key, test in result["tests"].items():
                ok = abs(test["type_I"] - alpha) <= type_i
                rows_table.append([experiment, key, "worst type I", f"{test['type_I']:.4f}", f"{test['mcse']:.4f}",
                                   nulls[f"tests.{key}"], f"{alpha} ± {type_i}", "yes" if ok else "NO"])
            for key, interval in result["intervals"].items():
                ok = abs(interval["coverage"] - level) <= coverage
                rows_table.append([experiment, key, "worst coverage", f"{interval['coverage']:.4f}",
                                   f"{interval['mcse']:.4f}", nulls[f"intervals.{key}"], f"{level} ± {coverage}",
                                   "yes" if ok else "NO"])
            for key, flag in result["flags"].items():
                rate = flag["familywise_rate"]
                rows_table.append([experiment, key, "highest rate", f"{rate:.4f}", f"{flag['mcse']:.4f}", nulls[f"flags.{key}"],
                                   f"≤ {alpha} + {type_i}", "yes" if rate <= alpha + type_i else "NO"])
            for key in details["candidate_tests"]:
                for null, rate in details["type_I"].get(key, {}).items():
                    candidates.append([experiment, key, null, f"{rate['rate']:.4f}", f"{rate['mcse']:.4f}"])
    report(f"calibrate stage on the real GSE84888 structure ({args.counts}): worst over the null family",
           ["structure", "statistic", "measure", "value", "MC SE", "null", "goal", "met"], rows_table)
    report("the replaced tests (candidates) under every null", ["structure", "test", "null", "type I", "MC SE"],
           candidates)
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
