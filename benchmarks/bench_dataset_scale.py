"""prepare, evaluate and calibrate on a synthetic sequence-table library, and how each grows with its size.

The library has the Agarwal 2025 layout (230-nt inserts; each element in both orientations,
`<element>` / `<element>_Reversed:`; enhancers and promoters), read by the shipped
`agarwal2025_hepg2_test` config with its source and checksum overridden. Sizes go from 10 % to
100 % of `--sequences`; the full K562 library is 196,664 sequences (`--full`). Each stage runs as a
subprocess, timed like a DVC stage, with its peak resident memory. The gc baseline stands in for a
model (predict is timed too but has no target). Settings are the shipped ones unless overridden.
Targets at the full size: prepare <= 15 s and <= 2 GB, evaluate <= 60 s, calibrate <= 120 s.
The growth table gives each stage's wall time at every size (10, 25, 50 and 100 % by default).

Time does not grow smoothly across evaluate.permutation_normal_above_elements (20,000 elements =
40,000 sequences): below it evaluate and calibrate draw evaluate.n_permutations permutations per
permutation p, above it they take its normal limit (docs/statistics.md), so the 10 % K562 size
(9,833 elements) can take longer than 25 %. calibrate simulates evaluate.calibration.n_replicates
per null; with the gc baseline the Bonferroni family is 1 feature (its primary_features is null),
so its family-wise flag draws no features beyond the replicates (a family of k draws k - 1 more).

Every stage runs under an address-space cap (`--memory-cap-gb`): a stage that needs more fails with a
MemoryError, printed as "over the memory cap", instead of swapping a small shared machine.

Run: .venv/bin/python -m benchmarks.bench_dataset_scale [--sequences N | --full] [--fractions 0.1,0.25,0.5,1]
     [--permutations N] [--replicates N] [--stages prepare,evaluate] [--memory-cap-gb 8]
"""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import CONF, Measurement, measure, report, stage
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


STAGES = ("prepare", "predict (gc)", "evaluate", "calibrate")  # in pipeline order: each needs the one before
MEMORY_ERROR = "MemoryError"


def fetched_library(directory: Path, n_sequences: int, overrides: list[str]) -> tuple[list[str], Callable[[str], str]]:
    """Write a synthetic library of n_sequences into directory and run the real fetch stage on it.

    Returns the stages' common arguments (`--params`) and the path of a file in directory by name."""
    directory.mkdir(parents=True)
    source = directory / "source"
    source.mkdir()
    synthetic_library(source / "test_HepG2.tsv", n_sequences)
    params = write_params(directory / "params.yaml", CONF, [
        "dataset=agarwal2025_hepg2_test", f"dataset.source={source}",
        f"dataset.files.0.sha256={sha256_file(source / 'test_HepG2.tsv')}", "experiment=insert", "predictor=gc",
        *overrides])
    common = ["--params", str(params)]
    measure(stage("fetch", *common, "--out", str(directory / "raw")))
    return common, lambda name: str(directory / name)


def run_size(directory: Path, n_sequences: int, overrides: list[str], stages: set[str],
             cap_bytes: int) -> dict[str, Measurement | str]:
    """Each stage's measurement, or why it has none ("over the memory cap", "not run")."""
    common, p = fetched_library(directory, n_sequences, overrides)
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
                           "--details", p("calibration_details.json"), "--qq", p("qq.png")),
    }
    results: dict[str, Measurement | str] = {}
    for name, command in commands.items():
        # predict (and prepare before it) always run: evaluate and calibrate read their outputs
        needed = name in stages or any(later in stages for later in STAGES[STAGES.index(name) + 1:])
        if not needed:
            continue
        try:
            results[name] = measure(command, address_space_bytes=cap_bytes)
        except SystemExit as failure:
            if MEMORY_ERROR not in str(failure):
                raise
            results[name] = f"over the memory cap ({cap_bytes / 2**30:.0f} GB address space): MemoryError"
            break  # a later stage has no input
    return {name: result for name, result in results.items() if name in stages}


def add_size_arguments(parser: argparse.ArgumentParser) -> None:
    """--sequences, --full and --fractions: the library sizes a scale benchmark runs."""
    parser.add_argument("--sequences", type=int, default=20_000, help="100 %% size (default small; --full: K562)")
    parser.add_argument("--full", action="store_true", help=f"100 %% = {K562_SEQUENCES:,} sequences (K562)")
    parser.add_argument("--fractions", default="0.1,0.25,0.5,1.0", help="sizes as fractions of the 100 %% size")


