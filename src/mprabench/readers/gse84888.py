"""The GSE84888 counts layout: count tables named by the oligo name grammar (counts.py, names.py)."""

from __future__ import annotations

from pathlib import Path

from mprabench.activity import prepare_activity
from mprabench.config import DatasetConfig
from mprabench.counts import read_library
from mprabench.readers.base import ReadLibrary


def read(dataset: DatasetConfig, raw_dir: Path) -> ReadLibrary:
    """Every configured pool's counts, names parsed, activity computed by dataset.activity."""
    library = read_library(raw_dir, dataset.files, dataset.max_line_columns)
    prepared = prepare_activity(library, dataset.activity)
    return ReadLibrary(prepared.oligos, len(library), prepared.excluded, prepared.pool_offset_log2,
                       prepared.details)
