"""The library design: each oligo's designed sequence, by name (FASTA, or TSV/CSV `name, sequence`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from mprabench.dna import invalid_bases
from mprabench.errors import InputDataError
from mprabench.fasta import read_fasta
from mprabench.files import atomic_path
from mprabench.schema import ROW_ID
from mprabench.sources.http import HttpClient
from mprabench.sources.locations import is_remote, local_path

FASTA_SUFFIXES = (".fa", ".fasta", ".fna")
DESIGN_FOLDER = "design"  # inside the raw data folder, for a design fetched from a URL


def design_file_name(location: str) -> str:
    return Path(urlparse(location).path).name


def local_design_path(location: str, raw_dir: Path) -> Path:
    """Where prepare reads the design: the fetched copy for a URL, else the given path."""
    if is_remote(location):
        return raw_dir / DESIGN_FOLDER / design_file_name(location)
    return local_path(location)


def fetch_design(dataset: Any, raw_dir: Path, progress: bool = True) -> Path | None:
    """Download a design given as an http(s) URL into the raw folder; local designs stay where they are."""
    design = getattr(dataset, "design", None)  # only layouts with a separate design file have the setting
    if not design or not is_remote(design):
        return None
    destination = local_design_path(dataset.design, raw_dir)
    with atomic_path(destination) as temporary:
        HttpClient(dataset.http, progress=progress).download(dataset.design, temporary, label="design")
    return destination


def design_from_counts(oligos: pd.DataFrame) -> dict[str, str]:
    """name -> sequence from a `sequence` column that fetched counts files may carry (empty: none)."""
    if "sequence" not in oligos:
        return {}
    given = oligos[oligos["sequence"].fillna("") != ""]
    records = dict(zip(given[ROW_ID], given["sequence"], strict=True))
    _require_bases(records, "the counts files' sequence column")
    return records


def read_design(path: Path) -> dict[str, str]:
    """name -> upper-case designed sequence; a bad record is an error naming file and record."""
    if not path.is_file():
        raise InputDataError(f"dataset.design = {path}: no such file")
    records = read_fasta(path) if path.suffix.lower() in FASTA_SUFFIXES else _read_table(path)
    _require_bases(records, str(path))
    return records


def _require_bases(records: dict[str, str], source: str) -> None:
    for name, sequence in records.items():
        bad = invalid_bases(sequence)
        if bad or not sequence:
            raise InputDataError(f"{source}: record {name!r}: sequence is empty or has characters {sorted(bad)}")


def _read_table(path: Path) -> dict[str, str]:
    separator = "," if path.suffix.lower() == ".csv" else "\t"
    table = pd.read_csv(path, sep=separator, dtype=str, keep_default_na=False)
    if not {"name", "sequence"} <= set(table.columns):
        raise InputDataError(f"{path}, line 1: a design table needs `name` and `sequence` columns; it has "
                             f"{list(table.columns)}")
    duplicated = table["name"].duplicated(keep=False)
    if duplicated.any():
        lines = (table.index[duplicated] + 2).tolist()[:10]
        raise InputDataError(f"{path}: design name {table.loc[duplicated, 'name'].iloc[0]!r} repeats (lines {lines})")
    return dict(zip(table["name"], table["sequence"].str.upper(), strict=True))
