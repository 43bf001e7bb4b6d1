"""params.yaml for tests and benchmarks: the real conf/ composed as `dvc exp run` composes it."""

from __future__ import annotations

import copy
import functools
import tempfile
from pathlib import Path
from typing import Any, TypeVar

import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mprabench.config import Params, load_params
from mprabench.settings import typed_section

T = TypeVar("T")


def compose_config(conf_dir: Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """Hydra compose + resolve of `conf_dir/config.yaml` with overrides, as plain data (a fresh copy)."""
    folder = Path(conf_dir).resolve()
    return copy.deepcopy(_composed(str(folder), tuple(overrides or []), _conf_state(folder)))


def _conf_state(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Every config file's name, size and mtime: a test that edits conf/ composes afresh."""
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*.yaml")))


# The suite composes the same few hundred configurations again and again; Hydra takes ~0.1 s each.
@functools.lru_cache(maxsize=512)
def _composed(folder: str, overrides: tuple[str, ...], state: tuple) -> dict[str, Any]:
    with initialize_config_dir(folder, version_base=None):
        config = compose(config_name="config", overrides=list(overrides))
    OmegaConf.resolve(config)
    return OmegaConf.to_container(config)  # type: ignore[return-value]


def write_params(path: Path, conf_dir: Path, overrides: list[str] | None = None, **sections: Any) -> Path:
    """Write a params file from conf/ plus overrides; `sections` replace whole top-level keys."""
    params = compose_config(conf_dir, overrides)
    params.update(sections)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def typed_params(conf_dir: Path, overrides: list[str] | None = None) -> Params:
    """The composed conf/ loaded and validated as the stages load params.yaml (config.load_params)."""
    with tempfile.TemporaryDirectory() as folder:
        return load_params(write_params(Path(folder) / "params.yaml", conf_dir, overrides))


def configured_section(schema: type[T], key: str, conf_dir: Path, overrides: list[str] | None = None,
                       **values: Any) -> T:
    """The typed section `key` (e.g. "dataset.activity") of conf/ as composed, `values` replacing fields.

    Tests build configs from the YAML, the one home of every value, not from code defaults.
    """
    section: Any = compose_config(conf_dir, overrides)
    for part in key.split("."):
        section = section[part]
    return typed_section(schema, {**section, **values}, conf_dir, key)


def typed_predictor_settings(schema: type[T], conf_dir: Path, option: str, **values: Any) -> T:
    """The `predictor` section of conf/predictor/<option>.yaml as composed, typed by `schema`
    (without `_target_`, which names the class), `values` replacing fields."""
    section = dict(compose_config(conf_dir, [f"predictor={option}"])["predictor"])
    section.pop("_target_", None)
    return typed_section(schema, {**section, **values}, conf_dir, "predictor")
