"""Run V1, V2 and V3 offline at one git revision and keep every `metrics/*.json`, to prove a refactor moved no number.

A refactor must leave `metrics/` byte-identical. This script builds the inputs once (real GSE84888 counts
with a synthetic stand-in for the 18 mm9 windows for V1/V2; a planted synthetic library with a design file
for V3), then, for a revision, runs the pipeline in a throwaway copy of that revision with its own code
(PYTHONPATH points at the copy's src/), against the local AlphaGenome stand-in and the offline baselines,
and copies each run's metrics to OUT/<experiment>_<predictor>/.

    python -m scripts.metrics_snapshot inputs DIR [--counts ../shared/data/GSE84888]
    python -m scripts.metrics_snapshot run --inputs DIR --rev REV --out OUT_A
    python -m scripts.metrics_snapshot compare OUT_A OUT_B     # exit 1 when any file differs

`--rev WORKTREE` (a path) snapshots a working tree as it is, uncommitted changes included.
"""

from __future__ import annotations

import argparse
import filecmp
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import yaml

from mprabench.config import load_params
from mprabench.counts import read_library
from mprabench.files import sha256_file
from mprabench.sequences import centred_window, element_sites
from tests.support.alphagenome.server import LocalAlphaGenomeServer
from tests.support.params import write_params
from tests.support.repo_copy import GIT_IDENTITY, RepoCopy
from tests.support.synthetic import (
    PlantedSite,
    SyntheticElement,
    SyntheticGenome,
    random_motif,
    replace_span,
    wild_type_oligo,
)

REPO = Path(__file__).resolve().parents[1]
# (experiment, dataset option, predictor): the real counts for V1/V2, the planted library for V3.
RUNS = [
    ("v1", "snap_real", "alphagenome"), ("v1", "snap_real", "gc"), ("v1", "snap_real", "kmer"),
    ("v2", "snap_real", "alphagenome"), ("v2", "snap_real", "gc"), ("v2", "snap_real", "kmer"),
    ("v3", "snap_planted", "alphagenome"), ("v3", "snap_planted", "kmer"),
]
PLANTED_ELEMENTS, PLANTED_DESIGNS, OLIGO, MOTIF_OFFSET = 14, 10, 150, 60
DR1, NEUTRAL = "AGGTCAAAGGTCA", "ACTTGCATCCGTA"


def make_inputs(directory: Path, counts: Path) -> None:
    """Writes the fixed inputs once: real counts' windows stand-in and a planted V3 library."""
    directory.mkdir(parents=True, exist_ok=True)
    params = write_params(directory / "params.yaml", REPO / "conf", [f"dataset.source={counts}"])
    subprocess.run([sys.executable, "-m", "mprabench.stages.fetch", "--params", str(params), "--out",
                    str(directory / "real_counts")], check=True)
    sites = element_sites(read_library(directory / "real_counts", load_params(params).dataset.files))
    sizes = {c: max(s.end for s in sites if s.chrom == c) + 100_000 for c in {s.chrom for s in sites}}
    genome = SyntheticGenome(sizes, [PlantedSite(s.chrom, s.start, s.plus_strand_motif) for s in sites])
    windows = [centred_window(s, 4_096) for s in sites]
    genome.write_regions_fasta(directory / "real_regions.fa", [(w.chrom, w.start, w.end) for w in windows])
    _planted_library(directory / "planted", np.random.default_rng(5))


