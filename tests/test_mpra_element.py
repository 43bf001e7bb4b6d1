"""The ENCODE/IGVF mpra_element reader (BED6+5) and the reference input mode on a small local genome."""

from __future__ import annotations

import numpy as np
import pytest

from mprabench.config import GenomeConfig
from mprabench.settings import typed_section
from mprabench.dna import reverse_complement
from mprabench.errors import InputDataError
from mprabench.genome import read_windows
from mprabench.readers.mpra_element import read
from mprabench.config import MpraElementConfig
from mprabench.schema import ELEMENT_CLASS, ELEMENT_ID, LOG2_RATIO, ORIENTATION
from mprabench.sequences import build_reference_inputs, element_spans
from tests.conftest import REPO
from tests.support.params import configured_section


def section(source) -> MpraElementConfig:
    """No element file ships a config yet: the section is written out here, typed by the reader's schema."""
    base = {"name": "encode_example", "reader": "mpra_element", "source": str(source), "remote_suffix": "",
            "files": [{"name": "elements.bed", "sha256": None, "md5": "0" * 32}],
            "http": {"retries": 0, "backoff_s": 0.0, "timeout_s": 1.0, "max_bytes": 1_000_000},
            "max_decompressed_bytes": 10_000_000, "subset": {"n_elements": None, "seed": 0, "folds": None},
            "assay_biosample": {"species": "human", "organism": "HOMO_SAPIENS", "cell_line": "K562",
                                "cell_type": "K562", "ontology_term": "EFO:0002067"},
            "design": None, "assembly": "hg38",
            "class_patterns": [{"name": "promoter", "pattern": "^promoter"}, {"name": "enhancer", "pattern": "."}]}
    return typed_section(MpraElementConfig, base, "test", "dataset")


BED = [
    ("chr1", 100, 130, "promoter_A", 0, "+", 1.5, 100, 300, 5.0, 4.0),
    ("chr1", 100, 130, "promoter_A", 0, "-", 1.1, 120, 250, 4.0, 3.0),
    ("chr1", 400, 430, "enh_B", 0, "+", -0.5, 90, 60, 1.0, 0.5),
]


def write_bed(path, rows) -> None:
    path.write_text("#chrom\tstart\n" + "".join("\t".join(str(c) for c in r) + "\n" for r in rows))


def test_elements_orientations_and_reference_inputs(tmp_path):
    write_bed(tmp_path / "elements.bed", BED)
    library = read(section(tmp_path), tmp_path)
    rows = library.oligos
    assert rows[ELEMENT_ID].tolist() == ["chr1:100-130", "chr1:100-130", "chr1:400-430"]
    assert rows[ORIENTATION].tolist() == ["forward", "reverse", "forward"]
    assert rows[ELEMENT_CLASS].tolist() == ["promoter", "promoter", "enhancer"]
    assert rows[LOG2_RATIO].tolist() == [1.5, 1.1, -0.5]

    chrom = "".join(np.random.default_rng(0).choice(list("ACGT"), 1000))
    (tmp_path / "genome.fa").write_text(">chr1\n" + chrom + "\n")
    genome = configured_section(GenomeConfig, "genome", REPO / "conf", ["genome=hg38"], fasta=str(tmp_path / "genome.fa"))
    spans = element_spans(rows)
    built = build_reference_inputs(rows, spans, read_windows(spans.values(), genome, tmp_path / "cache.fa"), 64)
    inputs = [built.inputs[sha] for sha in built.rows["input_sha256"]]
    assert inputs[0].strip("N") == chrom[100:130]
    assert inputs[1].strip("N") == reverse_complement(chrom[100:130])
    assert all(len(s) == 64 for s in inputs)


def test_a_row_with_text_for_a_number_names_file_line_and_column(tmp_path):
    bad = [*BED[:2], ("chr1", 400, 430, "enh_B", 0, "+", "NA?", 90, 60, 1.0, 0.5)]
    write_bed(tmp_path / "elements.bed", bad)
    with pytest.raises(InputDataError, match=r"elements.bed, line 4, column log2FoldChange: 'NA\?' is not a number"):
        read(section(tmp_path), tmp_path)
