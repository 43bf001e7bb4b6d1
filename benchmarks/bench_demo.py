"""`make demo` from a local copy of GSE84888, timed: the target is at most 2 min after set-up.

    .venv/bin/python -m benchmarks.bench_demo --data path/to/GSE84888            # V1 + V2, gc kmer motif
    .venv/bin/python -m benchmarks.bench_demo --data path/to/GSE84888 --genome mm9.fa --profile

Runs `make demo DATA=<data>` (the README's local-copy form) in a git copy of this repository whose
.venv is this one's, linked, so set-up is not timed, and prints the wall time of the whole command
and of each `dvc exp run` in it. Without --genome, V2's mm9 windows come from a UCSC stand-in on
127.0.0.1 (synthetic bases with each element's named motif planted at its coordinates): the
pipeline does the same work as with the real genome; its V2 numbers are not the real ones.
--profile then reruns every stage of the last experiment once (`dvc repro --force --single-item`)
and prints each stage's time, and the rest of a run's time (DVC's own overhead).
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.common import REPO, measure, report
from mprabench.config import DesignGrammar
from mprabench.names import parse_oligo_names
from tests.support.http_server import LocalHttpServer
from tests.support.repo_copy import RepoCopy, make_repo_copy
from tests.support.synthetic import PlantedSite, SyntheticGenome

TARGET_S = 120.0
MM9_LONGEST = 200_000_000  # every mm9 chromosome is shorter: the stand-in only needs room for the windows
STAGES = ("local_inputs", "fetch", "prepare", "calibrate", "predict", "evaluate", "report")


def stand_in_genome(data: Path) -> SyntheticGenome:
    """Synthetic mm9-sized chromosomes carrying each element's named motif at its named position."""
    sites = {}
    for path, grammar in (("GSE84888_Pool6_MPRA.txt", DesignGrammar.site_replacement),
                          ("GSE84888_Pool7_MPRA.txt", DesignGrammar.pair_spacing)):
        names = pd.read_csv(data / path, sep="\t", usecols=["name"])["name"]
        parsed = parse_oligo_names(names, grammar, str(data / path), 2)
        for row in parsed.drop_duplicates(["chrom", "start", "strand", "motif"]).itertuples():
            plus = row.motif if row.strand == "+" else _reverse_complement(row.motif)
            sites[(row.chrom, row.start)] = PlantedSite(row.chrom, int(row.start), plus)
    chroms = {chrom for chrom, _ in sites}
    return SyntheticGenome({chrom: MM9_LONGEST for chrom in chroms}, list(sites.values()), seed=9)


def _reverse_complement(motif: str) -> str:
    return motif.translate(str.maketrans("ACGTN", "TGCAN"))[::-1]


def run_times(output: str) -> list[tuple[str, float]]:
    """(experiment, seconds) per `dvc exp run` of the demo's output ("== dvc exp run -n NAME" ... "done in S s")."""
    names = re.findall(r"== dvc exp run -n (\S+)", output)
    seconds = [float(s) for s in re.findall(r"done in (\d+) s", output)]
    return list(zip(names, seconds, strict=False))


def profile(repo: RepoCopy) -> list[list[object]]:
    rows = []
    for stage in STAGES:
        started = time.perf_counter()
        repo.dvc("repro", "--force", "--single-item", stage)
        rows.append([stage, f"{time.perf_counter() - started:.1f}"])
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a local folder with the GSE84888 counts files")
    parser.add_argument("--genome", type=Path, default=None, help="a local mm9 FASTA (else the UCSC stand-in)")
    parser.add_argument("--experiments", default="v1 v2", help="DEMO_EXPERIMENTS")
    parser.add_argument("--predictors", default="gc kmer motif", help="DEMO_PREDICTORS")
    parser.add_argument("--profile", action="store_true", help="also time each stage of the last experiment")
    args = parser.parse_args(argv)
    if not (args.data / "GSE84888_Pool6_MPRA.txt").is_file():
        raise SystemExit(f"{args.data}: no GSE84888_Pool6_MPRA.txt; --data names a folder with the counts files")

    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as scratch:  # a DVC child may still write
        repo = make_repo_copy(REPO, Path(scratch) / "repo")
        (repo.root / ".venv").symlink_to(REPO / ".venv")  # set-up done: `make` finds its stamp
        make = ["make", "demo", f"DATA={args.data.resolve()}", f"DEMO_EXPERIMENTS={args.experiments}",
                f"DEMO_PREDICTORS={args.predictors}"]
        with LocalHttpServer(genome=None if args.genome else stand_in_genome(args.data)) as ucsc:
            make += ([f"GENOME={args.genome.resolve()}"] if args.genome
                     else [f"DEMO_ARGS=--set genome.ucsc_api={ucsc.url}"])
            print("$", " ".join(make), flush=True)
            load = os.getloadavg()[0]
            measured = measure(make, cwd=repo.root, env={**repo.env, "PATH": f"{REPO / '.venv' / 'bin'}{os.pathsep}"
                                                                          f"{os.environ['PATH']}"})
            output, wall = measured.output, measured.wall_s
            print(output)
            stages = profile(repo) if args.profile else []
    runs = run_times(output)
    report(f"make demo from {args.data} ({args.experiments} × {args.predictors}; genome: "
           f"{args.genome or 'UCSC stand-in on 127.0.0.1'}); load average {load:.1f} at the start, "
           f"{os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} cores",
           ["run", "wall s"], [[name, f"{s:.0f}"] for name, s in runs] + [["make demo (total)", f"{wall:.0f}"]])
    # CPU time does not grow with other processes' load: on an idle machine the wall time is about this,
    # less what runs in parallel (figures are drawn in one process per core).
    print(f"CPU time of make demo and every process it started: {measured.cpu_s:.0f} s")
    if stages:
        total = sum(float(s) for _, s in stages)
        report("each stage of the last experiment, rerun alone (dvc repro --force --single-item)",
               ["stage", "wall s"], [*stages, ["sum", f"{total:.1f}"]])
        if runs:
            print(f"the last `dvc exp run` took {runs[-1][1]:.0f} s: about {runs[-1][1] - total:.0f} s beyond its "
                  "stages' sum (DVC's own work, and stages its run cache restored)")
    print(f"\nmake demo: {wall:.0f} s, {'meets' if wall <= TARGET_S else 'MISSES'} the target of <= {TARGET_S:.0f} s")


if __name__ == "__main__":
    main()