def _planted_library(directory: Path, rng: np.random.Generator) -> None:
    elements = [SyntheticElement(f"PPREwt_{i}", f"chr{i % 3 + 1}", 20_000 * (i // 3 + 1), "+-"[i % 2],
                                 random_motif(rng)) for i in range(PLANTED_ELEMENTS)]
    genome = SyntheticGenome({f"chr{c}": 20_000 * (PLANTED_ELEMENTS // 3 + 3) for c in (1, 2, 3)},
                             [e.planted_site() for e in elements], seed=11)
    lines, design = ["name\ttags\tcounts.rna\tcounts.plasmid"], {}
    for element in elements:
        wild_type = wild_type_oligo(genome, element, OLIGO, MOTIF_OFFSET)
        base = rng.normal(0, 1)
        oligos = [(f"{element.name_stem}_wt", wild_type, base)]
        for d in range(PLANTED_DESIGNS):
            start = 5 + 13 * d if 5 + 13 * d + 13 <= MOTIF_OFFSET else MOTIF_OFFSET + 16 + 13 * (d - 4)
            carries = d % 2 == 0
            name = f"{element.name_stem}_ap1_{start}_{start + 13}_{'ppar' if carries else 'myc'}"
            oligos.append((name, replace_span(wild_type, start, DR1 if carries else NEUTRAL), base + 0.8 * carries))
        for name, sequence, target in oligos:
            rna = int(round(2_000 * 2 ** (target + rng.normal(0, 0.5))))
            lines.append(f"{name}\t100\t{rna}\t2000")
            design[name] = sequence
    (directory / "counts").mkdir(parents=True, exist_ok=True)
    (directory / "counts" / "PLANTED_Pool6.txt").write_text("\n".join(lines) + "\n")
    (directory / "design.tsv").write_text("name\tsequence\n" + "".join(f"{n}\t{s}\n" for n, s in design.items()))
    genome.write_chromosome_fasta(directory / "genome.fa")


def checkout(rev: str, destination: Path) -> RepoCopy:
    """A git copy of `rev` (a commit, or a worktree path taken as it is) with its own code on PYTHONPATH."""
    destination.mkdir(parents=True)
    if Path(rev).is_dir():
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=rev,
                                capture_output=True, text=True, check=True).stdout.split("\0")
        for relative in filter(None, listed):
            if (Path(rev) / relative).is_file():
                (destination / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(rev) / relative, destination / relative)
    else:
        archive = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True, check=True).stdout
        tarfile.open(fileobj=io.BytesIO(archive)).extractall(destination)
    env = {**{k: v for k, v in __import__("os").environ.items() if k != "MLFLOW_TRACKING_URI"}, **GIT_IDENTITY,
           "PATH": f"{Path(sys.executable).parent}:{__import__('os').environ.get('PATH', '')}",
           "PYTHONPATH": str(destination / "src"), "DVC_NO_ANALYTICS": "1", "ALPHAGENOME_API_KEY": "local-snapshot",
           "DVC_SITE_CACHE_DIR": str(destination.parent / "dvc-site-cache")}
    copy = RepoCopy(destination, env)
    copy.git("init", "-q", "-b", "main")
    copy.git("add", "-A")
    copy.git("commit", "-q", "-m", f"snapshot of {rev}")
    return copy


def add_dataset_options(copy: RepoCopy, inputs: Path) -> None:
    """dataset/genome options for the real counts and the planted library, from the copy's own conf/."""
    dataset = yaml.safe_load((copy.root / "conf" / "dataset" / "gse84888.yaml").read_text())
    genome = yaml.safe_load((copy.root / "conf" / "genome" / "mm9.yaml").read_text())
    copy.add_config("dataset", "snap_real", {**dataset, "source": str(inputs / "real_counts")})
    copy.add_config("genome", "snap_real", {**genome, "fasta": str(inputs / "real_regions.fa")})
    counts = inputs / "planted" / "counts" / "PLANTED_Pool6.txt"
    planted_file = {**dataset["files"][0], "name": counts.name, "sha256": sha256_file(counts)}
    copy.add_config("dataset", "snap_planted", {**dataset, "source": str(counts.parent), "files": [planted_file],
                                                "design": str(inputs / "planted" / "design.tsv")})
    copy.add_config("genome", "snap_planted", {**genome, "fasta": str(inputs / "planted" / "genome.fa")})


def run_snapshot(inputs: Path, rev: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, LocalAlphaGenomeServer() as server:
        copy = checkout(rev, Path(scratch) / "repo")
        add_dataset_options(copy, inputs)
        for experiment, dataset, predictor in RUNS:
            overrides = [f"experiment={experiment}", f"dataset={dataset}", f"genome={dataset}",
                         f"predictor={predictor}"]
            if predictor == "alphagenome":
                overrides += [f"predictor.address={server.address}", "predictor.insecure=true"]
            result = copy.dvc("exp", "run", *[a for o in overrides for a in ("-S", o)], check=False)
            target = out / f"{experiment}_{predictor}"
            if result.returncode != 0:
                raise SystemExit(f"{experiment}/{predictor} failed at {rev}:\n{result.stdout[-3000:]}\n"
                                 f"{result.stderr[-3000:]}")
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(copy.root / "metrics", target)
            print(f"{experiment:3} {predictor:12} -> {target}", flush=True)
        (out / "requests.json").write_text(json.dumps({"predict_calls": server.counters().predict_calls}) + "\n")


def compare(first: Path, second: Path) -> int:
    """Prints each metrics file that differs (or exists on one side only); the number of differences."""
    names = sorted({p.relative_to(first) for p in first.rglob("*.json")}
                   | {p.relative_to(second) for p in second.rglob("*.json")})
    differing = [n for n in names if not ((first / n).is_file() and (second / n).is_file()
                                           and filecmp.cmp(first / n, second / n, shallow=False))]
    for name in differing:
        print(f"DIFFERS: {name}")
    print(f"{len(names) - len(differing)} of {len(names)} metrics files byte-identical")
    return len(differing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("inputs")
    make.add_argument("directory", type=Path)
    make.add_argument("--counts", type=Path, default=REPO.parent / "shared" / "data" / "GSE84888")
    run = commands.add_parser("run")
    run.add_argument("--inputs", type=Path, required=True)
    run.add_argument("--rev", default="HEAD")
    run.add_argument("--out", type=Path, required=True)
    diff = commands.add_parser("compare")
    diff.add_argument("first", type=Path)
    diff.add_argument("second", type=Path)
    args = parser.parse_args()
    if args.command == "inputs":
        make_inputs(args.directory, args.counts)
    elif args.command == "run":
        run_snapshot(args.inputs.resolve(), args.rev, args.out.resolve())
    else:
        raise SystemExit(1 if compare(args.first, args.second) else 0)


if __name__ == "__main__":
    main()
