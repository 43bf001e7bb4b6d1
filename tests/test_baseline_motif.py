"""Motif baseline: planted max-scoring sites, both strands, window edges, N handling, loading."""

from __future__ import annotations

import re

import sqlite3

import numpy as np
import pytest

from mprabench.dna import reverse_complement
from tests.conftest import compose_config
from mprabench.predictors.motif import (
    ScoringMatrix,
    best_motif_scores,
    fetch_jaspar_motif,
    window_chunks,
    load_scoring_matrices,
    motif_column_name,
)

# The motif baseline's settings as conf/predictor/motif.yaml gives them (their one home).
CONFIGURED = compose_config(["predictor=motif"])["predictor"]
RELEASE, MATRIX_IDS, PSEUDOCOUNT = CONFIGURED["jaspar_release"], CONFIGURED["matrix_ids"], CONFIGURED["pseudocount"]

# Biopython's PSSM.calculate works in float32; pssm.max is float64.
SCORE_RTOL = 1e-5


def max_score(matrix) -> float:
    """Highest achievable log-odds score of a matrix (its PSSM's max)."""
    return float(matrix.forward.max)


@pytest.fixture(scope="module")
def matrices() -> tuple[ScoringMatrix, ...]:
    return load_scoring_matrices(MATRIX_IDS, RELEASE, PSEUDOCOUNT)


@pytest.fixture(scope="module")
def pparg(matrices) -> ScoringMatrix:
    return matrices[0]


def _max_scoring_site(matrix: ScoringMatrix) -> str:
    """The highest-scoring k-mer, derived from the PSSM values themselves (argmax per column)."""
    pssm = matrix.forward
    return "".join(max("ACGT", key=lambda base: pssm[base][j]) for j in range(pssm.length))


def _random_dna(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(list("ACGT"), size=length))


def _plant(background: str, site: str, start: int) -> str:
    return background[:start] + site + background[start + len(site) :]


def _single_score(sequence: str, matrix: ScoringMatrix, width: int) -> float:
    return float(best_motif_scores([sequence], [matrix], width).iloc[0, 0])


def test_default_matrices_load_from_shipped_release(matrices):
    assert [m.matrix_id for m in matrices] == MATRIX_IDS == ["MA0065.3", "MA0102.5"]
    assert [m.name for m in matrices] == ["Pparg::Rxra", "CEBPA"]
    assert [m.column for m in matrices] == ["motif_MA0065_3_Pparg_Rxra", "motif_MA0102_5_CEBPA"]
    assert [m.length for m in matrices] == [13, 10]
    assert all(m.release == RELEASE for m in matrices)


def test_default_matrices_are_the_latest_versions_in_the_shipped_sqlite():
    from pyjaspar.utils import get_jaspardb_path

    path = get_jaspardb_path(f"{RELEASE}.sqlite")
    with sqlite3.connect(path) as connection:
        for matrix_id in MATRIX_IDS:
            base_id, version = matrix_id.split(".")
            (latest,) = connection.execute(
                "select max(VERSION) from MATRIX where BASE_ID = ?", (base_id,)
            ).fetchone()
            assert int(version) == latest


def test_unknown_release_or_matrix_or_unversioned_id_is_an_error():
    with pytest.raises(ValueError, match="unknown JASPAR release"):
        load_scoring_matrices(MATRIX_IDS, "JASPAR1999", PSEUDOCOUNT)
    with pytest.raises(ValueError, match="not in release JASPAR2022"):
        load_scoring_matrices(["MA0065.3"], "JASPAR2022", PSEUDOCOUNT)  # .3 first appears in 2024
    with pytest.raises(ValueError, match="versioned"):
        load_scoring_matrices(["MA0065"], RELEASE, PSEUDOCOUNT)


def test_loading_is_cached():
    before = fetch_jaspar_motif.cache_info().hits
    load_scoring_matrices(MATRIX_IDS, RELEASE, PSEUDOCOUNT)
    load_scoring_matrices(MATRIX_IDS, RELEASE, PSEUDOCOUNT)
    assert fetch_jaspar_motif.cache_info().hits >= before + len(MATRIX_IDS)


