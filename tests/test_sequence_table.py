"""The sequence-table reader (readers/sequence_table.py) on small fixtures in the Agarwal 2025 layouts,
its bad-input errors, and an optional check against the real held-out fold."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from mprabench.errors import InputDataError
from mprabench.config import SequenceTableConfig
from mprabench.readers.sequence_table import MISSING_ACTIVITY, read
from mprabench.schema import ELEMENT_CLASS, ELEMENT_ID, LOG2_RATIO, ORIENTATION
from tests.conftest import REPO
from tests.support.params import configured_section

REAL = Path("/work/shared/data/agarwal2025")  # optional real-data check only (README facts)
rng = np.random.default_rng(0)


def dataset(name: str, **values) -> SequenceTableConfig:
    return configured_section(SequenceTableConfig, "dataset", REPO / "conf", [f"dataset={name}"], **values)


def insert(length: int = 30) -> str:
    return "".join(rng.choice(list("ACGT"), size=length))


def write(folder: Path, name: str, rows: list[tuple[str, ...]], header=("seq_id", "seq", "mean_value"),
          sep="\t") -> Path:
    path = folder / name
    path.write_text("\n".join(sep.join(r) for r in [header, *rows]) + "\n")
    return path


def hepg2_rows() -> list[tuple[str, str, str]]:
    rows = []
    for i in range(6):
        name = f"DNasePeakNoPromoter{i}" if i < 4 else f"ENSG0000{i}"
        rows += [(name, insert(), f"{i * 0.1:.2f}"), (f"{name}_Reversed:", insert(), f"{-i * 0.1:.2f}")]
    return rows


def test_hepg2_layout_gives_elements_orientations_and_classes(tmp_path):
    write(tmp_path, "test_HepG2.tsv", hepg2_rows())
    library = read(dataset("agarwal2025_hepg2_test"), tmp_path)
    rows = library.oligos
    assert library.rows_in == 12 and len(rows) == 12 and rows[ELEMENT_ID].nunique() == 6
    assert rows[ORIENTATION].value_counts().to_dict() == {"forward": 6, "reverse": 6}
    assert rows.groupby(ELEMENT_CLASS)[ELEMENT_ID].nunique().to_dict() == {"enhancer": 4, "promoter": 2}
    assert library.excluded == {MISSING_ACTIVITY: 0}


def test_wtc11_layout_counts_shuffled_controls_as_their_own_elements(tmp_path):
    rows = [("seq1_F", insert(), "1"), ("seq1_R", insert(), "2"), ("seq2_R", insert(), "0.5"),
            ("seq3_shuffled_0", insert(), "-1"), ("ENSG9_F", insert(), "0"), ("ENSG9_R", insert(), "0.1")]
    write(tmp_path, "test_WTC11.tsv", rows)
    oligos = read(dataset("agarwal2025_wtc11_test"), tmp_path).oligos.set_index("row_id")
    assert oligos[ELEMENT_ID].nunique() == 4
    assert oligos.loc["seq3_shuffled_0", ELEMENT_CLASS] == "control"
    assert oligos.loc["seq3_shuffled_0", ORIENTATION] is None and oligos.loc["seq2_R", ORIENTATION] == "reverse"
    assert oligos.loc["ENSG9_F", ELEMENT_CLASS] == "promoter" and oligos.loc["seq1_F", ELEMENT_CLASS] == "enhancer"


def test_table_config_reads_a_users_gzipped_csv_with_default_columns(tmp_path):
    path = tmp_path / "my_library.csv.gz"
    body = "name,sequence,activity\n" + "".join(f"s{i},{insert()},{i / 3:.3f}\n" for i in range(5)) + "s5,ACGTACGTAC" \
           "GTACGTACGTACGTACGTAC,\n"
    with gzip.open(path, "wt") as handle:
        handle.write(body)
    library = read(dataset("table", source=str(path)), tmp_path)
    assert library.rows_in == 6 and len(library.oligos) == 5  # the empty activity cell: excluded and counted
    assert library.excluded == {MISSING_ACTIVITY: 1}
    assert library.oligos[ELEMENT_ID].tolist() == [f"s{i}" for i in range(5)]
    assert np.allclose(library.oligos[LOG2_RATIO], [i / 3 for i in range(5)], atol=1e-3)


def _bad(rows, header=("seq_id", "seq", "mean_value")):
    return rows, header


BASE = [("E1", "ACGTACGTAC", "0.5"), ("E1_Reversed:", "GTACGTACGT", "0.1"), ("E2", "AAAACCCCGG", "1.0")]


@pytest.mark.parametrize("rows, header, expected", [
    (BASE, ("seq_id", "sequence", "mean_value"), ["line 1", "missing column(s) ['seq']", "did you mean"]),
    (BASE, ("id", "seq", "mean_value"), ["line 1", "missing column(s) ['seq_id']"]),
    ([*BASE, ("E1", "ACGTACGTAC", "0.2")], None, ["'E1' occurs more than once", "line 2", "line 5"]),
    ([*BASE[:2], ("E2", "acgtACGTAC", "1.0")], None, ["line 4", "column 'seq'", "lower-case"]),
    ([*BASE[:2], ("E2", "ACGTNCGTAC", "1.0")], None, ["line 4", "column 'seq'", "other than A, C, G, T: ['N']"]),
    ([*BASE[:2], ("E2", "ACGTACGTACGT", "1.0")], None, ["line 4", "column sequence", "12 nt", "Mixed insert lengths"]),
    ([*BASE[:2], ("E2", "ACGTACGTAC", "high")], None, ["line 4", "column 'mean_value'", "'high' is not a number"]),
])
def test_bad_input_is_an_error_naming_file_line_and_column(tmp_path, rows, header, expected):
    path = write(tmp_path, "test_HepG2.tsv", rows, header=header or ("seq_id", "seq", "mean_value"))
    with pytest.raises(InputDataError) as error:
        read(dataset("agarwal2025_hepg2_test"), tmp_path)
    message = str(error.value)
    assert str(path) in message
    for part in expected:
        assert part in message, message


def test_an_element_pattern_matching_no_id_is_named(tmp_path):
    path = write(tmp_path, "test_HepG2.tsv", BASE)
    with pytest.raises(InputDataError, match="matches no id") as error:
        read(dataset("agarwal2025_hepg2_test", id_pattern=r"(?P<element>chr\d+)_(?P<orientation>[FR])"), tmp_path)
    assert str(path) in str(error.value) and "line 2" in str(error.value) and "column 'seq_id'" in str(error.value)


def test_the_real_held_out_folds_match_their_readme():
    """Optional: the shared copy of the held-out folds (its README's facts); says so when absent."""
    if not (REAL / "test_HepG2.tsv").is_file():
        pytest.skip(f"{REAL} is absent on this machine: the real-data check did not run")
    hepg2 = read(dataset("agarwal2025_hepg2_test"), REAL)
    rows = hepg2.oligos
    assert (hepg2.rows_in, rows[ELEMENT_ID].nunique()) == (12_298, 6_149)
    assert rows.groupby(ELEMENT_ID).size().eq(2).all()
    assert rows[ELEMENT_CLASS].value_counts().to_dict() == {"enhancer": 10_738, "promoter": 1_560}
    assert round(rows[LOG2_RATIO].min(), 2) == -2.27 or round(rows[LOG2_RATIO].min(), 2) == -2.26
    wtc11 = read(dataset("agarwal2025_wtc11_test"), REAL).oligos
    sizes = wtc11.groupby(ELEMENT_ID).size().value_counts().to_dict()
    assert (len(wtc11), wtc11[ELEMENT_ID].nunique(), sizes) == (4_622, 2_313, {2: 2_309, 1: 4})
    assert wtc11[ELEMENT_CLASS].value_counts().to_dict() == {"enhancer": 3_709, "promoter": 910, "control": 3}


def test_full_library_layout_names_the_columns_found_and_missing(tmp_path):
    """The Zenodo layout is unseen here: a file without its columns fails naming found and missing ones."""
    path = write(tmp_path, "Agarwal_K562.tsv", [("ACGT", "0.1", "chr1", "10", "14")],
                 header=("sequence", "expression", "chromosome", "start", "end"))
    with pytest.raises(InputDataError) as error:
        read(dataset("agarwal2025_k562"), tmp_path)
    message = str(error.value)
    assert str(path) in message and "line 1" in message
    assert "missing column(s) ['averaged_expression', 'fold', 'seq']" in message
    assert "the header has ['sequence', 'expression', 'chromosome', 'start', 'end']" in message


def test_full_library_layout_takes_elements_from_coordinates(tmp_path):
    header = ("seq", "expression", "averaged_expression", "fold", "chromosome", "start", "end")
    rows = [("ACGTAC", "0.5", "0.4", "1", "chr1", "100", "106"), ("GTACGT", "0.3", "0.4", "1", "chr1", "100", "106"),
            ("TTTTGG", "1.5", "1.5", "2", "chr2", "5", "11")]
    write(tmp_path, "Agarwal_WTC11.tsv", rows, header=header)
    oligos = read(dataset("agarwal2025_wtc11"), tmp_path).oligos
    assert oligos[ELEMENT_ID].tolist() == ["chr1:100-106", "chr1:100-106", "chr2:5-11"]
    assert oligos["start"].tolist() == [100, 100, 5] and oligos["row_id"].iloc[0] == "Agarwal_WTC11.tsv:line2"


def test_full_library_folds_are_kept_so_a_subset_by_fold_selects_their_rows(tmp_path):
    from mprabench.config import SubsetConfig
    from mprabench.experiments import select_subset

    header = ("seq", "expression", "averaged_expression", "fold", "chromosome", "start", "end")
    rows = [("ACGTAC", "0.5", "0.4", "1", "chr1", "100", "106"), ("GTACGT", "0.3", "0.4", "2", "chr1", "200", "206"),
            ("TTTTGG", "1.5", "1.5", "2", "chr2", "5", "11")]
    write(tmp_path, "Agarwal_K562.tsv", rows, header=header)
    oligos = read(dataset("agarwal2025_k562"), tmp_path).oligos
    kept, outside = select_subset(oligos, SubsetConfig(n_elements=None, seed=0, folds=[2]), "agarwal2025_k562")
    assert kept["start"].tolist() == [200, 5] and outside == 1
    write(tmp_path, "Agarwal_K562.tsv", [rows[0], ("GTACGT", "0.3", "0.4", "two", "chr1", "200", "206")],
          header=header)
    with pytest.raises(InputDataError, match=r"line 3.*'two' is not a non-negative integer"):
        read(dataset("agarwal2025_k562"), tmp_path)


def test_prepare_reaches_the_reader_through_the_registry(tmp_path):
    """readers/registry.py hands the typed section to the reader its `reader` names."""
    from mprabench.readers.registry import read_dataset

    write(tmp_path, "test_HepG2.tsv", hepg2_rows())
    assert read_dataset(dataset("agarwal2025_hepg2_test"), tmp_path).rows_in == 12
