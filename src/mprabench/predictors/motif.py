"""Motif baseline: best JASPAR PSSM log-odds score over both strands in the central window.

Matrices come from the JASPAR SQLite releases shipped inside the installed ``pyjaspar``
wheel (no network); scoring uses Biopython's ``Bio.motifs`` PSSM.
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from Bio.motifs.jaspar import Motif as JasparMotif
from Bio.motifs.matrix import PositionSpecificScoringMatrix
from omegaconf import MISSING

from mprabench.dna import BASE_CODE_N, central_window, describe_input, encode_bases, n_free_starts
from mprabench.errors import ConfigError
from mprabench.feature_names import MOTIF_PREFIX
from mprabench.predictors.base import PredictionReport, Predictor, ResultSink
from mprabench.settings import items, setting

DNA_LETTERS = "ACGT"
_MATRIX_ID_PATTERN = re.compile(r"^[A-Z]{2}\d{4}\.\d+$")
# Window bases scored per Biopython call: amortises Biopython's per-call overhead while
# bounding temporaries (~60 bytes per base, i.e. ~60 MB per chunk).
DEFAULT_CHUNK_BASES = 1 << 20


@dataclass(frozen=True)
class ScoringMatrix:
    """A JASPAR matrix ready for scoring: identity, feature column name and both-strand PSSMs."""

    matrix_id: str
    name: str
    release: str
    column: str
    forward: PositionSpecificScoringMatrix
    reverse: PositionSpecificScoringMatrix

    @property
    def length(self) -> int:
        return self.forward.length


def motif_column_name(matrix_id: str, name: str) -> str:
    """Feature column for a matrix: ``motif_<matrix id>_<name slug>``, e.g. ``motif_MA0065_3_Pparg_Rxra``."""
    # The versioned matrix ID makes the column unique and stable; the name (non-alphanumerics
    # collapsed to "_", case kept as in JASPAR) only makes it readable. The ID's version dot
    # becomes "_" too: DVC reads a dot in a metric key as a path (`dvc metrics diff`, `exp show`).
    slug = re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_")
    matrix_id = matrix_id.replace(".", "_")
    return f"{MOTIF_PREFIX}{matrix_id}_{slug}" if slug else f"{MOTIF_PREFIX}{matrix_id}"


def available_jaspar_releases() -> list[str]:
    """JASPAR releases shipped inside the installed pyjaspar wheel."""
    from pyjaspar import jaspar_releases

    return sorted(jaspar_releases)


@functools.lru_cache(maxsize=None)
def fetch_jaspar_motif(release: str, matrix_id: str) -> JasparMotif:
    """One versioned JASPAR motif (counts + metadata) from a shipped release; cached per process."""
    if not _MATRIX_ID_PATTERN.match(matrix_id):
        # An unversioned ID would silently resolve to "latest", which changes between releases.
        raise ValueError(f"matrix ID must be versioned like 'MA0065.3', got {matrix_id!r}")
    database = _open_jaspar_release(release)
    try:
        with warnings.catch_warnings():
            # pyjaspar warns and returns None for unknown IDs; we raise instead.
            warnings.simplefilter("ignore")
            motif = database.fetch_motif_by_id(matrix_id)
    finally:
        # Connections are not cached: sqlite3 connections are bound to their thread.
        database.conn.close()
    if motif is None:
        raise ValueError(f"JASPAR matrix {matrix_id} is not in release {release}")
    return motif


def _open_jaspar_release(release: str):
    from pyjaspar import jaspardb

    releases = available_jaspar_releases()
    if release not in releases:
        # pyjaspar only prints for an unknown release and returns a half-built object.
        raise ValueError(f"unknown JASPAR release {release!r}; shipped releases: {releases}")
    return jaspardb(release=release)


def load_scoring_matrices(
    matrix_ids: Sequence[str],
    release: str,
    pseudocount: float,
) -> tuple[ScoringMatrix, ...]:
    """Load JASPAR matrices and turn them into log-odds PSSMs (both strands) against a uniform background.

    Call once and pass the result to :func:`best_motif_scores`; database reads are cached.
    """
    if isinstance(matrix_ids, str):
        raise TypeError("matrix_ids must be a sequence of IDs, not a single string")
    if len(set(matrix_ids)) != len(matrix_ids):
        raise ValueError(f"duplicate matrix IDs: {list(matrix_ids)}")
    if not (pseudocount > 0 and math.isfinite(pseudocount)):
        # Zero would turn zero counts into -inf log-odds, i.e. non-finite features.
        raise ValueError(f"pseudocount must be a finite positive number, got {pseudocount}")
    uniform = {letter: 1.0 / len(DNA_LETTERS) for letter in DNA_LETTERS}
    return tuple(
        _scoring_matrix(fetch_jaspar_motif(release, matrix_id), release, pseudocount, uniform)
        for matrix_id in matrix_ids
    )


def _scoring_matrix(
    motif: JasparMotif, release: str, pseudocount: float, background: dict[str, float]
) -> ScoringMatrix:
    frequencies = motif.counts.normalize(pseudocounts=pseudocount)
    forward = frequencies.log_odds(background)
    return ScoringMatrix(
        matrix_id=motif.matrix_id,
        name=motif.name,
        release=release,
        column=motif_column_name(motif.matrix_id, motif.name),
        forward=forward,
        reverse=forward.reverse_complement(),
    )


def best_motif_scores(
    sequences: Sequence[str],
    matrices: Sequence[ScoringMatrix],
    width: int,
    chunk_bases: int = DEFAULT_CHUNK_BASES,
) -> pd.DataFrame:
    """Best log-odds score per input and matrix, over both strands, within the central window.

    An occurrence counts only if it lies entirely inside the window
    (:func:`mprabench.dna.central_window`) and contains no ``N``. Returns a
    float64 DataFrame with a RangeIndex aligned with ``sequences`` and one column per
    matrix (:attr:`ScoringMatrix.column`). Raises ValueError, naming the input, when a
    window has no valid position for a matrix. ``chunk_bases`` bounds how many window
    bases are scored per Biopython call (temporaries ~60 bytes per base).
    """
    columns = [matrix.column for matrix in matrices]
    if len(set(columns)) != len(columns):
        raise ValueError(f"duplicate motif columns: {columns}")
    windows = [central_window(sequence, width) for sequence in sequences]
    scores = np.empty((len(sequences), len(matrices)), dtype=np.float64)
    for first, stop in window_chunks([len(w) for w in windows], chunk_bases):
        text = "".join(windows[first:stop])
        try:
            is_n = encode_bases(text) == BASE_CODE_N
        except ValueError:
            _raise_for_invalid_window(sequences, windows, first, stop)
        lengths = np.fromiter((len(w) for w in windows[first:stop]), dtype=np.int64)
        for col, matrix in enumerate(matrices):
            best = best_score_per_window(text, is_n, lengths, matrix)
            missing = np.flatnonzero(~np.isfinite(best))
            if missing.size:
                row = first + int(missing[0])
                raise ValueError(
                    f"{describe_input(row, sequences[row])}: no position in the central window "
                    f"(width {width}, {len(windows[row])} bases) where {matrix.matrix_id} "
                    f"(length {matrix.length}) fits without N"
                )
            scores[first:stop, col] = best
    return pd.DataFrame(scores, columns=columns)


def window_chunks(lengths: Sequence[int], chunk_bases: int) -> list[tuple[int, int]]:
    """Consecutive ``(first, stop)`` index ranges whose total length stays within ``chunk_bases``.

    A single window longer than ``chunk_bases`` forms its own chunk.
    """
    if chunk_bases < 1:
        raise ValueError(f"chunk_bases must be positive, got {chunk_bases}")
    chunks: list[tuple[int, int]] = []
    first, total = 0, 0
    for index, length in enumerate(lengths):
        if index > first and total + length > chunk_bases:
            chunks.append((first, index))
            first, total = index, 0
        total += length
    if len(lengths) > first:
        chunks.append((first, len(lengths)))
    return chunks


def best_score_per_window(
    text: str, is_n: np.ndarray, lengths: np.ndarray, matrix: ScoringMatrix
) -> np.ndarray:
    """Per window of the concatenation ``text``: max both-strand score over valid starts, else -inf.

    A start is valid if the occurrence stays inside its own window and contains no N.
    Scoring the concatenation in one Biopython call avoids its per-call overhead (it
    rebuilds the matrix on every call), which dominates for thousands of short windows.
    """
    m = matrix.length
    best = np.full(lengths.size, -np.inf)
    n_starts = len(text) - m + 1
    if n_starts <= 0:
        return best
    forward = np.atleast_1d(matrix.forward.calculate(text))
    reverse = np.atleast_1d(matrix.reverse.calculate(text))
    # Biopython yields nan where an occurrence covers N; mask explicitly rather than rely
    # on nan handling, and also mask starts whose occurrence would run into the next window.
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    start_in_window = np.arange(n_starts) - np.repeat(offsets, lengths)[:n_starts]
    last_valid_start = np.repeat(lengths - m, lengths)[:n_starts]
    valid = n_free_starts(is_n, m) & (start_in_window <= last_valid_start)
    per_start = np.where(valid, np.maximum(forward, reverse), -np.inf)
    # Pad so every non-empty window has a segment in reduceat, even the trailing ones.
    padded = np.concatenate((per_start, np.full(len(text) - n_starts, -np.inf)))
    non_empty = lengths > 0
    best[non_empty] = np.maximum.reduceat(padded, offsets[non_empty])
    return best


def _raise_for_invalid_window(
    sequences: Sequence[str], windows: Sequence[str], first: int, stop: int
) -> None:
    for row in range(first, stop):
        try:
            encode_bases(windows[row])
        except ValueError as error:
            raise ValueError(f"{describe_input(row, sequences[row])}: {error}") from None
    raise ValueError(f"inputs #{first}..#{stop - 1}: characters outside upper-case ACGTN")


@dataclass
class MotifConfig:
    name: str = MISSING
    jaspar_release: str = MISSING
    matrix_ids: list[str] = items(1)
    width: int = setting(ge=1, at_most_key="experiment.window")
    pseudocount: float = setting(gt=0)


class MotifPredictor(Predictor):
    """Offline baseline: best log-odds of each configured JASPAR matrix in the central window."""

    settings = MotifConfig
    label = "motif baseline (offline)"

    def __init__(self, config: MotifConfig):
        self.config = config
        try:
            self.matrices = load_scoring_matrices(tuple(config.matrix_ids), config.jaspar_release, config.pseudocount)
        except ValueError as error:  # a setting names a matrix or release that is not shipped
            raise ConfigError(f"predictor.matrix_ids / predictor.jaspar_release: {error}") from None
        longest = max(matrix.length for matrix in self.matrices)
        if config.width < longest:
            raise ConfigError(
                f"predictor.width = {config.width} is shorter than the longest matrix ({longest} bp), which "
                f"would never fit in the window; set predictor.width >= {longest}"
            )

    def headline_feature(self) -> str:
        """The score of the first matrix in predictor.matrix_ids (the PPARγ::RXRα dimer by default)."""
        return self.matrices[0].column

    def predict(self, inputs: Mapping[str, str], sink: ResultSink) -> PredictionReport:
        scores = best_motif_scores(list(inputs.values()), self.matrices, self.config.width)
        scores.index = list(inputs)
        sink.put_many(scores.to_dict(orient="index"))
        return PredictionReport(requested=len(inputs))
