"""V3: reading the library design and embedding each oligo's own sequence in its genomic window."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mprabench.activity import add_activity
from mprabench.config import ActivityConfig, CountsFile, DesignGrammar
from mprabench.counts import read_counts_file
from mprabench.design import local_design_path, read_design
from mprabench.dna import reverse_complement
from mprabench.errors import InputDataError
from mprabench.sequences import (
    build_designed_inputs,
    designed_window,
    element_sites,
    embed_oligo,
    locate_wild_type,
)
from mprabench.sources.locations import repository_root
from tests.support.synthetic import (
    SyntheticElement,
    SyntheticGenome,
    replace_span,
    site_replacement_names,
    wild_type_oligo,
    write_counts_file,
)
from tests.conftest import configured

PLUS = SyntheticElement("PPREwt_1", "chr1", 20_000, "+", "AGGTCAAAGGTCAGTA")
MINUS = SyntheticElement("PPREwt_2", "chr1", 45_000, "-", "TGACCTTTGACCTCAG")
GENOME = SyntheticGenome({"chr1": 70_000}, [PLUS.planted_site(), MINUS.planted_site()], seed=5)
LENGTH, OFFSET = 150, 40
DESIGNS = ["cebp_10_20_ap1", "rxr_100_113_ppar"]


def library(tmp_path, elements=(PLUS, MINUS), flip_minus=False, drop=()):
    names = [n for e in elements for n in site_replacement_names(e, DESIGNS)]
    write_counts_file(tmp_path / "pool.txt", names, np.random.default_rng(0))
    spec = CountsFile(name="pool.txt", pool="Pool6", design_grammar=DesignGrammar.site_replacement, sha256="-")
    oligos, _ = add_activity(read_counts_file(tmp_path / "pool.txt", spec), configured(ActivityConfig, "dataset.activity"))
    design = {}
    for element in elements:
        wild_type = wild_type_oligo(GENOME, element, LENGTH, OFFSET)
        sequences = [wild_type, replace_span(wild_type, 10, "GATTACAGAT"), replace_span(wild_type, 100, "AGGTCAAAGGTCA")]
        for name, sequence in zip(site_replacement_names(element, DESIGNS), sequences, strict=True):
            design[name] = reverse_complement(sequence) if flip_minus and element.strand == "-" else sequence
    for name in drop:
        design.pop(name)
    return oligos, design


def build(oligos, design, width=2_048):
    margins = {s.element_id: LENGTH for s in element_sites(oligos)}
    windows = {s.element_id: designed_window(s, width, margins[s.element_id]) for s in element_sites(oligos)}
    references = {w: GENOME.sequence(w.chrom, w.start, w.end) for w in windows.values()}
    return build_designed_inputs(oligos, design, width, windows, references)


def input_of(built, name: str) -> str:
    return built.inputs[built.rows.set_index("row_id").loc[name, "input_sha256"]]


@pytest.mark.parametrize("element", [PLUS, MINUS])
@pytest.mark.parametrize("width", [2_048, 16_384])
def test_wild_type_oligo_reproduces_the_reference_window(tmp_path, element, width):
    oligos, design = library(tmp_path)
    built = build(oligos, design, width)
    sequence = input_of(built, f"{element.name_stem}_wt")
    assert len(sequence) == width
    # the oligo is centred: its genomic centre is the window's centre
    if element.strand == "+":
        centre = element.start - OFFSET + LENGTH // 2
        expected = GENOME.sequence(element.chrom, centre - width // 2, centre + width // 2)
    else:
        centre = element.end + OFFSET - LENGTH // 2
        expected = reverse_complement(GENOME.sequence(element.chrom, centre - width // 2, centre + width // 2))
    assert sequence == expected


@pytest.mark.parametrize("element", [PLUS, MINUS])
def test_designed_oligo_changes_only_its_own_span(tmp_path, element):
    oligos, design = library(tmp_path)
    built = build(oligos, design)
    wild_type = input_of(built, f"{element.name_stem}_wt")
    designed = input_of(built, f"{element.name_stem}_rxr_100_113_ppar")
    differing = [i for i, (a, b) in enumerate(zip(wild_type, designed, strict=True)) if a != b]
    oligo_start = (2_048 - LENGTH) // 2
    assert differing and oligo_start + 100 <= min(differing) and max(differing) < oligo_start + 113
    assert designed[oligo_start + 100 : oligo_start + 113] == "AGGTCAAAGGTCA"


def test_every_oligo_gets_its_own_input(tmp_path):
    oligos, design = library(tmp_path)
    built = build(oligos, design)
    assert len(built.rows) == 6 and len(built.inputs) == 6
    assert (built.motif_checked, built.motif_matches) == (6, 6)


def test_a_design_listed_on_the_other_strand_is_found_and_turned(tmp_path):
    oligos, design = library(tmp_path, flip_minus=True)
    built = build(oligos, design)
    straight = build(*library(tmp_path))
    assert built.inputs == straight.inputs
    assert built.notes["design_elements_reverse_complemented"] == 1


def test_missing_sequences_and_wild_types_are_counted_not_dropped_silently(tmp_path):
    oligos, design = library(tmp_path, drop=[f"{MINUS.name_stem}_wt", f"{PLUS.name_stem}_cebp_10_20_ap1"])
    design["not_in_counts"] = "ACGT"
    built = build(oligos, design)
    assert built.excluded == {"missing_design_sequence": 2, "no_wild_type_design": 2,
                              "wild_type_not_in_reference": 0}
    assert set(built.rows["row_id"]) == {f"{PLUS.name_stem}_wt", f"{PLUS.name_stem}_rxr_100_113_ppar"}
    assert built.notes["design_without_counts"] == 1


def test_wild_type_absent_from_the_reference_excludes_its_element(tmp_path):
    oligos, design = library(tmp_path)
    design[f"{PLUS.name_stem}_wt"] = "ACGT" * 40
    built = build(oligos, design)
    assert built.excluded["wild_type_not_in_reference"] == 3
    assert set(built.rows["element_id"]) == {MINUS.name_stem}


def test_locate_and_embed_primitives():
    reference = "AAAACCCCGGGGTTTTACGTTGCA"
    assert locate_wild_type(reference, "CCCCGGGGTTTTA") == (4, False)
    assert locate_wild_type(reference, "TAAAACCCCGGGG") == (4, True), "found as the reverse complement"
    assert locate_wild_type(reference * 2, "CCCCGGGGTTTTA") is None, "ambiguous matches are not guessed"
    assert embed_oligo("ABCDEFGHIJ", 4, 2, "xy", 6) == "CDxyGH"
    with pytest.raises(ValueError, match="does not fit"):
        embed_oligo("ABCDEFGHIJ", 1, 2, "xy", 8)


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".fa"])
def test_design_files_in_every_format(tmp_path, suffix):
    path = tmp_path / f"design{suffix}"
    if suffix == ".fa":
        path.write_text(">a_+_x\nACGTN\n>b\nacgt\n")
    else:
        separator = "," if suffix == ".csv" else "\t"
        path.write_text(f"name{separator}sequence{separator}note\na_+_x{separator}ACGTN{separator}1\n"
                        f"b{separator}acgt{separator}2\n")
    assert read_design(path) == {"a_+_x": "ACGTN", "b": "ACGT"}


def test_bad_design_records_are_errors(tmp_path):
    (tmp_path / "bad.tsv").write_text("name\tsequence\na\tACGU\n")
    with pytest.raises(InputDataError, match=r"record 'a'.*\['U'\]"):
        read_design(tmp_path / "bad.tsv")
    (tmp_path / "dup.tsv").write_text("name\tsequence\na\tACG\na\tACG\n")
    with pytest.raises(InputDataError, match=r"repeats \(lines \[2, 3\]\)"):
        read_design(tmp_path / "dup.tsv")
    (tmp_path / "cols.csv").write_text("id,seq\na,ACG\n")
    with pytest.raises(InputDataError, match="needs `name` and `sequence`"):
        read_design(tmp_path / "cols.csv")


def test_design_location_for_urls_and_paths(tmp_path):
    assert local_design_path("https://x.org/a/lib.tsv.gz", tmp_path) == tmp_path / "design" / "lib.tsv.gz"
    assert local_design_path("file:///data/my%20lib.tsv", tmp_path).as_posix() == "/data/my lib.tsv"
    assert local_design_path("lib.fa", tmp_path) == repository_root() / "lib.fa", "relative: to the repository root"


def test_an_oligo_longer_than_the_window_is_an_error_naming_it(tmp_path):
    oligos, design = library(tmp_path)
    name = f"{PLUS.name_stem}_cebp_10_20_ap1"
    design[name] = design[name] + "A" * 3_000
    with pytest.raises(InputDataError, match=re.escape(f"design oligo {name!r}") + ".*raise experiment.window"):
        build(oligos, design)


def test_a_sequence_column_in_the_fetched_counts_is_the_design_when_none_is_configured(tmp_path):
    from types import SimpleNamespace

    from mprabench.errors import ConfigError
    from mprabench.experiments import library_design

    oligos, design = library(tmp_path)
    params = SimpleNamespace(dataset=SimpleNamespace(design=None), experiment=SimpleNamespace(name="v3"))
    with pytest.raises(ConfigError, match="no `sequence` column: set dataset.design"):
        library_design(oligos, params, tmp_path)
    oligos["sequence"] = oligos["row_id"].map(design)
    oligos.loc[0, "sequence"] = ""  # an oligo the file gives no sequence for
    from_counts = library_design(oligos, params, tmp_path)
    assert from_counts == {n: s for n, s in design.items() if n != oligos.loc[0, "row_id"]}
    assert build(oligos, from_counts).excluded["missing_design_sequence"] == 1


def test_a_one_line_design_with_100k_fields_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "wide.tsv"
    path.write_text("\t".join(["name"] * 100_000) + "\n")  # repeated names: quadratic renaming in pandas
    with pytest.raises(InputDataError, match=r"wide.tsv, line 1: [\d,]+ or more fields, more than dataset.max_line_columns = 1,000"):
        read_design(path, max_columns=1_000)


def test_a_counts_file_with_a_wide_header_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "pool.txt"
    path.write_text("\t".join(["x"] * 50_000) + "\n")
    spec = CountsFile("pool.txt", "Pool6", DesignGrammar.site_replacement, "0" * 64)
    with pytest.raises(InputDataError, match=r"pool.txt, line 1: [\d,]+ or more fields, more than dataset.max_line_columns"):
        read_counts_file(path, spec, max_columns=1_000)


def test_an_over_long_design_sequence_is_named_as_such_not_blamed_on_the_genome(tmp_path):
    from types import SimpleNamespace

    from mprabench.experiments import _designed_inputs

    oligos, design = library(tmp_path)
    name = f"{PLUS.name_stem}_cebp_10_20_ap1"
    oligos["sequence"] = oligos["row_id"].map(design)
    oligos.loc[oligos["row_id"] == name, "sequence"] = "ACGT" * 2_500_000  # 10 Mb
    params = SimpleNamespace(dataset=SimpleNamespace(design=None), experiment=SimpleNamespace(name="v3", window=2_048),
                             genome=None)
    with pytest.raises(InputDataError, match=re.escape(f"design record {name!r}: its sequence is 10,000,000 bp, "
                                                       "longer than experiment.window = 2,048")):
        _designed_inputs(oligos, params, tmp_path / "genome", tmp_path)
