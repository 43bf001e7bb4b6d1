"""The oligo name grammar on every real form and on malformed names."""

from __future__ import annotations

import pandas as pd
import pytest

from mprabench.config import DesignGrammar
from mprabench.names import NameGrammarError, parse_oligo_name, parse_oligo_names

POOL6 = DesignGrammar.site_replacement
POOL7 = DesignGrammar.pair_spacing


def test_pool6_wild_type():
    name = "PPREwt_129_chr5_51987228_51987244_-_AGTAGGGGAAAGAGTA_wt"
    parsed = parse_oligo_name(name, POOL6)
    assert (parsed.prefix, parsed.chrom, parsed.start, parsed.end) == ("PPREwt_129", "chr5", 51987228, 51987244)
    assert (parsed.strand, parsed.motif, parsed.design) == ("-", "AGTAGGGGAAAGAGTA", "wt")
    assert parsed.tf_labels == ("wt",)
    assert parsed.is_wild_type
    assert parsed.element_id == "PPREwt_129_chr5_51987228_51987244_-_AGTAGGGGAAAGAGTA"


def test_pool6_designed_labels_are_site_and_replacement():
    parsed = parse_oligo_name("PPREwt_129_chr5_51987228_51987244_-_AGTAGGGGAAAGAGTA_ap1_49_57_atf3", POOL6)
    assert parsed.design == "ap1_49_57_atf3"
    assert parsed.tf_labels == ("ap1", "atf3")
    assert not parsed.is_wild_type


def test_pool6_same_site_and_replacement_is_one_label():
    parsed = parse_oligo_name("PPREwt_129_chr5_51987228_51987244_-_AGTAGGGGAAAGAGTA_ap1_49_57_ap1", POOL6)
    assert parsed.tf_labels == ("ap1",)


def test_pool6_labels_may_contain_digits():
    parsed = parse_oligo_name("PPREwt_31_chr6_89535948_89535964_-_ACTGGGTTAAAGGCTA_ctf1_12_25_nr2f2", POOL6)
    assert parsed.tf_labels == ("ctf1", "nr2f2")


def test_pool7_without_design_is_wild_type():
    parsed = parse_oligo_name("MAC_chr13_46069370_46069386_+_TGAAGGTCAGAGTTTA", POOL7)
    assert (parsed.prefix, parsed.chrom, parsed.strand, parsed.design) == ("MAC", "chr13", "+", None)
    assert parsed.tf_labels == ("wt",)
    assert parsed.is_wild_type
    assert parsed.element_id == "MAC_chr13_46069370_46069386_+_TGAAGGTCAGAGTTTA"


def test_pool7_designed():
    parsed = parse_oligo_name("MAC_chr13_46069370_46069386_+_TGAAGGTCAGAGTTTA_cebp_fos_4_2", POOL7)
    assert parsed.design == "cebp_fos_4_2"
    assert parsed.tf_labels == ("cebp", "fos")
    assert not parsed.is_wild_type


def test_oligos_of_one_element_share_element_id():
    wt = parse_oligo_name("MAC_chr13_46069370_46069386_+_TGAAGGTCAGAGTTTA", POOL7)
    designed = parse_oligo_name("MAC_chr13_46069370_46069386_+_TGAAGGTCAGAGTTTA_ap2_ap2_2_1", POOL7)
    assert wt.element_id == designed.element_id


