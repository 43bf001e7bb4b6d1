"""prepare, evaluate and calibrate on a synthetic sequence-table library, and how each grows with its size.

The library has the Agarwal 2025 layout (230-nt inserts; each element in both orientations,
`<element>` / `<element>_Reversed:`; enhancers and promoters), read by the shipped
`agarwal2025_hepg2_test` config with its source and checksum overridden. Sizes go from 10 % to
100 % of `--sequences`; the full K562 library is 196,664 sequences (`--full`). Each stage runs as a
subprocess, timed like a DVC stage, with its peak resident memory. The gc baseline stands in for a
model (predict is timed too but has no target). Settings are the shipped ones unless overridden.
Targets at the full size: prepare <= 15 s and <= 2 GB, evaluate <= 60 s, calibrate <= 120 s.

Run: .venv/bin/python -m benchmarks.bench_dataset_scale [--sequences N | --full] [--fractions 0.1,0.5,1]
     [--permutations N] [--replicates N]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import CONF, measure, report, stage
from mprabench.files import sha256_file
from tests.support.params import write_params

K562_SEQUENCES = 196_664
TARGETS = {"prepare": (15.0, 2048.0), "evaluate": (60.0, None), "calibrate": (120.0, None)}
INSERT = 230


def synthetic_library(path: Path, n_sequences: int, seed: int = 0) -> None:
    """n_sequences rows (n/2 elements, both orientations) in the HepG2 test-fold layout."""
    rng = np.random.default_rng(seed)
    n_elements = n_sequences // 2
    codes = rng.integers(0, 4, size=(2 * n_elements, INSERT), dtype=np.uint8)
    sequences = np.frombuffer(np.array(list(b"ACGT"), dtype=np.uint8)[codes].tobytes(), dtype=f"S{INSERT}")
    names = [f"ENSG{i:011d}" if i % 8 == 0 else f"DNasePeakNoPromoter{i}" for i in range(n_elements)]
    ids = np.array([name + suffix for name in names for suffix in ("", "_Reversed:")])
    values = np.repeat(rng.normal(size=n_elements), 2) + 0.5 * rng.normal(size=2 * n_elements)
    pd.DataFrame({"seq_id": ids, "seq": sequences.astype(str), "mean_value": values.round(3)}).to_csv(
        path, sep="\t", index=False)


def run_size(directory: Path, n_sequences: int, overrides: list[str]) -> dict[str, tuple[float, float]]:
    directory.mkdir(parents=True)
    source = directory / "source"
    source.mkdir()
    synthetic_library(source / "test_HepG2.tsv", n_sequences)
    params = write_params(directory / "params.yaml", CONF, [
        "dataset=agarwal2025_hepg2_test", f"dataset.source={source}",
        f"dataset.files.0.sha256={sha256_file(source / 'test_HepG2.tsv')}", "experiment=insert", "predictor=gc",
        *overrides])
    p = lambda name: str(directory / name)  # noqa: E731
    common = ["--params", str(params)]
    measure(stage("fetch", *common, "--out", p("raw")))
    commands = {
        "prepare": stage("prepare", *common, "--raw", p("raw"), "--genome-cache", p("cache.fa"), "--rows",
                         p("rows.parquet"), "--inputs", p("inputs.fa"), "--qc", p("qc.json"), "--qc-details",
                         p("qc_details.json")),
        "predict (gc)": stage("predict", *common, "--inputs", p("inputs.fa"), "--rows", p("rows.parquet"), "--store",
                              p("store"), "--features", p("features.parquet"), "--training", p("training.json"),
                              "--metrics", p("predict.json"), "--provenance", p("provenance.json")),
        "evaluate": stage("evaluate", *common, "--rows", p("rows.parquet"), "--features", p("features.parquet"),
                          "--training", p("training.json"), "--summary", p("summary.json"), "--details",
                          p("details.json"), "--tables", p("tables"), "--figures", p("figures"), "--roc", p("roc.csv"),
                          "--scatter", p("scatter.csv"), "--provenance", p("provenance.json")),
        "calibrate": stage("calibrate", *common, "--rows", p("rows.parquet"), "--calibration", p("calibration.json"),
                           "--qq", p("qq.png")),
    }
    results = {}
    for name, command in commands.items():
        run = measure(command)
        results[name] = (run.wall_s, run.peak_rss_mb)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=20_000, help="100 %% size (default small; --full: K562)")
    parser.add_argument("--full", action="store_true", help=f"100 %% = {K562_SEQUENCES:,} sequences (K562)")
    parser.add_argument("--fractions", default="0.1,0.5,1.0", help="sizes as fractions of the 100 %% size")
    parser.add_argument("--permutations", type=int, default=None, help="override evaluate.n_permutations")
    parser.add_argument("--replicates", type=int, default=None, help="override evaluate.calibration.n_replicates")
    args = parser.parse_args()
    total = K562_SEQUENCES if args.full else args.sequences
    overrides = ([f"evaluate.n_permutations={args.permutations}"] if args.permutations else []) + \
                ([f"evaluate.calibration.n_replicates={args.replicates}"] if args.replicates else [])
    fractions = [float(f) for f in args.fractions.split(",")]
    table = []
    with tempfile.TemporaryDirectory() as scratch:
        for fraction in fractions:
            n = int(round(total * fraction / 2)) * 2
            for name, (seconds, rss) in run_size(Path(scratch) / f"size_{n}", n, overrides).items():
                target = TARGETS.get(name)
                # the targets are for the full K562 library: judged only at that size
                verdict = "" if target is None or n != K562_SEQUENCES else (
                    "yes" if seconds <= target[0] and (target[1] is None or rss <= target[1]) else "NO")
                goal = "" if target is None else f"<= {target[0]:g} s" + (f", <= {target[1]:g} MB" if target[1] else "")
                table.append([f"{fraction:.0%}", f"{n:,}", name, f"{seconds:.1f}", f"{rss:.0f}", goal, verdict])
    report(f"Sequence-table library, {total:,} sequences at 100 % (settings: conf/ plus {overrides or 'nothing'})",
           ["size", "sequences", "stage", "wall s", "peak MB", "target at 100 %", "met"], table)
    print("\nGrowth (wall time at 100 % / at the smallest size, for a size ratio of "
          f"{fractions[-1] / fractions[0]:.0f}):")
    for name in ("prepare", "evaluate", "calibrate"):
        times = [float(r[3]) for r in table if r[2] == name]
        print(f"  {name}: x{times[-1] / max(times[0], 1e-9):.1f}")


if __name__ == "__main__":
    main()
