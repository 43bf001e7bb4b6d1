"""params.yaml for tests and benchmarks: the real conf/ composed as `dvc exp run` composes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf


def compose_config(conf_dir: Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """Hydra compose + resolve of `conf_dir/config.yaml` with overrides, as plain data."""
    with initialize_config_dir(str(Path(conf_dir).resolve()), version_base=None):
        config = compose(config_name="config", overrides=overrides or [])
    OmegaConf.resolve(config)
    return OmegaConf.to_container(config)  # type: ignore[return-value]


def write_params(path: Path, conf_dir: Path, overrides: list[str] | None = None, **sections: Any) -> Path:
    """Write a params file from conf/ plus overrides; `sections` replace whole top-level keys."""
    params = compose_config(conf_dir, overrides)
    params.update(sections)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path
