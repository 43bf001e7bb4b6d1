"""experiment.context: what surrounds a short insert (V1's motif) in the model input. Comparing the
contexts is an experiment (v1 = n_pad, v1_genome, v1_flanks); bad settings stop prepare before any
file is read or request made."""

from __future__ import annotations

import pandas as pd
import pytest

from mprabench.config import load_params
from mprabench.errors import ConfigError
from mprabench.fasta import read_fasta
from mprabench.sequences import in_flanks
from tests.conftest import write_params
from tests.test_prepare_qc import run_prepare

LEFT, RIGHT = "TTTTGGGGCCCCAAAA", "ACGTACGTAAAACCCC"


def test_flanks_put_their_nearest_ends_beside_the_centred_insert():
    assert in_flanks("GATC", "AAACC", "TTTGG", 10) == "ACCGATCTTT"
    assert in_flanks("GATC", "C", "T", 10) == "NNCGATCTNN", "N beyond flanks shorter than the window"
    assert in_flanks("GATC", "", "", 8) == "NNGATCNN"
    with pytest.raises(ValueError, match="does not fit"):
        in_flanks("GATC", "A", "A", 3)


def inputs_by_element(out) -> dict[str, str]:
    rows = pd.read_parquet(out / "rows.parquet")
    inputs = read_fasta(out / "inputs.fa")
    return {row.element_id: inputs[row.input_sha256] for row in rows.drop_duplicates("element_id").itertuples()}


def test_the_three_contexts_give_one_input_per_element_around_the_same_motif(tmp_path, tiny_library):
    padded_qc, _, padded = run_prepare(tmp_path / "n_pad", tiny_library, tiny_library.genome, "experiment=v1")
    genome_qc, _, genome = run_prepare(tmp_path / "genome", tiny_library, tiny_library.genome, "experiment=v1_genome")
    flanked_qc, _, flanked = run_prepare(tmp_path / "flanks", tiny_library, tiny_library.genome,
                                         "experiment=v1_flanks", f"experiment.flanks.left={LEFT}",
                                         f"experiment.flanks.right={RIGHT}")
    _, _, v2 = run_prepare(tmp_path / "v2", tiny_library, tiny_library.genome, "experiment=v2")
    elements = {e.name_stem: e for e in tiny_library.elements}
    assert padded_qc["benchmark_rows"] == genome_qc["benchmark_rows"] == flanked_qc["benchmark_rows"] == len(elements)
    pd.testing.assert_frame_equal(pd.read_parquet(padded / "rows.parquet").drop(columns="input_sha256"),
                                  pd.read_parquet(genome / "rows.parquet").drop(columns="input_sha256"))
    v2_inputs = inputs_by_element(v2)
    for element, sequence in inputs_by_element(genome).items():
        assert sequence == v2_inputs[element], "v1_genome's input is the element's genomic window, as in V2"
        assert "N" not in sequence and len(sequence) == 2048
    for element, sequence in inputs_by_element(flanked).items():
        motif = elements[element].motif
        assert sequence == "N" * (1016 - len(LEFT)) + LEFT + motif + RIGHT + "N" * (1016 - len(RIGHT))
    for element, sequence in inputs_by_element(padded).items():
        assert sequence == "N" * 1016 + elements[element].motif + "N" * 1016


