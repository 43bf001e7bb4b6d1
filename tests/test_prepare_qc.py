"""prepare's QC outputs: a small qc.json metric, qc_details.json, and the motif-mismatch warning."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from mprabench.files import sha256_file
from mprabench.sequences import MOTIF_N_RUN, MOTIF_SEQUENCE_MISMATCH
from mprabench.stages import prepare
from tests.support.synthetic import SyntheticGenome
from tests.conftest import TinyLibrary, compose_config, write_params

MAX_QC_LEAVES = 15  # qc.json is a DVC metric: `dvc metrics diff --all` must stay within 100 rows


def numeric_leaves(value) -> int:
    if isinstance(value, dict):
        return sum(numeric_leaves(v) for v in value.values())
    return int(isinstance(value, (int, float)) and not isinstance(value, bool))


def damaged_genome(tiny: TinyLibrary) -> SyntheticGenome:
    """The tiny genome with a 4-N run over element 0's motif and element 3's motif not planted."""
    first, last = tiny.elements[0], tiny.elements[3]
    sites = [e.planted_site() for e in tiny.elements if e is not last]
    return SyntheticGenome(tiny.genome.chrom_sizes, sites, n_runs=[(first.chrom, first.start + 6, first.start + 10)],
                           seed=tiny.genome.seed)


def run_prepare(
    tmp_path: Path, tiny: TinyLibrary, genome: SyntheticGenome, *overrides: str, exclude_dropouts: bool = True
) -> tuple[dict, dict, Path]:
    fasta = tmp_path / "genome.fa"
    genome.write_chromosome_fasta(fasta)
    dataset = tiny.dataset_section()
    dataset["activity"]["zero_rna_dropout"]["exclude"] = exclude_dropouts
    params = write_params(tmp_path / "params.yaml", list(overrides), dataset=dataset,
                          genome={**compose_config()["genome"], "fasta": str(fasta)})
    out = tmp_path / "out"
    prepare.main(["--params", str(params), "--raw", str(tiny.counts_dir), "--genome-cache", str(out / "cache.fa"),
                  "--rows", str(out / "rows.parquet"), "--inputs", str(out / "inputs.fa"),
                  "--qc", str(out / "qc.json"), "--qc-details", str(out / "qc_details.json")])
    return json.loads((out / "qc.json").read_text()), json.loads((out / "qc_details.json").read_text()), out


def element_rows(tiny: TinyLibrary) -> dict[str, int]:
    counts = pd.concat(pd.read_csv(tiny.counts_dir / f["name"], sep="\t") for f in tiny.files)
    names = counts["name"]
    return {e.name_stem: int(((names == e.name_stem) | names.str.startswith(e.name_stem + "_")).sum())
            for e in tiny.elements}


@pytest.mark.parametrize("experiment", ["v1", "v2"])
def test_qc_metric_is_small_and_the_rest_is_in_details(tmp_path, tiny_library, experiment):
    qc, details, _ = run_prepare(tmp_path, tiny_library, tiny_library.genome, f"experiment={experiment}")
    assert numeric_leaves(qc) <= MAX_QC_LEAVES
    assert set(qc["excluded"]) == {"tags_below_min", "plasmid_below_min", "zero_rna_dropout"}
    assert set(details) == {"activity", "motif_mismatches", "motif_mismatch_rows", "elements_without_target", "design"}
    assert set(details["activity"]["pools"]) == {"Pool6", "Pool7"}
    pools = details["activity"]["pools"]
    assert qc["pool_offset_log2"] == pytest.approx(abs(pools["Pool6"]["median_log2_ratio"]
                                                       - pools["Pool7"]["median_log2_ratio"]))


def test_flagged_dropouts_are_counted_in_qc_and_marked_in_the_rows(tmp_path, tiny_library):
    counts_file = tiny_library.counts_dir / tiny_library.files[1]["name"]
    table = pd.read_csv(counts_file, sep="\t")
    table.loc[[1, 2, 3], ["tags", "counts.rna", "counts.plasmid"]] = [[200, 0, 900], [150, 0, 50], [4, 0, 900]]
    table.to_csv(counts_file, sep="\t", index=False)
    tiny_library.files[1]["sha256"] = sha256_file(counts_file)
    flagged = set(table["name"].iloc[[1, 2]])  # row 3 has 4 barcodes: below min_tags, not a dropout
    qc, details, out = run_prepare(tmp_path, tiny_library, tiny_library.genome, "experiment=v2")
    rows = pd.read_parquet(out / "rows.parquet")
    assert qc["excluded"]["zero_rna_dropout"] == 2
    assert set(rows.loc[rows["zero_rna_dropout"], "row_id"]) == flagged
    assert qc["benchmark_rows"] == qc["rows_in"], "V2 keeps the flagged rows (they are predicted)"
    assert qc["rows_used"] == qc["rows_in"] - 2
    assert details["activity"]["zero_rna_dropout"]["candidates_by_pool"] == {"Pool7": 2}

    qc_v1, _, out_v1 = run_prepare(tmp_path, tiny_library, tiny_library.genome, "experiment=v1")
    elements = pd.read_parquet(out_v1 / "rows.parquet")
    assert elements["n_dropouts"].sum() == 2 and not elements["zero_rna_dropout"].any()
    assert qc_v1["rows_used"] == qc_v1["rows_in"] - 2 == elements["n_oligos"].sum()

    qc_off, _, out_off = run_prepare(tmp_path, tiny_library, tiny_library.genome, "experiment=v2",
                                     exclude_dropouts=False)
    assert qc_off["excluded"]["zero_rna_dropout"] == 0
    assert not pd.read_parquet(out_off / "rows.parquet")["zero_rna_dropout"].any()


def test_motif_mismatches_are_recorded_by_reason_and_warned_about(tmp_path, tiny_library, caplog):
    caplog.set_level(logging.WARNING, logger="mprabench.prepare")
    qc, details, _ = run_prepare(tmp_path, tiny_library, damaged_genome(tiny_library), "experiment=v2")
    n_run, other = tiny_library.elements[0], tiny_library.elements[3]
    rows = element_rows(tiny_library)
    records = {r["element_id"]: r for r in details["motif_mismatches"]}
    assert set(records) == {n_run.name_stem, other.name_stem}
    assert records[n_run.name_stem]["reason"] == MOTIF_N_RUN
    assert records[n_run.name_stem]["reference_motif"] == n_run.motif[:6] + "NNNN" + n_run.motif[10:]
    assert records[other.name_stem]["reason"] == MOTIF_SEQUENCE_MISMATCH
    assert {k: r["rows"] for k, r in records.items()} == {k: rows[k] for k in records}
    assert details["motif_mismatch_rows"] == {MOTIF_N_RUN: rows[n_run.name_stem],
                                              MOTIF_SEQUENCE_MISMATCH: rows[other.name_stem]}
    assert qc["motif_checked"] - qc["motif_matches_reference"] == rows[n_run.name_stem] + rows[other.name_stem]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert n_run.name_stem in warning and other.name_stem in warning and MOTIF_N_RUN in warning


def test_no_motif_warning_when_every_motif_matches(tmp_path, tiny_library, caplog):
    caplog.set_level(logging.WARNING, logger="mprabench.prepare")
    qc, details, _ = run_prepare(tmp_path, tiny_library, tiny_library.genome, "experiment=v2")
    assert qc["motif_matches_reference"] == qc["motif_checked"] > 0
    assert details["motif_mismatches"] == [] and not caplog.records
