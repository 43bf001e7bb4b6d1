"""Padding to the model's length and features read from the original input's positions."""

from __future__ import annotations

import numpy as np
import pytest

from mprabench.dna import central_window, central_window_bounds, pad_with_n
from mprabench.feature_names import output_prefix
from mprabench.predictors.features import (
    FeatureError,
    FeatureWindowConfig,
    center_span,
    own_positions,
    pad_for_model,
    profile_features,
)
from tests.conftest import configured

SUPPORTED = (16_384, 131_072)


def test_padding_is_symmetric_n_to_the_smallest_supported_length():
    padded, placement = pad_for_model("ACGT" * 512, SUPPORTED)
    assert len(padded) == 16_384
    assert (placement.offset, placement.length) == (7_168, 2_048)
    assert padded[:7_168] == "N" * 7_168 and padded[-7_168:] == "N" * 7_168
    assert padded[7_168:9_216] == "ACGT" * 512


def test_odd_padding_puts_the_extra_n_on_the_right():
    padded, placement = pad_for_model("A" * 2_047, SUPPORTED)
    assert placement.offset == 7_168 and padded.endswith("A" + "N" * 7_169)


def test_an_input_of_a_supported_length_is_not_padded():
    padded, placement = pad_for_model("C" * 16_384, SUPPORTED)
    assert padded == "C" * 16_384 and placement.offset == 0


def test_too_long_input_is_an_error():
    with pytest.raises(FeatureError, match="longer than every supported length"):
        pad_for_model("A" * 200_000, SUPPORTED)


def test_centre_window_defaults_to_the_true_centre_and_can_reproduce_the_original():
    assert center_span(2_048, configured(FeatureWindowConfig, "predictor.features", center_width=200)) == (924, 1_124)
    assert center_span(2_048, configured(FeatureWindowConfig, "predictor.features", center_width=200, center_start=900)) == (900, 1_100)


@pytest.mark.parametrize("length", [2_047, 2_048])
@pytest.mark.parametrize("width", [199, 200])
def test_every_central_window_and_padding_follow_one_rule_for_odd_and_even_sizes(length, width):
    """Feature centre, baseline window and N padding agree: margins differ by at most one, left smaller."""
    lo, hi = center_span(length, configured(FeatureWindowConfig, "predictor.features", center_width=width))
    left_margin, right_margin = lo, length - hi
    assert hi - lo == width and 0 <= right_margin - left_margin <= 1
    assert central_window_bounds(length, width) == (lo, hi)
    marked = "".join("ACGT"[i % 4] for i in range(length))
    assert central_window(marked, width) == marked[lo:hi]
    padded, offset = pad_with_n("A" * width, length)
    assert offset == lo and padded[lo:hi] == "A" * width and set(padded[:lo] + padded[hi:]) <= {"N"}


def test_features_ignore_the_padding():
    _, placement = pad_for_model("A" * 2_048, SUPPORTED)
    values = np.full((16_384, 2), 100.0)  # padding positions are huge
    own = np.arange(2_048, dtype=float)
    values[placement.offset : placement.offset + 2_048, 0] = own
    values[placement.offset : placement.offset + 2_048, 1] = 2 * own
    features = track_features(values, 1, placement, configured(FeatureWindowConfig, "predictor.features", center_width=200), "dnase")
    assert features["dnase_mean"] == pytest.approx(1.5 * own.mean())
    assert features["dnase_max"] == pytest.approx(2 * 2_047)
    assert features["dnase_center"] == pytest.approx(1.5 * own[924:1_124].mean())


def test_coarser_resolution_uses_whole_bins():
    _, placement = pad_for_model("A" * 2_048, SUPPORTED)
    values = np.zeros((16_384 // 128, 1))
    values[placement.offset // 128 : (placement.offset + 2_048) // 128] = 1.0
    assert track_features(values, 128, placement, configured(FeatureWindowConfig, "predictor.features", center_width=200), "x")["x_mean"] == 1.0


def test_zero_tracks_is_an_error_not_a_nan():
    _, placement = pad_for_model("A" * 2_048, SUPPORTED)
    with pytest.raises(FeatureError, match="no tracks"):
        track_features(np.zeros((16_384, 0)), 1, placement, configured(FeatureWindowConfig, "predictor.features", center_width=200), "cage")


def track_features(values, resolution, placement, window, prefix):
    """What the AlphaGenome predictor does with an answer: keep the input's own positions, then reduce."""
    return profile_features(own_positions(values, resolution, placement, prefix), window, prefix)


def test_feature_names():
    _, placement = pad_for_model("A" * 2_048, SUPPORTED)
    window = configured(FeatureWindowConfig, "predictor.features", center_width=200)
    names = [name for output in ("DNASE", "RNA_SEQ")
             for name in track_features(np.ones((16_384, 1)), 1, placement, window, output_prefix(output))]
    assert names == ["dnase_mean", "dnase_max", "dnase_center", "rna_mean", "rna_max", "rna_center"]