@pytest.mark.parametrize("overrides, message", [
    (["experiment.context=flank"], r"invalid value at `experiment.context`.*flank"),
    (["experiment=v1_flanks"], r"`experiment.flanks.left` must be set \(it is \?\?\? in the config\)"),
    (["experiment=v1_flanks", f"experiment.flanks.left={LEFT}", "experiment.flanks.right=ACGTNACG"],
     r"`experiment.flanks.right` has characters other than A, C, G, T: \['N'\]"),
    (["experiment=v1_flanks", "experiment.flanks.left=acgt", f"experiment.flanks.right={RIGHT}"],
     r"`experiment.flanks.left` has characters other than A, C, G, T"),
    (["experiment=v2", "experiment.context=n_pad"], r"`experiment.context` = n_pad does not apply to .*individual"),
])
def test_a_context_that_cannot_be_built_is_an_error_when_params_load(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_params(write_params(tmp_path / "params.yaml", overrides))


def test_genome_flanks_centre_a_measured_insert_on_either_strand():
    from mprabench.dna import reverse_complement
    from mprabench.sequences import genome_flank_windows, in_genome

    chromosome = "AAAACCCCGGGGTTTTACGTACGT"
    left, right = genome_flank_windows("e", "chr1", 8, 12, "+", insert_length=6, width=12)
    assert (left.start, left.end, right.start, right.end) == (5, 8, 12, 15)
    insert = "GATTAC"
    plus = in_genome(insert, chromosome[left.start:left.end], chromosome[right.start:right.end], "+")
    assert plus == "CCC" + insert + "TTT" and len(plus) == 12
    left, right = genome_flank_windows("e", "chr1", 8, 12, "-", insert_length=5, width=12)
    assert (left.end - left.start, right.end - right.start) == (4, 3)  # 3 before + 4 after, swapped on -
    minus = in_genome("GATTA", chromosome[left.start:left.end], chromosome[right.start:right.end], "-")
    assert minus == reverse_complement(chromosome[right.start:right.end]) + "GATTA" + \
        reverse_complement(chromosome[left.start:left.end])
    assert minus.index("GATTA") == 3, "centred: 3 bases before the insert, 4 after"


# Measured inserts (a sequence table, `experiment=insert*`): the same three contexts.
ADAPTER_LEFT, ADAPTER_RIGHT = "AGGACCGGATCAACT", "CATTGCGTGAACCGA"


def table_inputs(tmp_path, rows: list[dict], *overrides: str) -> dict[str, str]:
    """prepare on a `table` dataset; row name -> its model input."""
    from mprabench.stages import prepare
    from tests.support.synthetic import SyntheticGenome

    genome = SyntheticGenome({"chr1": 4_000}, [], seed=3)
    genome.write_chromosome_fasta(tmp_path / "genome.fa")
    table = tmp_path / "library.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    params = write_params(tmp_path / "params.yaml", ["dataset=table", f"dataset.source={table}",
                                                     f"genome.fasta={tmp_path / 'genome.fa'}", *overrides])
    out = tmp_path / "out"
    prepare.main(["--params", str(params), "--raw", str(tmp_path), "--genome-cache", str(out / "cache.fa"),
                  "--rows", str(out / "rows.parquet"), "--inputs", str(out / "inputs.fa"),
                  "--qc", str(out / "qc.json"), "--qc-details", str(out / "qc_details.json")])
    inputs, built = read_fasta(out / "inputs.fa"), pd.read_parquet(out / "rows.parquet")
    return {row.row_id: inputs[row.input_sha256] for row in built.itertuples()}, genome


def measured(element: str) -> str:
    return ADAPTER_LEFT + element + ADAPTER_RIGHT


def test_a_measured_insert_in_each_context(tmp_path):
    from mprabench.dna import reverse_complement
    from tests.support.synthetic import SyntheticGenome

    genome = SyntheticGenome({"chr1": 4_000}, [], seed=3)
    element = genome.sequence("chr1", 2_000, 2_040)
    rows = [{"name": "e1_F", "sequence": measured(element), "activity": 1.0, "chrom": "chr1", "start": 2_000,
             "end": 2_040, "orientation": "F", "element": "e1"},
            {"name": "e1_R", "sequence": measured(reverse_complement(element)), "activity": 0.5, "chrom": "chr1",
             "start": 2_000, "end": 2_040, "orientation": "R", "element": "e1"}]
    columns = ["dataset.columns.chrom=chrom", "dataset.columns.start=start", "dataset.columns.end=end",
               "dataset.columns.orientation=orientation", "dataset.columns.element=element",
               "experiment.window=200"]
    padded, _ = table_inputs(tmp_path / "n_pad", rows, "experiment=insert", *columns)
    assert padded["e1_F"] == "N" * 65 + measured(element) + "N" * 65
    in_genome, _ = table_inputs(tmp_path / "genome", rows, "experiment=insert_genome", *columns)
    assert in_genome["e1_F"] == genome.sequence("chr1", 1_935, 2_000) + measured(element) + \
        genome.sequence("chr1", 2_040, 2_105), "adapters stay; the element's own reference flanks around them"
    assert in_genome["e1_R"] == reverse_complement(genome.sequence("chr1", 2_040, 2_105)) + \
        measured(reverse_complement(element)) + reverse_complement(genome.sequence("chr1", 1_935, 2_000))
    flanked, _ = table_inputs(tmp_path / "flanks", rows, "experiment=insert_flanks", *columns,
                              f"experiment.flanks.left={LEFT}", f"experiment.flanks.right={RIGHT}")
    assert flanked["e1_F"] == "N" * (65 - len(LEFT)) + LEFT + measured(element) + RIGHT + "N" * (65 - len(RIGHT))


def test_genome_context_without_coordinates_is_a_clear_error(tmp_path):
    rows = [{"name": "a", "sequence": measured("ACGT" * 10), "activity": 1.0},
            {"name": "b", "sequence": measured("TTGA" * 10), "activity": 0.0}]
    with pytest.raises(ConfigError, match=r"experiment.context=genome needs each element's coordinates, and 2 of 2 "
                                          r"rows of dataset table have none"):
        table_inputs(tmp_path, rows, "experiment=insert_genome")
