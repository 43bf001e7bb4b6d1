"""Features from model tracks (PROTOCOL.md, "Predictions" and "Sequence length").

An input shorter than the model's smallest accepted length is padded symmetrically
with N; every feature is read from the positions of the original input only:
`{out}_mean` (all positions and tracks), `{out}_max`, and `{out}_center` (the central
`center_width` positions, all tracks).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from mprabench.dna import centred_start, pad_with_n
from mprabench.feature_names import CENTER, MAX, MEAN, output_prefix, track_feature
from mprabench.predictors.store import Profile, TrackProfile
from mprabench.settings import setting

# How `pad_for_model` places an input, as the store keys of track models name it.
PADDING = "symmetric N to the smallest supported length"

@dataclass
class FeatureWindowConfig:
    """The central window the `{out}_center` features average (predictor.features)."""

    center_width: int = setting(ge=1, at_most_key="experiment.window")
    # null: centred on the input; an integer reproduces a fixed start (the original used 900)
    center_start: int | None = setting(ge=0)  # and center_start + center_width <= experiment.window

    def problems(self, window: int) -> list[str]:
        """The window must lie inside the `window`-bp input."""
        if self.center_start is None or self.center_start + self.center_width <= window:
            return []
        return [f"`predictor.features.center_start` + `center_width` = {self.center_start + self.center_width} "
                f"runs past the {window}-bp input (experiment.window)"]


class FeatureError(ValueError):
    """A track cannot give the requested features (e.g. no tracks); the input fails."""


@dataclass(frozen=True)
class Placement:
    """Where the original input sits inside the sequence sent to the model."""

    offset: int
    length: int
    padded_length: int


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


def headline_track_feature(outputs: Sequence[str]) -> str:
    """A track model's headline feature: the central window of its first configured output (e.g.
    dnase_center): the feature the original analysis centres on, and the first of the default
    Bonferroni family (conf/evaluate/default.yaml)."""
    return track_feature(outputs[0], CENTER)


def output_features(profile: Profile, outputs: Iterable[str], window: FeatureWindowConfig) -> dict[str, float]:
    """The features of one stored answer: mean / max / center of each output, named by its prefix.

    The one feature code path of every track model (the AlphaGenome API and local checkpoints)."""
    features: dict[str, float] = {}
    for output in outputs:
        features |= profile_features(profile[output], window, output_prefix(output))
    return features
