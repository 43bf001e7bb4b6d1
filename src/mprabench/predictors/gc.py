"""GC-content baseline: GC fraction of the central window of each model input.

Also home of the central-window rule and the ACGTN encoding helpers shared by the other
offline baselines (``motif`` and ``kmer``), so that every baseline reads exactly the same bases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mprabench.config import GcConfig
from mprabench.predictors.base import PredictionReport, Predictor, ResultSink

MODEL_BASES = "ACGTN"
# Byte value -> base code. A=0, C=1, G=2, T=3, N=4; anything else is invalid (-1).
BASE_CODE_N = 4
INVALID_CODE = -1
_BYTE_TO_CODE = np.full(256, INVALID_CODE, dtype=np.int8)
for _code, _base in enumerate(MODEL_BASES.encode("ascii")):
    _BYTE_TO_CODE[_base] = _code

# How many characters of a failing input to quote in error messages.
ERROR_PREFIX_CHARS = 30

GC_COLUMN = "gc_fraction"


def central_window_bounds(length: int, width: int) -> tuple[int, int]:
    """Half-open ``[start, end)`` of the centred window ``[L//2 - w//2, L//2 - w//2 + w)``, clipped to ``[0, L]``."""
    if width < 1:
        raise ValueError(f"window width must be a positive number of bases, got {width}")
    if length < 0:
        raise ValueError(f"sequence length must be non-negative, got {length}")
    start = length // 2 - width // 2
    end = start + width
    return max(start, 0), min(end, length)


def central_window(sequence: str, width: int) -> str:
    """The central window of one sequence (see :func:`central_window_bounds`)."""
    start, end = central_window_bounds(len(sequence), width)
    return sequence[start:end]


def describe_input(index: int, sequence: str) -> str:
    """Short human-readable identification of an input for error messages."""
    prefix = sequence[:ERROR_PREFIX_CHARS]
    ellipsis = "..." if len(sequence) > ERROR_PREFIX_CHARS else ""
    return f"input #{index} (length {len(sequence)}, starts {prefix!r}{ellipsis})"


def encode_bases(sequence: str) -> np.ndarray:
    """Base codes (A=0, C=1, G=2, T=3, N=4) of an upper-case ACGTN string; ValueError otherwise."""
    try:
        raw = sequence.encode("ascii")
    except UnicodeEncodeError as error:
        raise ValueError(f"sequence contains non-ASCII characters: {error}") from None
    codes = _BYTE_TO_CODE[np.frombuffer(raw, dtype=np.uint8)]
    if (codes == INVALID_CODE).any():
        bad = sorted({chr(b) for b, c in zip(raw, codes) if c == INVALID_CODE})
        # Model inputs are upper-case ACGTN by contract; lower case is rejected, not guessed.
        raise ValueError(f"sequence contains characters outside upper-case ACGTN: {bad}")
    return codes


def n_free_starts(is_n: np.ndarray, kmer_length: int) -> np.ndarray:
    """Boolean per start position: does ``[start, start + kmer_length)`` avoid every N?"""
    n_positions = is_n.size - kmer_length + 1
    if n_positions <= 0:
        return np.zeros(0, dtype=bool)
    n_before = np.concatenate(([0], np.cumsum(is_n, dtype=np.int64)))
    return (n_before[kmer_length:] - n_before[:n_positions]) == 0


def gc_fraction_central(sequences: Sequence[str], width: int) -> np.ndarray:
    """GC fraction (G+C)/(A+C+G+T) of each input's central window; N is excluded from the denominator.

    ``width`` is the window size in bases (clipped to the sequence); only the window is
    read. Returns a float64 array aligned with ``sequences``. Raises ValueError if a window
    holds no A/C/G/T (the fraction would be undefined) or characters outside upper-case ACGTN.
    """
    gc_counts = np.empty(len(sequences), dtype=np.int64)
    acgt_counts = np.empty(len(sequences), dtype=np.int64)
    for index, sequence in enumerate(sequences):
        window = central_window(sequence, width)
        # str.count runs in C at memory speed: as fast as numpy lookup tables on thousands
        # of 16 kb inputs (measured), without allocating per-base buffers.
        n_gc = window.count("G") + window.count("C")
        n_acgt = n_gc + window.count("A") + window.count("T")
        if n_acgt + window.count("N") != len(window):
            bad = sorted(set(window) - set(MODEL_BASES))
            raise ValueError(
                f"{describe_input(index, sequence)}: sequence contains characters outside "
                f"upper-case ACGTN: {bad}"
            )
        if n_acgt == 0:
            raise ValueError(
                f"{describe_input(index, sequence)}: central window of width {width} "
                f"contains no A/C/G/T base, GC fraction undefined"
            )
        gc_counts[index] = n_gc
        acgt_counts[index] = n_acgt
    return gc_counts / acgt_counts



class GcPredictor(Predictor):
    """Offline baseline: GC fraction of each input's central `width` bases."""

    def __init__(self, config: GcConfig):
        self.config = config

    def fingerprint(self) -> dict[str, Any]:
        return {"predictor": "gc", "width": self.config.width, "column": GC_COLUMN}

    def predict(self, inputs: Mapping[str, str], sink: ResultSink) -> PredictionReport:
        values = gc_fraction_central(list(inputs.values()), self.config.width)
        sink.put_many({sha: {GC_COLUMN: float(v)} for sha, v in zip(inputs, values, strict=True)})
        return PredictionReport(requested=len(inputs))
