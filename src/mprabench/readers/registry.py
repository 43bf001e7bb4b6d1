"""The one registry of dataset readers: `dataset.reader` -> (typed schema of the dataset section, reader).

Adding a dataset takes one config file, conf/dataset/<name>.yaml; a new file layout also takes a
reader module and one `register` call below. `load_params` types the `dataset` section with the
registered schema; prepare calls the registered reader with that section only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mprabench.config import DatasetConfig
from mprabench.readers.schemas import MpraElementConfig, SequenceTableConfig

if TYPE_CHECKING:
    from mprabench.readers.base import ReadLibrary


@dataclass(frozen=True)
class Registration:
    schema: type
    target: str  # "module:function", imported only when read: loading settings stays light

    def reader(self) -> Callable[[Any, Path], ReadLibrary]:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


READERS: dict[str, Registration] = {}


def register(name: str, schema: type, target: str) -> None:
    if name in READERS:
        raise ValueError(f"dataset reader {name!r} is registered twice")
    READERS[name] = Registration(schema, target)


def read_dataset(dataset: Any, raw_dir: Path) -> ReadLibrary:
    """The library a typed `dataset` section describes, read from the fetched files in `raw_dir`."""
    return READERS[dataset.reader].reader()(dataset, raw_dir)


register("gse84888_counts", DatasetConfig, "mprabench.readers.gse84888:read")
register("sequence_table", SequenceTableConfig, "mprabench.readers.sequence_table:read")
register("mpra_element", MpraElementConfig, "mprabench.readers.mpra_element:read")