def library_sizes(args: argparse.Namespace) -> tuple[int, list[tuple[float, int]]]:
    """The 100 % size and each (fraction, sequences) to run; sizes are even (both orientations of each element)."""
    total = K562_SEQUENCES if args.full else args.sequences
    return total, [(f, int(round(total * f / 2)) * 2) for f in (float(x) for x in args.fractions.split(","))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_arguments(parser)
    parser.add_argument("--permutations", type=int, default=None, help="override evaluate.n_permutations")
    parser.add_argument("--replicates", type=int, default=None, help="override evaluate.calibration.n_replicates")
    parser.add_argument("--stages", default=",".join(s for s in STAGES if s != "predict (gc)"),
                        help=f"stages to time, of {', '.join(STAGES)} (earlier ones run untimed as needed)")
    parser.add_argument("--memory-cap-gb", type=float, default=8.0, help="address-space cap per stage (GB)")
    args = parser.parse_args()
    total, sizes = library_sizes(args)
    overrides = ([f"evaluate.n_permutations={args.permutations}"] if args.permutations else []) + \
                ([f"evaluate.calibration.n_replicates={args.replicates}"] if args.replicates else [])
    stages = {s.strip() for s in args.stages.split(",")}
    unknown = stages - set(STAGES)
    if unknown:
        raise SystemExit(f"--stages: unknown {sorted(unknown)}; choose from {', '.join(STAGES)}")
    table, times = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        for fraction, n in sizes:
            results = run_size(Path(scratch) / f"size_{n}", n, overrides, stages, int(args.memory_cap_gb * 2**30))
            for name in (s for s in STAGES if s in results):
                table.append(row(fraction, n, name, results[name], n == K562_SEQUENCES))
                if isinstance(results[name], Measurement):
                    times.setdefault(name, []).append((n, results[name].wall_s))
    report(f"Sequence-table library, {total:,} sequences at 100 % (settings: conf/ plus {overrides or 'nothing'})",
           ["size", "sequences", "stage", "wall s", "cpu s", "peak MB", "target at 100 %", "met"], table)
    print_growth(times, sizes)


def print_growth(times: dict[str, list[tuple[int, float]]], sizes: list[tuple[float, int]]) -> None:
    """Each stage's wall time at every size, its ratio to the smallest size, and the exponent b of
    time ∝ size^b between the smallest and the largest size."""
    header = ["stage", *(f"{fraction:.0%} ({n:,})" for fraction, n in sizes), "b"]
    rows = []
    for name in STAGES:
        points = dict(times.get(name, []))
        if len(points) < 2:
            continue
        (n0, t0), (n1, t1) = min(points.items()), max(points.items())
        cells = [f"{points[n]:.1f} s (x{points[n] / max(t0, 1e-9):.1f})" if n in points else "-" for _, n in sizes]
        rows.append([name, *cells, f"{math.log(max(t1, 1e-9) / max(t0, 1e-9)) / math.log(n1 / n0):.2f}"])
    if rows:
        report("Growth with size: wall time (x: relative to the smallest size; b: time ∝ size^b, smallest to largest)",
               header, rows)


def row(fraction: float, n: int, name: str, result: Measurement | str, full_size: bool) -> list[str]:
    """One table row; the verdict only at the full K562 size (the targets are for that size)."""
    target = TARGETS.get(name)
    goal = "" if target is None else f"<= {target[0]:g} s" + (f", <= {target[1]:g} MB" if target[1] else "")
    if isinstance(result, str):
        return [f"{fraction:.0%}", f"{n:,}", name, result, "", "", goal, "NO" if target and full_size else ""]
    met = "" if target is None or not full_size else (
        "yes" if result.wall_s <= target[0] and (target[1] is None or result.peak_rss_mb <= target[1])
        else "NO (over target)")
    return [f"{fraction:.0%}", f"{n:,}", name, f"{result.wall_s:.1f}", f"{result.cpu_s:.1f}",
            f"{result.peak_rss_mb:.0f}", goal, met]


if __name__ == "__main__":
    main()
