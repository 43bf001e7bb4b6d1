"""The one registry of predictors: `predictor.name` -> (typed schema, builder).

Adding a predictor means one config file under conf/predictor/ and one `@register` below
(its schema dataclass lives in config.py). `load_params` types the `predictor` section
with the registered schema; the predict stage builds it with the registered builder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mprabench.config import AlphaGenomeConfig, GcConfig, KmerConfig, MotifConfig, PrecomputedConfig
from mprabench.predictors.base import ModelPredictor, Predictor


@dataclass(frozen=True)
class BuildContext:
    """What a builder may need besides its config section."""

    rows: Path  # the benchmark rows; read only by predictors trained on activity (kmer)
    dotenv: Path | None
    progress: bool


@dataclass(frozen=True)
class Registration:
    schema: type
    build: Callable[[Any, BuildContext], Predictor | ModelPredictor]


PREDICTORS: dict[str, Registration] = {}


def register(name: str, schema: type) -> Callable[[Callable[[Any, BuildContext], Predictor]], Callable]:
    """Register a builder for `predictor.name == name`, whose section is typed by `schema`."""

    def decorate(build: Callable[[Any, BuildContext], Predictor]) -> Callable[[Any, BuildContext], Predictor]:
        if name in PREDICTORS:
            raise ValueError(f"predictor {name!r} is registered twice")
        PREDICTORS[name] = Registration(schema, build)
        return build

    return decorate


def build_predictor(config: Any, rows: Path, dotenv: Path | None, progress: bool = True) -> Predictor | ModelPredictor:
    """The predictor a typed `predictor` section (from load_params) describes."""
    return PREDICTORS[config.name].build(config, BuildContext(rows=rows, dotenv=dotenv, progress=progress))


# Builders import their module lazily: the AlphaGenome SDK is slow to import and not needed offline.


@register("alphagenome", AlphaGenomeConfig)
def _alphagenome(config: AlphaGenomeConfig, context: BuildContext) -> ModelPredictor:
    from mprabench.predictors.alphagenome import AlphaGenomePredictor

    return AlphaGenomePredictor(config, dotenv=context.dotenv, progress=context.progress)


@register("precomputed", PrecomputedConfig)
def _precomputed(config: PrecomputedConfig, context: BuildContext) -> Predictor:
    from mprabench.predictors.precomputed import PrecomputedPredictor

    return PrecomputedPredictor(config)


@register("gc", GcConfig)
def _gc(config: GcConfig, context: BuildContext) -> Predictor:
    from mprabench.predictors.gc import GcPredictor

    return GcPredictor(config)


@register("motif", MotifConfig)
def _motif(config: MotifConfig, context: BuildContext) -> Predictor:
    from mprabench.predictors.motif import MotifPredictor

    return MotifPredictor(config)


@register("kmer", KmerConfig)
def _kmer(config: KmerConfig, context: BuildContext) -> Predictor:
    from mprabench.predictors.kmer import KmerPredictor

    return KmerPredictor(config, context.rows)
