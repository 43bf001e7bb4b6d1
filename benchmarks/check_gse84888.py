"""Check prepare on the real GSE84888 counts (../shared/data/GSE84888 by default).

V1 must give 18 rows and 18 distinct inputs; V2 6,963 rows and 18 distinct inputs. V2 needs
genome windows: mm9 is not available offline, so a synthetic genome covering the 18
windows (with each name's motif at its site) stands in — enough for counting, not for
biology (so every motif matches here; the real mm9 mismatch is not reproduced).
Also prints the zero-RNA dropouts the default rule flags (by pool and element, with their
barcode and plasmid medians), the per-pool log2 ratio and the pool offset, with the
exclusion on and off, and the effect of the dropouts on each V1 element target.
Run: .venv/bin/python -m benchmarks.check_gse84888 [--counts DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import pandas as pd

from benchmarks.common import CONF, REPO, measure, report, stage
from mprabench.config import load_params
from mprabench.counts import read_library
from mprabench.sequences import centred_window, element_sites
from tests.support.params import write_params
from tests.support.synthetic import PlantedSite, SyntheticGenome


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
        rows, pools, elements = [], [], None
        for experiment, overrides in (("v1", []), ("v2", []), ("v1", ["dataset.activity.zero_rna_dropout.exclude=false"]),
                                      ("v2", ["dataset.activity.normalise_within_pool=true"]),
                                      ("v2", ["dataset.activity.method=cpm_log2_ratio"])):
            label = " ".join([experiment, *(o.rsplit(".", 1)[-1] for o in overrides)])
            params = write_params(directory / "params.yaml", CONF, [
                f"dataset.source={args.counts}", f"genome.fasta={directory / 'regions.fa'}", f"experiment={experiment}",
                *overrides])
            out = directory / label.replace(" ", "_")
            measure(stage("prepare", "--params", str(params), "--raw", str(raw), "--genome-cache", str(out / "c.fa"),
                          "--rows", str(out / "rows.parquet"), "--inputs", str(out / "inputs.fa"),
                          "--qc", str(out / "qc.json"), "--qc-details", str(out / "qc_details.json")))
            qc = json.loads((out / "qc.json").read_text())
            details = json.loads((out / "qc_details.json").read_text())["activity"]
            dropout = details["zero_rna_dropout"]
            rows.append([label, qc["rows_in"], qc["rows_used"], qc["benchmark_rows"], qc["elements"],
                         qc["distinct_inputs"], f"{qc['motif_matches_reference']}/{qc['motif_checked']}",
                         json.dumps(qc["excluded"]), f"{qc['pool_offset_log2']:.3f}"])
            pools += [[label, pool, p["rows"], f"{p['mean_log2_ratio']:.3f}", f"{p['median_log2_ratio']:.3f}",
                       f"{p['subtracted']:.3f}", f"{p['log2_total_rna_over_plasmid']:.3f}"]
                      for pool, p in details["pools"].items()]
            if label == "v1":
                elements = pd.read_parquet(out / "rows.parquet")
                flagged = dropout
    report(f"prepare on the real GSE84888 counts in {args.counts}",
           ["run", "rows in", "rows used", "benchmark rows", "elements", "distinct inputs", "motif matches", "excluded",
            "pool offset log2"], rows)
    report("per-pool log2 ratio over the rows used", ["run", "pool", "rows", "mean", "median", "subtracted",
                                                         "log2 total rna/plasmid"], pools)
    report(f"zero-RNA dropouts (rule: rna == 0, plasmid >= {flagged['min_plasmid']}, tags >= {flagged['min_tags']})",
           ["candidates", "flagged", "by pool", "by element", "median tags", "median plasmid"],
           [[flagged["candidates"], flagged["flagged"], json.dumps(flagged["candidates_by_pool"]),
             json.dumps(flagged["candidates_by_element"]), flagged["candidate_median_tags"],
             flagged["candidate_median_plasmid"]]])
    report("V1 element targets without / with the dropouts (z over the 18 elements)",
           ["element", "n_dropouts", "log2_ratio", "with dropouts", "z", "z with dropouts"],
           [[r.element_id, r.n_dropouts, f"{r.log2_ratio:.3f}", f"{r.log2_ratio_with_dropouts:.3f}",
             f"{r.z:.2f}", f"{r.z_with:.2f}"] for r in _z_scores(elements).itertuples() if r.n_dropouts])


def _z_scores(elements: pd.DataFrame) -> pd.DataFrame:
    def z(column: pd.Series) -> pd.Series:
        return (column - column.mean()) / column.std(ddof=1)
    return elements.assign(z=z(elements["log2_ratio"]), z_with=z(elements["log2_ratio_with_dropouts"]))


if __name__ == "__main__":
    main()
