"""V1 and V2 model inputs on a tiny FASTA made here: centring, strands, motif check, edges."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mprabench.activity import prepare_activity
from mprabench.config import ActivityConfig, CountsFile, DesignGrammar, GenomeConfig
from mprabench.counts import read_counts_file
from mprabench.dna import reverse_complement, sequence_sha256
from mprabench.genome import WindowError, read_windows
from mprabench.sequences import (
    build_aggregated_inputs,
    build_individual_inputs,
    centred_window,
    element_sites,
    n_padded_motif,
)
from tests.support.synthetic import SyntheticElement, SyntheticGenome, site_replacement_names, write_counts_file
from tests.conftest import configured

PLUS = SyntheticElement("PPREwt_1", "chr1", 5_000, "+", "AGGTCAAAGGTCAGTA")
MINUS = SyntheticElement("PPREwt_2", "chr1", 15_000, "-", "TGACCTTTGACCTCAG")
DESIGNS = ["cebp_10_20_ap1", "rxr_30_45_nf1"]


def oligo_table(tmp_path: Path, elements: list[SyntheticElement]) -> pd.DataFrame:
    path = tmp_path / "pool.txt"
    write_counts_file(path, [n for e in elements for n in site_replacement_names(e, DESIGNS)], np.random.default_rng(0))
    spec = CountsFile(name=path.name, pool="Pool6", design_grammar=DesignGrammar.site_replacement, sha256="-")
    return prepare_activity(read_counts_file(path, spec), configured(ActivityConfig, "dataset.activity")).oligos


def genome_config(fasta: Path, max_n_fraction: float = 0.5) -> GenomeConfig:
    return configured(GenomeConfig, "genome", fasta=str(fasta), ucsc_api="http://unused", max_n_fraction=max_n_fraction)


def individual(tmp_path: Path, genome: SyntheticGenome, elements: list[SyntheticElement], width: int = 2048,
               seed_strand_bug: bool = False):
    fasta = tmp_path / "genome.fa"
    genome.write_chromosome_fasta(fasta)
    oligos = oligo_table(tmp_path, elements)
    windows = {s.element_id: centred_window(s, width) for s in element_sites(oligos)}
    references = read_windows(windows.values(), genome_config(fasta), tmp_path / "cache.fa")
    return build_individual_inputs(oligos, windows, references, seed_strand_bug)


def genome_with(*elements: SyntheticElement, **kwargs) -> SyntheticGenome:
    return SyntheticGenome({"chr1": 30_000, "chr2": 20_000}, [e.planted_site() for e in elements], **kwargs)


def test_v1_input_is_motif_centred_in_n():
    sequence = n_padded_motif("AGGTCAAAGGTCAGTA", 2048)
    assert sequence == "N" * 1016 + "AGGTCAAAGGTCAGTA" + "N" * 1016


def test_v1_one_row_per_element_with_mean_activity(tmp_path):
    oligos = oligo_table(tmp_path, [PLUS, MINUS])
    built = build_aggregated_inputs(oligos, 2048)
    assert len(built.rows) == 2 and len(built.inputs) == 2
    for row in built.rows.itertuples():
        members = oligos[oligos["element_id"] == row.element_id]
        assert row.log2_ratio == pytest.approx(members["log2_ratio"].mean())
        assert row.log2_ratio_std == pytest.approx(members["log2_ratio"].std(ddof=1))
        assert row.n_oligos == len(members) == 3
        assert row.rna == members["rna"].sum()
        assert built.inputs[row.input_sha256] == n_padded_motif(row.motif, 2048)
        assert list(row.tf_labels) == ["ap1", "cebp", "nf1", "rxr", "wt"]


def test_v2_window_is_centred_on_the_site():
    window = centred_window(element_sites(pd.DataFrame([{
        "element_id": "e", "chrom": "chr1", "start": 5000, "end": 5016, "strand": "+", "motif": "A" * 16}]))[0], 2048)
    assert (window.start, window.end) == (5008 - 1024, 5008 + 1024)


def test_v2_plus_element_is_the_reference_window(tmp_path):
    genome = genome_with(PLUS, MINUS)
    built = individual(tmp_path, genome, [PLUS, MINUS])
    plus_rows = built.rows[built.rows["element_id"] == PLUS.name_stem]
    (sha,) = set(plus_rows["input_sha256"])
    assert built.inputs[sha] == genome.sequence("chr1", 5008 - 1024, 5008 + 1024)
    assert built.inputs[sha][1016:1032] == PLUS.motif


def test_v2_minus_element_reads_in_its_own_orientation(tmp_path):
    genome = genome_with(PLUS, MINUS)
    built = individual(tmp_path, genome, [PLUS, MINUS])
    (sha,) = set(built.rows.loc[built.rows["element_id"] == MINUS.name_stem, "input_sha256"])
    expected = reverse_complement(genome.sequence("chr1", 15008 - 1024, 15008 + 1024))
    assert built.inputs[sha] == expected
    assert built.inputs[sha][1016:1032] == MINUS.motif, "the name's motif reads left to right in the input"


def test_v2_every_oligo_of_an_element_shares_one_input(tmp_path):
    built = individual(tmp_path, genome_with(PLUS, MINUS), [PLUS, MINUS])
    assert len(built.rows) == 6
    assert len(built.inputs) == 2
    assert built.rows.groupby("element_id")["input_sha256"].nunique().tolist() == [1, 1]
    for sha, sequence in built.inputs.items():
        assert sequence_sha256(sequence) == sha


def test_motif_check_counts_names_that_match_the_reference(tmp_path):
    other = SyntheticElement("PPREwt_2", "chr1", 15_000, "-", "AAAAAAAAAAAAAAAA")  # reference holds MINUS.motif
    built = individual(tmp_path, genome_with(PLUS, MINUS), [PLUS, other])
    assert (built.motif_checked, built.motif_matches) == (6, 3)
    (sha,) = set(built.rows.loc[built.rows["element_id"] == other.name_stem, "input_sha256"])
    assert built.inputs[sha][1016:1032] == other.motif, "the name's motif is placed even when it differs"


def test_seed_strand_bug_flips_minus_motifs_in_place_only_when_asked(tmp_path):
    genome = genome_with(PLUS, MINUS)
    correct = individual(tmp_path, genome, [PLUS, MINUS])
    buggy = individual(tmp_path, genome, [PLUS, MINUS], seed_strand_bug=True)
    by_element = lambda built: dict(zip(built.rows["element_id"], built.rows["input_sha256"].map(built.inputs)))
    fixed, seed = by_element(correct), by_element(buggy)
    assert fixed[PLUS.name_stem] == seed[PLUS.name_stem]
    assert seed[MINUS.name_stem][1016:1032] == reverse_complement(MINUS.motif)
    assert seed[MINUS.name_stem][:1016] == fixed[MINUS.name_stem][:1016]
    assert seed[MINUS.name_stem][1032:] == fixed[MINUS.name_stem][1032:]


@pytest.mark.parametrize(
    ("element", "problem"),
    [
        (SyntheticElement("PPREwt_9", "chr2", 19_500, "+", "A" * 16), "runs past the end of chr2 (length 20000)"),
        (SyntheticElement("PPREwt_9", "chr2", 100, "-", "A" * 16), "runs past the end of chr2"),
        (SyntheticElement("PPREwt_9", "chr7", 5_000, "+", "A" * 16), "chromosome chr7 is not in"),
    ],
)
def test_window_outside_the_genome_is_an_error_naming_the_element(tmp_path, element, problem):
    with pytest.raises(WindowError) as raised:
        individual(tmp_path, genome_with(PLUS), [PLUS, element])
    assert f"element {element.name_stem}" in str(raised.value)
    assert problem in str(raised.value)


def test_mostly_n_window_is_an_error_naming_the_element(tmp_path):
    genome = genome_with(PLUS, n_runs=[("chr1", 4_000, 4_990), ("chr1", 5_020, 6_000)])
    with pytest.raises(WindowError, match=re.escape(f"element {PLUS.name_stem}: window chr1:3984-6032: is 96% N")):
        individual(tmp_path, genome, [PLUS])


def test_regions_fasta_serves_windows_it_covers(tmp_path):
    genome = genome_with(PLUS, MINUS)
    regions = tmp_path / "regions.fa"
    genome.write_regions_fasta(regions, [("chr1", 3_000, 7_000), ("chr1", 13_000, 17_000)])
    oligos = oligo_table(tmp_path, [PLUS, MINUS])
    windows = {s.element_id: centred_window(s, 2048) for s in element_sites(oligos)}
    from_regions = read_windows(windows.values(), genome_config(regions), tmp_path / "cache.fa")
    for window, sequence in from_regions.items():
        assert sequence == genome.sequence(window.chrom, window.start, window.end)
    too_wide = {s.element_id: centred_window(s, 8192) for s in element_sites(oligos)}
    with pytest.raises(WindowError, match="not covered by any record"):
        read_windows(too_wide.values(), genome_config(regions), tmp_path / "cache.fa")
