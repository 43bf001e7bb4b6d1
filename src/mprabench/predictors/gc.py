"""GC-content baseline: GC fraction of the central window of each model input.

The central-window rule and the base encoding live in :mod:`mprabench.dna`, shared with the
other offline baselines (``motif`` and ``kmer``), so that every baseline reads the same bases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from omegaconf import MISSING

from mprabench.dna import MODEL_BASES, central_window, describe_input
from mprabench.feature_names import GC_FRACTION
from mprabench.predictors.base import PredictionReport, Predictor, ResultSink
from mprabench.settings import setting


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


@dataclass
class GcConfig:
    name: str = MISSING
    width: int = setting(ge=1, at_most_key="experiment.window")


class GcPredictor(Predictor):
    """Offline baseline: GC fraction of each input's central `width` bases."""

    settings = GcConfig
    label = "gc baseline (offline)"

    def __init__(self, config: GcConfig):
        self.config = config


    def headline_feature(self) -> str:
        return GC_FRACTION

    def predict(self, inputs: Mapping[str, str], sink: ResultSink) -> PredictionReport:
        values = gc_fraction_central(list(inputs.values()), self.config.width)
        sink.put_many({sha: {GC_FRACTION: float(v)} for sha, v in zip(inputs, values, strict=True)})
        return PredictionReport(requested=len(inputs))
