"""Reading counts files: layout, integers, duplicates, and names with their line numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mprabench.config import CountsFile, DesignGrammar
from mprabench.counts import read_counts_file, read_library
from mprabench.errors import InputDataError
from mprabench.names import NameGrammarError

HEADER = "name\ttags\tcounts.rna\tcounts.plasmid"
WT = "MAC_chr13_46069370_46069386_+_TGAAGGTCAGAGTTTA"
SPEC = CountsFile(name="pool7.txt", pool="Pool7", design_grammar=DesignGrammar.pair_spacing, sha256="-")


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "pool7.txt"
    path.write_text("\n".join([HEADER, *lines]))
    return path


def test_reads_rows_in_file_order_with_parsed_names(tmp_path):
    path = write(tmp_path, f"{WT}\t1152\t21377\t43479", f"{WT}_ap2_ap2_2_1\t178\t4834\t0")
    table = read_counts_file(path, SPEC)
    assert table["row_id"].tolist() == [WT, f"{WT}_ap2_ap2_2_1"]
    assert table["tags"].tolist() == [1152, 178]
    assert table["rna"].tolist() == [21377, 4834]
    assert table["plasmid"].tolist() == [43479, 0]
    assert table["is_wild_type"].tolist() == [True, False]
    assert table["tf_labels"].tolist() == [["wt"], ["ap2"]]
    assert set(table["pool"]) == {"Pool7"}


def test_malformed_name_reports_file_and_line(tmp_path):
    path = write(tmp_path, f"{WT}\t1\t1\t1", f"{WT}_ap2_ap2_9_1\t1\t1\t1")
    expected = re.escape(f"pool7.txt, line 3: oligo name '{WT}_ap2_ap2_9_1'")
    with pytest.raises(NameGrammarError, match=expected):
        read_counts_file(path, SPEC)


def test_wrong_header_is_an_error(tmp_path):
    path = tmp_path / "pool7.txt"
    path.write_text(f"name\ttags\trna\tplasmid\n{WT}\t1\t1\t1")
    with pytest.raises(InputDataError, match="line 1: header"):
        read_counts_file(path, SPEC)


@pytest.mark.parametrize("bad", ["-3", "1.5", "", "NA"])
def test_non_integer_count_names_line_and_value(tmp_path, bad):
    path = write(tmp_path, f"{WT}\t1\t1\t1", f"{WT}_ap2_ap2_2_1\t1\t{bad}\t1")
    with pytest.raises(InputDataError, match=rf"line 3: rna = '{bad}'.*not a non-negative integer"):
        read_counts_file(path, SPEC)


def test_duplicate_names_are_an_error_listing_lines(tmp_path):
    path = write(tmp_path, f"{WT}\t1\t1\t1", f"{WT}_ap2_ap2_2_1\t1\t1\t1", f"{WT}\t2\t2\t2")
    with pytest.raises(InputDataError, match=r"occurs more than once \(lines \[2, 4\]\)"):
        read_counts_file(path, SPEC)


def test_missing_file_says_to_fetch(tmp_path):
    with pytest.raises(InputDataError, match="Run the fetch stage"):
        read_counts_file(tmp_path / "absent.txt", SPEC)


def test_library_concatenates_pools(tiny_library):
    specs = [CountsFile(**{**f, "design_grammar": DesignGrammar(f["design_grammar"])}) for f in tiny_library.files]
    library = read_library(tiny_library.counts_dir, specs)
    assert library["pool"].value_counts().to_dict() == {"Pool6": 10, "Pool7": 38}
    assert library["element_id"].nunique() == 4


def test_an_optional_sequence_column_is_kept(tmp_path):
    path = tmp_path / "pool7.txt"
    path.write_text("\n".join([HEADER + "\tsequence", f"{WT}\t1\t2\t3\tacgtn"]))
    assert read_counts_file(path, SPEC)["sequence"].tolist() == ["ACGTN"]
