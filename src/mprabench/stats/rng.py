"""Reproducible random streams: one generator per named computation, independent of processing order."""

from __future__ import annotations

import zlib

import numpy as np


def derive_rng(seed: int, key: str) -> np.random.Generator:
    """RNG for one named computation: depends on (seed, key) only, never on processing order."""
    return np.random.default_rng([int(seed), zlib.crc32(key.encode("utf-8"))])
