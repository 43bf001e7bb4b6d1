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
