"""DNA sequence primitives: complement, identity, validation, base encoding and centring."""

from __future__ import annotations

import hashlib

import numpy as np

_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")
MODEL_BASES = "ACGTN"
MODEL_ALPHABET = frozenset(MODEL_BASES)

# Byte value -> base code. A=0, C=1, G=2, T=3, N=4; anything else is invalid (-1).
BASE_CODE_N = 4
INVALID_CODE = -1
_BYTE_TO_CODE = np.full(256, INVALID_CODE, dtype=np.int8)
for _code, _base in enumerate(MODEL_BASES.encode("ascii")):
    _BYTE_TO_CODE[_base] = _code

# How many characters of a failing input to quote in error messages.
ERROR_PREFIX_CHARS = 30


def reverse_complement(sequence: str) -> str:
    """Reverse complement of an ACGTN sequence (case preserved)."""
    return sequence.translate(_COMPLEMENT)[::-1]


def sequence_sha256(sequence: str) -> str:
    """The identity of a model input: SHA-256 of its upper-case ASCII bases."""
    return hashlib.sha256(upper_case(sequence).encode("ascii")).hexdigest()


def upper_case(sequence: str) -> str:
    """`sequence` in upper case, without copying one that already is (2 kb inputs, 200,000 of them)."""
    return sequence if sequence.isupper() else sequence.upper()


def invalid_bases(sequence: str) -> set[str]:
    """Characters outside A, C, G, T, N (after upper-casing)."""
    return set(sequence.upper()) - MODEL_ALPHABET


# --------------------------------------------------------------------------------------------
# Centring: the one rule for where a part sits inside a whole (windows and N padding)
# --------------------------------------------------------------------------------------------


def centred_start(outer: int, inner: int) -> int:
    """Start of an `inner`-long span centred in `outer`: (outer - inner) // 2 (the left gets the smaller half)."""
    return (outer - inner) // 2


def central_window_bounds(length: int, width: int) -> tuple[int, int]:
    """Half-open ``[start, end)`` of the central window ``[(L - w)//2, (L - w)//2 + w)``, clipped to ``[0, L]``."""
    if width < 1:
        raise ValueError(f"window width must be a positive number of bases, got {width}")
    if length < 0:
        raise ValueError(f"sequence length must be non-negative, got {length}")
    start = centred_start(length, width)
    return max(start, 0), min(start + width, length)


def central_window(sequence: str, width: int) -> str:
    """The central window of one sequence (see :func:`central_window_bounds`)."""
    start, end = central_window_bounds(len(sequence), width)
    return sequence[start:end]


def pad_with_n(sequence: str, length: int) -> tuple[str, int]:
    """`sequence` centred in N up to `length` bases, and its offset in the result."""
    if length < len(sequence):
        raise ValueError(f"a {len(sequence)}-bp sequence does not fit in {length} bp")
    left = centred_start(length, len(sequence))
    return "N" * left + sequence + "N" * (length - len(sequence) - left), left


# --------------------------------------------------------------------------------------------
# Base encoding (the offline baselines read bases as codes)
# --------------------------------------------------------------------------------------------


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
