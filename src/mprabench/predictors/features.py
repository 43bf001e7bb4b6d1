"""Features from model tracks (PROTOCOL.md, "Predictions" and "Sequence length").

An input shorter than the model's smallest accepted length is padded symmetrically
with N; every feature is read from the positions of the original input only:
`{out}_mean` (all positions and tracks), `{out}_max`, and `{out}_center` (the central
`center_width` positions, all tracks).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from mprabench.config import FeatureWindowConfig

# Feature-name prefix of each output; other outputs use their lower-cased name.
OUTPUT_PREFIXES = {"DNASE": "dnase", "CAGE": "cage", "RNA_SEQ": "rna"}
FEATURE_KINDS = ("mean", "max", "center")


class FeatureError(ValueError):
    """A track cannot give the requested features (e.g. no tracks); the input fails."""


@dataclass(frozen=True)
class Placement:
    """Where the original input sits inside the sequence sent to the model."""

    offset: int
    length: int
    padded_length: int


def output_prefix(output: str) -> str:
    return OUTPUT_PREFIXES.get(output, output.lower())


def feature_names(outputs: Iterable[str]) -> list[str]:
    return [f"{output_prefix(o)}_{kind}" for o in outputs for kind in FEATURE_KINDS]


def model_length(length: int, supported: Iterable[int]) -> int:
    """The smallest supported length that holds the input."""
    fitting = [s for s in sorted(supported) if s >= length]
    if not fitting:
        raise FeatureError(f"input of {length} bp is longer than every supported length {sorted(supported)}")
    return fitting[0]


def pad_for_model(sequence: str, supported: Iterable[int]) -> tuple[str, Placement]:
    """Symmetric N padding to the smallest supported length (left gets the smaller half)."""
    target = model_length(len(sequence), supported)
    left = (target - len(sequence)) // 2
    padded = "N" * left + sequence + "N" * (target - len(sequence) - left)
    return padded, Placement(left, len(sequence), target)


def center_span(length: int, window: FeatureWindowConfig) -> tuple[int, int]:
    """[start, end) of the centre window within the original input."""
    start = (length - window.center_width) // 2 if window.center_start is None else window.center_start
    end = start + window.center_width
    if start < 0 or end > length:
        raise FeatureError(f"centre window [{start}, {end}) does not fit a {length}-bp input")
    return start, end


def track_features(
    values: np.ndarray, resolution: int, placement: Placement, window: FeatureWindowConfig, prefix: str
) -> dict[str, float]:
    """mean / max / center of a (positions, tracks) array, over the original input's positions."""
    if values.ndim != 2 or values.shape[1] == 0:
        raise FeatureError(f"{prefix}: the model returned no tracks (shape {values.shape})")
    expected_rows = placement.padded_length // resolution
    if values.shape[0] != expected_rows:
        raise FeatureError(f"{prefix}: {values.shape[0]} positions, expected {expected_rows} at {resolution} bp")
    own = _bins(values, resolution, placement.offset, placement.offset + placement.length)
    lo, hi = center_span(placement.length, window)
    centre = _bins(values, resolution, placement.offset + lo, placement.offset + hi)
    features = {f"{prefix}_mean": own.mean(), f"{prefix}_max": own.max(), f"{prefix}_center": centre.mean()}
    result = {name: float(value) for name, value in features.items()}
    if not all(math.isfinite(v) for v in result.values()):
        raise FeatureError(f"{prefix}: the model returned non-finite values")
    return result


def _bins(values: np.ndarray, resolution: int, start: int, end: int) -> np.ndarray:
    """Rows of `values` covering base positions [start, end) (whole bins at coarser resolution)."""
    return values[start // resolution : -(-end // resolution)].astype(np.float64)
