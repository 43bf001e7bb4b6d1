"""The report's QC section in words: every key prepare writes to qc.json and qc_details.json, for
GSE84888 (V1, V2, V3, the CPM method, a subset, motif mismatches, dropouts kept) and the Agarwal
sequence tables, has a sentence (report/qc.py WORDING); the section never prints a raw key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mprabench.files import sha256_file
from mprabench.report.qc import keys_of, qc_section, unworded
from mprabench.stages import prepare
from tests.conftest import compose_config, write_params
from tests.test_prepare_qc import damaged_genome
from tests.test_sequence_table import hepg2_rows, insert, write
from tests.test_v3_e2e import planted_library


def run_prepare(tmp_path: Path, raw: Path, overrides: list[str], **sections: dict) -> tuple[dict, dict]:
    params = write_params(tmp_path / "params.yaml", overrides, **sections)
    out = tmp_path / "out"
    prepare.main(["--params", str(params), "--raw", str(raw), "--genome-cache", str(out / "cache.fa"),
                  "--rows", str(out / "rows.parquet"), "--inputs", str(out / "inputs.fa"),
                  "--qc", str(out / "qc.json"), "--qc-details", str(out / "qc_details.json")])
    return json.loads((out / "qc.json").read_text()), json.loads((out / "qc_details.json").read_text())


def gse84888(tmp_path: Path, tiny, overrides: list[str], genome=None, exclude: bool = True,
             activity: dict | None = None, subset: dict | None = None) -> tuple[dict, dict]:
    fasta = tmp_path / "genome.fa"
    (genome or tiny.genome).write_chromosome_fasta(fasta)
    dataset = tiny.dataset_section()
    dataset["activity"]["zero_rna_dropout"]["exclude"] = exclude
    dataset["activity"] |= activity or {}
    dataset["subset"] |= subset or {}
    return run_prepare(tmp_path, tiny.counts_dir, overrides, dataset=dataset,
                       genome={**compose_config()["genome"], "fasta": str(fasta)})


def add_dropouts(tiny) -> None:
    """Two zero-RNA dropouts in Pool7 (0 RNA reads, many plasmid reads and barcodes), as test_prepare_qc does."""
    counts_file = tiny.counts_dir / tiny.files[1]["name"]
    table = pd.read_csv(counts_file, sep="\t")
    table.loc[[1, 2], ["tags", "counts.rna", "counts.plasmid"]] = [[200, 0, 900], [150, 0, 50]]
    table.to_csv(counts_file, sep="\t", index=False)
    tiny.files[1]["sha256"] = sha256_file(counts_file)


def v3(tmp_path: Path) -> tuple[dict, dict]:
    tmp_path = tmp_path / "v3"
    tmp_path.mkdir()
    counts, design, _ = planted_library(tmp_path, np.random.default_rng(5))
    dataset = compose_config()["dataset"] | {
        "source": str(counts.parent), "design": str(design),
        "files": [{"name": counts.name, "pool": "Pool6", "design_grammar": "site_replacement",
                   "sha256": sha256_file(counts)}]}
    return run_prepare(tmp_path, counts.parent, ["experiment=v3"], dataset=dataset,
                       genome={**compose_config()["genome"], "fasta": str(tmp_path / "genome.fa")})


def sequence_table(tmp_path: Path, name: str) -> tuple[dict, dict]:
    raw = tmp_path / "raw"
    raw.mkdir()
    if name == "agarwal2025_hepg2_test":
        rows = hepg2_rows() + [("DNasePeakNoPromoter9", insert(), "")]  # an empty activity cell
        write(raw, "test_HepG2.tsv", rows)
    else:
        write(raw, "test_WTC11.tsv", [("seq1_F", insert(), "1"), ("seq1_R", insert(), "2"), ("seq2_R", insert(), "0.5"),
                                      ("seq3_shuffled_0", insert(), "-1"), ("ENSG9_F", insert(), "0")])
    return run_prepare(tmp_path, raw, [f"dataset={name}", "experiment=insert"])


CASES = {
    "v1": lambda tmp, tiny: add_dropouts(tiny) or gse84888(tmp, tiny, ["experiment=v1"]),
    "v2": lambda tmp, tiny: add_dropouts(tiny) or gse84888(tmp, tiny, ["experiment=v2"]),
    "v2, dropouts kept": lambda tmp, tiny: add_dropouts(tiny) or gse84888(tmp, tiny, ["experiment=v2"], exclude=False),
    "v2, motif mismatches": lambda tmp, tiny: gse84888(tmp, tiny, ["experiment=v2"], genome=damaged_genome(tiny)),
    "v2, CPM method": lambda tmp, tiny: gse84888(tmp, tiny, ["experiment=v2"], activity={
        "method": "cpm_log2_ratio", "min_tags": 60, "min_plasmid": 400, "normalise_within_pool": True}),
    "v2, subset": lambda tmp, tiny: gse84888(tmp, tiny, ["experiment=v2"], subset={"n_elements": 2}),
    "v3 with a design": lambda tmp, tiny: v3(tmp),
    "Agarwal HepG2 fold": lambda tmp, tiny: sequence_table(tmp, "agarwal2025_hepg2_test"),
    "Agarwal WTC11 fold": lambda tmp, tiny: sequence_table(tmp, "agarwal2025_wtc11_test"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_qc_key_prepare_writes_has_words_and_none_is_printed_raw(tmp_path, tiny_library, case):
    qc, details = CASES[case](tmp_path, tiny_library)
    keys = keys_of(qc, details)
    assert unworded(keys) == [], f"{case}: QC keys without a sentence in report/qc.py WORDING"
    sequence_table_case = case.startswith("Agarwal")
    text = qc_section(qc, details, motif_sites=not sequence_table_case)
    print(text)
    if sequence_table_case:  # no motif sites in these names: the check does not apply and is not mentioned
        assert "Motif check" not in text and "motif" not in text.lower()
    prose = re.sub(r"dataset\.[\w.]+", "", text)  # setting names (dataset.activity...) are named on purpose
    for key in keys:
        path = key.partition(":")[2]
        assert path not in prose or "." not in path and "_" not in path, f"{case}: raw key {path!r} in the report"
        name = path.rsplit(".", 1)[-1]
        if "_" in name and not _data_named(name, qc, details):
            assert not re.search(rf"\b{re.escape(name)}\b", prose), f"{case}: raw key name {name!r} in the report"
    assert "Also recorded, not yet described" not in text
    if case == "v2, CPM method":
        assert qc["excluded"]["tags_below_min"] > 0 and qc["excluded"]["plasmid_below_min"] > 0, "both filters ran"
        assert f"{qc['excluded']['tags_below_min']:,} rows had fewer barcodes than" in text
    if case == "v2, subset":
        assert qc["excluded"]["outside_dataset_subset"] > 0
        assert f"{qc['excluded']['outside_dataset_subset']:,} rows lie outside the part of the library" in text
    if case in ("v1", "v2", "v2, subset", "v3 with a design"):  # the raw method runs no barcode or plasmid filter
        assert "barcodes than" not in text and "plasmid reads than" not in text


def _data_named(name: str, qc: dict, details: dict) -> bool:
    """A key segment that is a name from the data (an element, pool or class), not a key of the format."""
    activity = details.get("activity") or {}
    named = [(activity.get("zero_rna_dropout") or {}).get("candidates_by_element") or {},
             activity.get("pools") or {}, activity.get("rows_by_class") or {},
             activity.get("rows_by_orientation") or {}, details.get("motif_mismatch_rows") or {}]
    return any(name in block for block in named)


def test_the_dropout_sentence_states_count_rule_and_consequence(tmp_path, tiny_library):
    add_dropouts(tiny_library)
    qc, details = gse84888(tmp_path, tiny_library, ["experiment=v2"])
    rule = details["activity"]["zero_rna_dropout"]
    assert rule["flagged"] > 0, "the tiny library has zero-RNA dropouts"
    text = qc_section(qc, details, motif_sites=True)
    assert (f"{rule['candidates']:,} rows had 0 RNA reads with ≥ {rule['min_plasmid']} plasmid reads and ≥ "
            f"{rule['min_tags']} barcodes (zero-RNA dropouts" in text)
    assert f"The {rule['flagged']:,} dropouts are excluded from the headline" in text
    for element, n in rule["candidates_by_element"].items():
        assert f"| `{element}` | {n:,} |" in text, "dropouts by element: a table with the element's name"


def test_a_key_without_wording_is_still_shown_by_name():
    text = qc_section({"rows_in": 10, "new_count": 3}, {}, motif_sites=True)
    assert "Also recorded, not yet described here: `qc.json:new_count` = 3." in text
    assert unworded(keys_of({"rows_in": 10, "new_count": 3}, {})) == ["qc.json:new_count"]