@pytest.mark.parametrize(
    ("name", "grammar", "reason"),
    [
        ("PPREwt_129_5_51987228_51987244_-_AGTAGGGGAAAGAGTA_wt", POOL6, "no {chrom}"),
        ("PPREwt_129_chr5_51987228_51987244_*_AGTAGGGGAAAGAGTA_wt", POOL6, "no {chrom}"),
        ("PPREwt_129_chr5_51987228_51987244_-_AGTAGGGGAAAGAGT_wt", POOL6, "motif length 15"),
        ("PPREwt_129_chr5_51987244_51987228_-_AGTAGGGGAAAGAGTA_wt", POOL6, "motif length"),
        ("PPREwt_129_chr5_51987228_51987244_-_AGTAGGGGAAAGAGTA", POOL6, "need a design"),
        ("PPREwt_129_chr5_51987228_51987244_-_AGTAGGGGAAAGAGTA_ap1_49_atf3", POOL6, "is not {site_tf}"),
        ("PPREwt_129_chr5_51987228_51987244_-_AGTAGGGGAAAGAGTA_ap1_57_49_atf3", POOL6, "not increasing"),
        ("PPREwt_129_chr5_51987228_51987244_-_AGTAGGGGAAAGAGTA_ap1_x_57_atf3", POOL6, "not increasing"),
        ("PPREwt_129_chr5_51987228_51987244_-_AGTAGGGGAAAGAGTA_1ap_49_57_atf3", POOL6, "site_tf '1ap'"),
        ("MAC_chr13_46069370_46069386_+_TGAAGGTCAGAGTTTA_cebp_fos_5_2", POOL7, "spacing '5'"),
        ("MAC_chr13_46069370_46069386_+_TGAAGGTCAGAGTTTA_cebp_fos_4_4", POOL7, "replicate '4'"),
        ("MAC_chr13_46069370_46069386_+_TGAAGGTCAGAGTTTA_cebp_4_2", POOL7, "is not {tf1}"),
        ("MAC_chr13_46069370_46069386_+_TGAAGGTCAGAGTTTA_wt", POOL7, "is not {tf1}"),
        ("", POOL7, "no {chrom}"),
    ],
)
def test_malformed_names_name_file_line_and_reason(name: str, grammar: DesignGrammar, reason: str):
    with pytest.raises(NameGrammarError) as raised:
        parse_oligo_name(name, grammar, source="Pool6.txt", line=42)
    message = str(raised.value)
    assert "Pool6.txt, line 42" in message
    assert repr(name) in message
    assert reason in message


VALID = {
    POOL6: ["PPREwt_129_chr5_51987228_51987244_-_AGTAGGGGAAAGAGTA_wt",
            "PPREwt_129_chr5_51987228_51987244_-_AGTAGGGGAAAGAGTA_ap1_49_57_atf3",
            "PPREwt_31_chr6_89535948_89535964_-_ACTGGGTTAAAGGCTA_ctf1_12_25_nr2f2",
            "PPREwt_129_chr5_51987228_51987244_-_agtaggggaaagagta_ap1_49_57_ap1"],
    POOL7: ["MAC_chr13_46069370_46069386_+_TGAAGGTCAGAGTTTA",
            "MAC_chr13_46069370_46069386_+_TGAAGGTCAGAGTTTA_cebp_fos_4_2",
            "MAC_chr13_46069370_46069386_+_TGAAGGTCAGAGTTTA_ap2_ap2_2_1"],
}


@pytest.mark.parametrize("grammar", [POOL6, POOL7])
def test_column_parser_agrees_with_the_scalar_parser(grammar):
    names = pd.Series(VALID[grammar])
    parsed = parse_oligo_names(names, grammar, "f.txt", first_line=2)
    for (_, row), name in zip(parsed.iterrows(), names, strict=True):
        one = parse_oligo_name(name, grammar)
        assert (row.prefix, row.chrom, row.start, row.end, row.strand, row.motif, row.design) == (
            one.prefix, one.chrom, one.start, one.end, one.strand, one.motif, one.design)
        assert (row.element_id, tuple(row.tf_labels), row.is_wild_type) == (one.element_id, one.tf_labels,
                                                                            one.is_wild_type)


def test_column_parser_reports_the_first_malformed_name_with_its_line():
    names = pd.Series(VALID[POOL7] + ["MAC_chr13_46069370_46069386_+_TGAAGGTCAGAGTTTA_cebp_fos_5_2"] + VALID[POOL7])
    with pytest.raises(NameGrammarError, match=r"f\.txt, line 5: .*spacing '5'"):
        parse_oligo_names(names, POOL7, "f.txt", first_line=2)
