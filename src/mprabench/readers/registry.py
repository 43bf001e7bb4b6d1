"""The one registry of dataset readers: `dataset.reader` -> the function that reads that layout.

Adding a dataset takes one config file, conf/dataset/<name>.yaml; a new file layout also takes a
reader module, its section's schema in config.DATASET_SCHEMAS (load_params types the section
with it) and one `register` call below. prepare calls the reader with that section only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mprabench.config import DATASET_SCHEMAS

if TYPE_CHECKING:
    from mprabench.readers.base import ReadLibrary


@dataclass(frozen=True)
class Layout:
    """What a layout's rows are, so the report describes them in the dataset's own terms."""

    measured_inserts: bool = False  # each row is the sequence measured (its model input is that insert)
    read_counts: bool = False       # activity computed from RNA/DNA read counts (zero-RNA dropouts exist)
    motif_sites: bool = False       # row names carry a designed motif site, checked against the reference


@dataclass(frozen=True)
class Registration:
    target: str  # "module:function", imported only when read: loading settings stays light
    layout: Layout = Layout()

    def reader(self) -> Callable[[Any, Path], ReadLibrary]:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


READERS: dict[str, Registration] = {}


def register(name: str, target: str, layout: Layout) -> None:
    if name in READERS:
        raise ValueError(f"dataset reader {name!r} is registered twice")
    if name not in DATASET_SCHEMAS:
        raise ValueError(f"dataset reader {name!r} has no schema in config.DATASET_SCHEMAS")
    READERS[name] = Registration(target, layout)


def read_dataset(dataset: Any, raw_dir: Path) -> ReadLibrary:
    """The library a typed `dataset` section describes, read from the fetched files in `raw_dir`."""
    return READERS[dataset.reader].reader()(dataset, raw_dir)


def layout_of(dataset: Any) -> Layout:
    """The layout of a typed (or plain) `dataset` section's reader."""
    reader = dataset.get("reader") if isinstance(dataset, dict) else getattr(dataset, "reader", None)
    if reader not in READERS:
        raise ValueError(f"unknown dataset.reader {reader!r}; choose one of {sorted(READERS)}")
    return READERS[reader].layout


register("gse84888_counts", "mprabench.readers.gse84888:read",
         Layout(read_counts=True, motif_sites=True))
register("sequence_table", "mprabench.readers.sequence_table:read", Layout(measured_inserts=True))
# Sequences come from the reference genome over each element's span: no insert was read, no counts.
register("mpra_element", "mprabench.readers.mpra_element:read", Layout())
