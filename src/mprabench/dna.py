"""DNA sequence primitives shared by every module: complement, identity, validation."""

from __future__ import annotations

import hashlib

_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")
MODEL_ALPHABET = frozenset("ACGTN")


def reverse_complement(sequence: str) -> str:
    """Reverse complement of an ACGTN sequence (case preserved)."""
    return sequence.translate(_COMPLEMENT)[::-1]


def sequence_sha256(sequence: str) -> str:
    """The identity of a model input: SHA-256 of its upper-case ASCII bases."""
    return hashlib.sha256(sequence.upper().encode("ascii")).hexdigest()


def invalid_bases(sequence: str) -> set[str]:
    """Characters outside A, C, G, T, N (after upper-casing)."""
    return set(sequence.upper()) - MODEL_ALPHABET
