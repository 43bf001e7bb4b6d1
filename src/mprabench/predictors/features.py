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
from mprabench.dna import centred_start, pad_with_n
from mprabench.feature_names import CENTER, FEATURE_KINDS, MAX, MEAN, track_feature
from mprabench.predictors.store import TrackProfile



class FeatureError(ValueError):
    """A track cannot give the requested features (e.g. no tracks); the input fails."""


@dataclass(frozen=True)
class Placement:
    """Where the original input sits inside the sequence sent to the model."""

    offset: int
    length: int
    padded_length: int


def feature_names(outputs: Iterable[str]) -> list[str]:
    return [track_feature(o, kind) for o in outputs for kind in FEATURE_KINDS]


def model_length(length: int, supported: Iterable[int]) -> int:
    """The smallest supported length that holds the input."""
    fitting = [s for s in sorted(supported) if s >= length]
    if not fitting:
        raise FeatureError(f"input of {length} bp is longer than every supported length {sorted(supported)}")
    return fitting[0]


def pad_for_model(sequence: str, supported: Iterable[int]) -> tuple[str, Placement]:
    """Symmetric N padding to the smallest supported length (left gets the smaller half)."""
    target = model_length(len(sequence), supported)
    padded, left = pad_with_n(sequence, target)
    return padded, Placement(left, len(sequence), target)


def center_span(length: int, window: FeatureWindowConfig) -> tuple[int, int]:
    """[start, end) of the centre window within the original input (the rule of :func:`mprabench.dna.centred_start`)."""
    start = centred_start(length, window.center_width) if window.center_start is None else window.center_start
    end = start + window.center_width
    if start < 0 or end > length:
        raise FeatureError(f"centre window [{start}, {end}) does not fit a {length}-bp input")
    return start, end


def own_positions(values: np.ndarray, resolution: int, placement: Placement, prefix: str) -> TrackProfile:
    """The rows of a (positions, tracks) answer that cover the original input (what the store keeps)."""
    if values.ndim != 2 or values.shape[1] == 0:
        raise FeatureError(f"{prefix}: the model returned no tracks (shape {values.shape})")
    expected_rows = placement.padded_length // resolution
    if values.shape[0] != expected_rows:
        raise FeatureError(f"{prefix}: {values.shape[0]} positions, expected {expected_rows} at {resolution} bp")
    first, last = placement.offset // resolution, -(-(placement.offset + placement.length) // resolution)
    own = values[first:last]
    if not np.isfinite(own).all():
        raise FeatureError(f"{prefix}: the model returned non-finite values")
    return TrackProfile(own, resolution, placement.offset - first * resolution, placement.length)


def profile_features(profile: TrackProfile, window: FeatureWindowConfig, prefix: str) -> dict[str, float]:
    """mean / max / center of one output's stored tracks (all positions of the input, all tracks)."""
    values = profile.values
    lo, hi = center_span(profile.length, window)
    res, lead = profile.resolution, profile.lead
    centre = values[(lead + lo) // res : -(-(lead + hi) // res)]
    # float64 sums: float16 storage must not also cost precision in the reduction
    result = {
        f"{prefix}_{MEAN}": float(values.mean(dtype=np.float64)),
        f"{prefix}_{MAX}": float(values.max()),
        f"{prefix}_{CENTER}": float(centre.mean(dtype=np.float64)),
    }
    if not all(math.isfinite(v) for v in result.values()):
        raise FeatureError(f"{prefix}: non-finite feature values")
    return result


def track_features(
    values: np.ndarray, resolution: int, placement: Placement, window: FeatureWindowConfig, prefix: str
) -> dict[str, float]:
    """mean / max / center of a (positions, tracks) array, over the original input's positions."""
    return profile_features(own_positions(values, resolution, placement, prefix), window, prefix)
