"""The configured predictor: the class `predictor._target_` names, its typed settings, and building it.

conf/predictor/<name>.yaml names its class (`_target_: mprabench.predictors.gc.GcPredictor`),
so adding a predictor is its module (the class and its settings schema, see predictors/base.py)
and its config file: no table to edit. Only the stages that run a predictor (predict, and
local_inputs, which fingerprints the local file a predictor declares) import this module; it
imports the one configured class, so every other stage depends on no predictor.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mprabench.config import Params
from mprabench.errors import ConfigError
from mprabench.predictors.base import Declared, ModelPredictor, Predictor
from mprabench.predictors.biosample import BiosampleDefaults
from mprabench.settings import raise_problems, typed_section

TARGET_KEY = "_target_"  # Hydra's name for the class a config section builds


@dataclass(frozen=True)
class BuildContext:
    """What a constructor may take besides its settings (the class lists which, `build_context`)."""

    rows: Path  # the benchmark rows; read only by predictors trained on activity (kmer)
    dotenv: Path | None
    progress: bool
    # the dataset's biosample and the experiment's pinned tracks (a model predictor's default tracks)
    biosample: BiosampleDefaults | None = None
    store_root: Path | None = None  # the prediction store's root; local checkpoints record their hash there


@dataclass(frozen=True)
class ConfiguredPredictor:
    """The class `predictor._target_` names and the `predictor` section typed by its schema."""

    cls: type[Predictor] | type[ModelPredictor]
    settings: Any

    @property
    def name(self) -> str:
        return self.settings.name

    def local_file(self) -> str | None:
        """The path of the local file the predictor reads, if it declares one."""
        setting = self.cls.local_file_setting
        return getattr(self.settings, setting) if setting else None

    def local_file_by_size_and_mtime(self) -> bool:
        """Whether that file is fingerprinted by size and mtime (large weights) rather than its SHA-256."""
        return self.cls.local_file_by_size_and_mtime

    def configured_store(self) -> str | None:
        """The prediction store the settings name (None: the default, or a predictor that keeps none)."""
        return getattr(self.settings, self.cls.store_setting) if issubclass(self.cls, ModelPredictor) else None

    def build(self, context: BuildContext) -> Predictor | ModelPredictor:
        return self.cls(self.settings, **{field: getattr(context, field) for field in self.cls.build_context})


def configured_predictor(params: Params, source: Path | str) -> ConfiguredPredictor:
    """The `predictor` section of `params` (from load_params), typed and checked, with its class."""
    section = dict(params.predictor)
    cls = predictor_class(section.pop(TARGET_KEY, None), source)
    settings = typed_section(cls.settings, section, source, "predictor", context=params)
    raise_problems(cls.setting_problems(settings, params), source)
    return ConfiguredPredictor(cls, settings)


def predictor_class(target: Any, source: Path | str) -> type[Predictor] | type[ModelPredictor]:
    """The class a `_target_` value ("package.module.Class") names; a ConfigError saying what to do if none."""
    hint = ("each conf/predictor/<name>.yaml names its class; choose one with `dvc exp run -S predictor=<name>` "
            "(e.g. predictor=gc)")
    if not isinstance(target, str) or "." not in target:
        raise ConfigError(f"{source}: `predictor.{TARGET_KEY}` = {target!r} must name a predictor class "
                          f"(module.Class); {hint}")
    module_name, _, class_name = target.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise ConfigError(f"{source}: `predictor.{TARGET_KEY}` = {target!r}: no module {error.name!r}; {hint}") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Predictor | ModelPredictor)):
        raise ConfigError(f"{source}: `predictor.{TARGET_KEY}` = {target!r} is not a predictor class in "
                          f"{module_name} (a subclass of Predictor or ModelPredictor); {hint}")
    undeclared = [name for name in Declared.__annotations__ if not hasattr(cls, name)] + sorted(
        getattr(cls, "__abstractmethods__", ()))
    if undeclared:
        raise ConfigError(f"{target} does not declare {undeclared} (see mprabench.predictors.base.Declared)")
    return cls
