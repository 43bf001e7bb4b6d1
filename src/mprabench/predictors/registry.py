"""The one registry of predictors: `predictor.name` -> (typed schema, builder).

Adding a predictor means one config file under conf/predictor/ and one `register` call below
(its schema dataclass lives in config.py). `load_params` types the `predictor` section
with the registered schema; the predict stage builds it with the registered builder.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mprabench.config import AlphaGenomeConfig, GcConfig, KmerConfig, MotifConfig, PrecomputedConfig

if TYPE_CHECKING:  # types only: loading settings must not import the predictor interface
    from mprabench.predictors.base import ModelPredictor, Predictor
    from mprabench.predictors.biosample import BiosampleDefaults


@dataclass(frozen=True)
class BuildContext:
    """What a builder may need besides its config section."""

    rows: Path  # the benchmark rows; read only by predictors trained on activity (kmer)
    dotenv: Path | None
    progress: bool
    # the dataset's biosample and the experiment's pinned tracks (model predictors choose tracks by them)
    biosample: BiosampleDefaults | None = None


@dataclass(frozen=True)
class Registration:
    schema: type
    # "module:Class", imported only when built: loading settings must not import every predictor
    # (the AlphaGenome SDK is slow to import), nor make every stage depend on every predictor.
    target: str
    context: tuple[str, ...] = ()  # BuildContext fields the constructor takes as keywords

    def build(self, config: Any, context: BuildContext) -> Predictor | ModelPredictor:
        module, _, name = self.target.partition(":")
        predictor_class = getattr(importlib.import_module(module), name)
        return predictor_class(config, **{field: getattr(context, field) for field in self.context})


PREDICTORS: dict[str, Registration] = {}


def register(name: str, schema: type, target: str, context: tuple[str, ...] = ()) -> None:
    """Register `predictor.name == name`: its section is typed by `schema`, built by `target`."""
    if name in PREDICTORS:
        raise ValueError(f"predictor {name!r} is registered twice")
    PREDICTORS[name] = Registration(schema, target, context)


def build_predictor(config: Any, rows: Path, dotenv: Path | None, progress: bool = True,
                    biosample: BiosampleDefaults | None = None) -> Predictor | ModelPredictor:
    """The predictor a typed `predictor` section (from load_params) describes."""
    context = BuildContext(rows=rows, dotenv=dotenv, progress=progress, biosample=biosample)
    return PREDICTORS[config.name].build(config, context)


register("alphagenome", AlphaGenomeConfig, "mprabench.predictors.alphagenome:AlphaGenomePredictor",
         context=("dotenv", "progress", "biosample"))
register("precomputed", PrecomputedConfig, "mprabench.predictors.precomputed:PrecomputedPredictor")
register("gc", GcConfig, "mprabench.predictors.gc:GcPredictor")
register("motif", MotifConfig, "mprabench.predictors.motif:MotifPredictor")
register("kmer", KmerConfig, "mprabench.predictors.kmer:KmerPredictor", context=("rows",))
