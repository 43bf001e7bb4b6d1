"""Check prepare on the real GSE84888 counts (../shared/data/GSE84888 by default).

V1 must give 18 rows and 18 distinct inputs; V2 6,963 rows and 18 distinct inputs. V2 needs
genome windows: mm9 is not available offline, so a synthetic genome covering the 18
windows (with each name's motif at its site) stands in — enough for counting, not for
biology. Run: python benchmarks/check_gse84888.py [--counts DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CONF, REPO, measure, report, stage  # noqa: E402

from mprabench.config import load_params  # noqa: E402
from mprabench.counts import read_library  # noqa: E402
from mprabench.sequences import centred_window, element_sites  # noqa: E402
from mprabench.testing.params import write_params  # noqa: E402
from mprabench.testing.synthetic import PlantedSite, SyntheticGenome  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", type=Path, default=REPO.parent / "shared" / "data" / "GSE84888")
    args = parser.parse_args()
    if not args.counts.is_dir():
        raise SystemExit(f"real counts not found at {args.counts}: nothing checked (pass --counts DIR)")
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        raw = directory / "raw"
        base = write_params(directory / "base.yaml", CONF, [f"dataset.source={args.counts}"])
        measure(stage("fetch", "--params", str(base), "--out", str(raw)))
        sites = element_sites(read_library(raw, load_params(base).dataset.files))
        sizes = {chrom: max(s.end for s in sites if s.chrom == chrom) + 100_000 for chrom in {s.chrom for s in sites}}
        genome = SyntheticGenome(sizes, [PlantedSite(s.chrom, s.start, s.plus_strand_motif) for s in sites])
        windows = [centred_window(s, 4_096) for s in sites]
        genome.write_regions_fasta(directory / "regions.fa", [(w.chrom, w.start, w.end) for w in windows])
        rows = []
        for experiment in ("v1", "v2"):
            params = write_params(directory / f"{experiment}.yaml", CONF, [
                f"dataset.source={args.counts}", f"genome.fasta={directory / 'regions.fa'}", f"experiment={experiment}"])
            out = directory / experiment
            measure(stage("prepare", "--params", str(params), "--raw", str(raw), "--genome-cache", str(out / "c.fa"),
                          "--rows", str(out / "rows.parquet"), "--inputs", str(out / "inputs.fa"),
                          "--qc", str(out / "qc.json")))
            qc = json.loads((out / "qc.json").read_text())
            rows.append([experiment, qc["rows_in"], qc["benchmark_rows"], qc["elements"], qc["distinct_inputs"],
                         f"{qc['motif_matches_reference']}/{qc['motif_checked']}", sum(qc["excluded"].values())])
    report(f"prepare on the real GSE84888 counts in {args.counts}",
           ["experiment", "rows in", "benchmark rows", "elements", "distinct inputs", "motif matches", "excluded"],
           rows)


if __name__ == "__main__":
    main()
