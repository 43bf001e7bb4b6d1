"""GC-fraction baseline: known answers for the central-window rule, N exclusion and errors."""

from __future__ import annotations

import numpy as np
import pytest

from mprabench.dna import central_window, central_window_bounds, n_free_starts
from mprabench.predictors.gc import gc_fraction_central


def _reference_gc(sequence: str, width: int) -> float:
    """Slow, obviously-correct reference: slice by the stated rule and count characters."""
    length = len(sequence)
    start = (length - width) // 2  # the left margin gets the smaller half
    window = sequence[max(start, 0) : min(start + width, length)]
    acgt = sum(window.count(base) for base in "ACGT")
    return (window.count("G") + window.count("C")) / acgt


@pytest.mark.parametrize(
    ("length", "width", "expected"),
    [
        (12, 4, (4, 8)),
        (12, 8, (2, 10)),
        (7, 3, (2, 5)),  # odd length, odd width: margins 2 and 2
        (8, 3, (2, 5)),  # even length, odd width: margins 2 and 3 (left gets the smaller half)
        (7, 4, (1, 5)),  # odd length, even width: margins 1 and 2
        (6, 10, (0, 6)),  # wider than the sequence: clipped on both sides
        (5, 1, (2, 3)),
        (0, 4, (0, 0)),
    ],
)
def test_central_window_bounds_follow_the_rule(length, width, expected):
    assert central_window_bounds(length, width) == expected


def test_central_window_bounds_rejects_non_positive_width():
    with pytest.raises(ValueError, match="width"):
        central_window_bounds(10, 0)


def test_gc_of_hand_made_sequences():
    sequences = [
        "AAAA" + "GCGC" + "AAAA",  # window of 4 is exactly the GC block
        "AAAA" + "GCGC" + "AAAA",  # window of 8 = "AAGCGCAA"
        "TTTTATATTTTT",  # no G/C at all
        "GGGCATCCC",  # L=9, w=3 -> [3, 6) = "CAT"
    ]
    widths = [4, 8, 4, 3]
    expected = [1.0, 0.5, 0.0, 1 / 3]
    got = [gc_fraction_central([s], w)[0] for s, w in zip(sequences, widths)]
    np.testing.assert_allclose(got, expected)


def test_n_is_excluded_from_the_denominator():
    # Window of 6 around the centre of "AANGCNNAAT..."-like inputs: N must not count as non-GC.
    sequence = "TTTT" + "NGCNNA" + "TTTT"  # window = "NGCNNA": G+C = 2, A/C/G/T = 3
    assert gc_fraction_central([sequence], 6)[0] == pytest.approx(2 / 3)
    # Mostly-N padding around a short motif, as in the motif-only inputs.
    padded = "N" * 1016 + "GGGCAAAGGTCAAAAA" + "N" * 1016
    assert gc_fraction_central([padded], 2048)[0] == pytest.approx(7 / 16)


def test_window_clipped_to_the_sequence():
    sequence = "GGCCAT"  # width 100 -> whole sequence: 4 GC of 6
    assert gc_fraction_central([sequence], 100)[0] == pytest.approx(4 / 6)


def test_window_ignores_bases_outside_it():
    # Only the GC-rich centre is read; AT flanks of any length must not matter.
    core = "GCGCGCGCAT"  # 8/10 GC
    for flank in (0, 5, 50):
        sequence = "A" * flank + core + "T" * flank
        assert gc_fraction_central([sequence], len(core))[0] == pytest.approx(0.8)


def test_all_n_window_is_an_error_naming_the_input():
    sequences = ["ACGTACGT", "AC" + "NNNN" + "GT"]  # second: window [2, 6) is all N
    with pytest.raises(ValueError, match=r"input #1 .*no A/C/G/T"):
        gc_fraction_central(sequences, 4)


def test_empty_sequence_is_an_error_not_nan():
    with pytest.raises(ValueError, match="input #0"):
        gc_fraction_central([""], 4)


def test_characters_outside_acgtn_are_rejected():
    with pytest.raises(ValueError, match=r"input #1 .*outside upper-case ACGTN"):
        gc_fraction_central(["ACGT", "ACgT"], 4)


def test_vectorised_result_matches_reference_on_random_inputs():
    rng = np.random.default_rng(7)
    sequences = []
    for _ in range(200):
        length = int(rng.integers(20, 400))
        bases = rng.choice(list("ACGTN"), size=length, p=[0.2, 0.25, 0.25, 0.2, 0.1])
        bases[(length - 1) // 2] = "A"  # the middle base lies in every central window: at least one A/C/G/T
        sequences.append("".join(bases))
    widths = [1, 7, 64, 1000]
    for width in widths:
        got = gc_fraction_central(sequences, width)
        expected = [_reference_gc(s, width) for s in sequences]
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_empty_input_list_gives_empty_array():
    assert gc_fraction_central([], 10).shape == (0,)


def test_central_window_and_n_free_starts_helpers():
    assert central_window("AACCGGTT", 2) == "CG"
    is_n = np.array([c == "N" for c in "ACNGTA"])
    np.testing.assert_array_equal(n_free_starts(is_n, 2), [True, False, False, True, True])
    assert n_free_starts(is_n, 7).size == 0