def test_planted_max_site_scores_the_pssm_maximum(matrices):
    rng = np.random.default_rng(1)
    for matrix in matrices:
        site = _max_scoring_site(matrix)
        sequence = _plant(_random_dna(rng, 2048), site, 1010)
        score = _single_score(sequence, matrix, width=200)
        assert score == pytest.approx(max_score(matrix), rel=SCORE_RTOL)


def test_planted_reverse_complement_scores_the_same(matrices):
    rng = np.random.default_rng(2)
    for matrix in matrices:
        site = reverse_complement(_max_scoring_site(matrix))
        sequence = _plant(_random_dna(rng, 2048), site, 1030)
        assert _single_score(sequence, matrix, 200) == pytest.approx(max_score(matrix), rel=SCORE_RTOL)


def test_random_background_alone_stays_well_below_the_maximum(pparg):
    rng = np.random.default_rng(3)
    score = _single_score(_random_dna(rng, 2048), pparg, 200)
    assert score < max_score(pparg) - 1.0


@pytest.mark.parametrize("strand", ["forward", "reverse"])
def test_site_must_lie_entirely_inside_the_window(pparg, strand):
    rng = np.random.default_rng(4)
    site = _max_scoring_site(pparg)
    if strand == "reverse":
        site = reverse_complement(site)
    length, width = 400, 100
    window_end = length // 2 - width // 2 + width  # 250
    background = _random_dna(rng, length)
    flush = _plant(background, site, window_end - len(site))  # last base = last window base
    overhang = _plant(background, site, window_end - len(site) + 1)  # one base outside
    assert _single_score(flush, pparg, width) == pytest.approx(max_score(pparg), rel=SCORE_RTOL)
    assert _single_score(overhang, pparg, width) < max_score(pparg) - 1.0
    # Widening the window by two (one base each side) brings the site back in.
    assert _single_score(overhang, pparg, width + 2) == pytest.approx(max_score(pparg), rel=SCORE_RTOL)


def test_mostly_n_input_with_centred_motif(matrices):
    # Shape of the motif-only inputs: N padding around a 16-bp motif in the middle.
    for matrix in matrices:
        motif16 = ("A" + _max_scoring_site(matrix) + "AAAAAA")[:16]
        sequence = "N" * 1016 + motif16 + "N" * 1016
        scores = best_motif_scores([sequence], [matrix], 2048)
        assert np.isfinite(scores.to_numpy()).all()
        assert scores.iloc[0, 0] == pytest.approx(max_score(matrix), rel=SCORE_RTOL)


def test_occurrence_containing_n_is_not_scored(pparg):
    rng = np.random.default_rng(5)
    site = _max_scoring_site(pparg)
    broken = site[:6] + "N" + site[7:]
    sequence = _plant(_random_dna(rng, 400), broken, 195)
    score = _single_score(sequence, pparg, 100)
    assert np.isfinite(score)
    assert score < max_score(pparg) - 1.0


def test_window_without_any_n_free_position_is_an_error_naming_the_input(pparg):
    sequences = ["ACGT" * 100, "N" * 400, "ACGT" * 100]
    with pytest.raises(ValueError, match=r"input #1 .*MA0065\.3"):
        best_motif_scores(sequences, [pparg], 100)
    # N every 10 bases: no 13-bp stretch is N-free.
    gappy = "".join("ACGTACGTA" + "N" for _ in range(40))
    with pytest.raises(ValueError, match="input #0"):
        best_motif_scores([gappy], [pparg], 100)


def test_window_shorter_than_motif_is_an_error(pparg):
    with pytest.raises(ValueError, match="input #0"):
        best_motif_scores(["ACGT" * 100], [pparg], pparg.length - 1)


def test_scores_match_an_independent_both_strand_computation(matrices):
    rng = np.random.default_rng(6)
    bases = list(rng.choice(list("ACGT"), size=120))
    for position in (30, 31, 70):
        bases[position] = "N"
    sequence = "".join(bases)
    width = 60
    start = len(sequence) // 2 - width // 2
    window = sequence[start : start + width]
    scores = best_motif_scores([sequence], matrices, width)
    for matrix in matrices:
        pssm, m = matrix.forward, matrix.length
        candidates = []
        for offset in range(width - m + 1):
            kmer = window[offset : offset + m]
            if "N" in kmer:
                continue
            for strand in (kmer, reverse_complement(kmer)):
                candidates.append(sum(pssm[base][j] for j, base in enumerate(strand)))
        assert scores[matrix.column].iloc[0] == pytest.approx(max(candidates), rel=SCORE_RTOL)


