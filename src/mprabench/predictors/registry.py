"""Which Predictor a `predictor` config section builds."""

from __future__ import annotations

from pathlib import Path

from mprabench.config import (
    AlphaGenomeConfig,
    GcConfig,
    KmerConfig,
    MotifConfig,
    PrecomputedConfig,
    PredictorConfig,
)
from mprabench.predictors.base import ModelPredictor, Predictor


def build_predictor(config: PredictorConfig, rows: Path, dotenv: Path | None, progress: bool = True) -> Predictor | ModelPredictor:
    """`rows` (the benchmark rows) is read only by predictors trained on activity (kmer)."""
    if isinstance(config, AlphaGenomeConfig):
        from mprabench.predictors.alphagenome import AlphaGenomePredictor

        return AlphaGenomePredictor(config, dotenv=dotenv, progress=progress)
    if isinstance(config, PrecomputedConfig):
        from mprabench.predictors.precomputed import PrecomputedPredictor

        return PrecomputedPredictor(config)
    if isinstance(config, GcConfig):
        from mprabench.predictors.gc import GcPredictor

        return GcPredictor(config)
    if isinstance(config, MotifConfig):
        from mprabench.predictors.motif import MotifPredictor

        return MotifPredictor(config)
    if isinstance(config, KmerConfig):
        from mprabench.predictors.kmer import KmerPredictor

        return KmerPredictor(config, rows)
    raise TypeError(f"no predictor for {type(config).__name__}")