def test_output_shape_columns_and_order(matrices):
    rng = np.random.default_rng(8)
    sequences = [_random_dna(rng, 300) for _ in range(5)]
    sequences[3] = _plant(sequences[3], _max_scoring_site(matrices[1]), 145)
    scores = best_motif_scores(sequences, matrices, 100)
    assert list(scores.columns) == [m.column for m in matrices]
    assert scores.shape == (5, 2)
    assert scores.dtypes.eq(np.float64).all()
    assert scores[matrices[1].column].idxmax() == 3


def test_site_split_across_neighbouring_inputs_does_not_count(pparg):
    # Inputs are scored as one concatenation; an occurrence must never span two windows.
    rng = np.random.default_rng(9)
    site = _max_scoring_site(pparg)
    width = 40
    head = _random_dna(rng, width - 6) + site[:6]  # window of input 0 ends with the site's start
    tail = site[6:] + _random_dna(rng, width - len(site) + 6)  # input 1 starts with its end
    scores = best_motif_scores([head, tail], [pparg], width)
    assert (scores.iloc[:, 0] < max_score(pparg) - 1.0).all()
    assert _single_score(head + tail, pparg, 2 * width) == pytest.approx(max_score(pparg), rel=SCORE_RTOL)


def test_chunking_does_not_change_scores(matrices):
    rng = np.random.default_rng(10)
    sequences = [_random_dna(rng, int(rng.integers(30, 300))) for _ in range(40)]
    sequences[7] = "N" * 50 + sequences[7] + "N" * 50
    whole = best_motif_scores(sequences, matrices, 120)
    for chunk_bases in (1, 100, 1000):
        np.testing.assert_array_equal(best_motif_scores(sequences, matrices, 120, chunk_bases), whole)
    assert window_chunks([5, 5, 20, 5], 10) == [(0, 2), (2, 3), (3, 4)]
    assert window_chunks([], 10) == []


def test_characters_outside_acgtn_are_rejected_naming_the_input(pparg):
    with pytest.raises(ValueError, match=r"input #1 .*outside upper-case ACGTN"):
        best_motif_scores(["ACGT" * 20, "ACGR" * 20], [pparg], 40)


def test_pseudocount_is_applied():
    sharp = load_scoring_matrices(["MA0102.5"], RELEASE, PSEUDOCOUNT)[0]
    flat = load_scoring_matrices(["MA0102.5"], RELEASE, PSEUDOCOUNT * 100)[0]
    # A larger pseudocount pulls every frequency towards the background, lowering the best log-odds.
    assert max_score(flat) < max_score(sharp)
    with pytest.raises(ValueError, match="pseudocount"):
        load_scoring_matrices(MATRIX_IDS, RELEASE, pseudocount=0.0)


def test_column_name_slug():
    assert motif_column_name("MA0065.2", "PPARG::RXRA") == "motif_MA0065_2_PPARG_RXRA"
    assert motif_column_name("MA0102.5", "CEBPA") == "motif_MA0102_5_CEBPA"


@pytest.mark.parametrize("changes, words", [
    ({"width": 5}, "predictor.width = 5 is shorter than the longest matrix"),
    ({"jaspar_release": "JASPAR1999"}, "unknown JASPAR release"),
])
def test_a_bad_setting_is_a_config_error_before_any_input_is_read(changes, words):
    from mprabench.errors import ConfigError
    from mprabench.predictors.motif import MotifConfig, MotifPredictor
    from mprabench.settings import typed_section

    settings = {k: v for k, v in CONFIGURED.items() if k != "_target_"}
    config = typed_section(MotifConfig, {**settings, **changes}, "conf/predictor/motif.yaml", "predictor")
    with pytest.raises(ConfigError, match=re.escape(words)):
        MotifPredictor(config)


def test_feature_names_have_no_dot_for_dvc_and_labels_keep_the_jaspar_id():
    # DVC reads a dot in a metric key as a path: `dvc metrics diff` would split motif_MA0065.3_...
    from mprabench.plots.labels import feature_label

    name = motif_column_name("MA0065.3", "Pparg::Rxra")
    assert "." not in name
    assert feature_label(name) == "motif score, MA0065.3 Pparg_Rxra"
