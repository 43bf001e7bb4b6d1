"""The library design: each oligo's designed sequence, by name (FASTA, or TSV/CSV `name, sequence`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from mprabench.dna import invalid_bases
from mprabench.errors import ConfigError, InputDataError
from mprabench.fasta import read_fasta
from mprabench.files import atomic_path
from mprabench.schema import ROW_ID
from mprabench.tables import check_header_width
from mprabench.sources.http import Checksum, HttpClient
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


def design_checksum(dataset: Any) -> Checksum | None:
    """dataset.design_sha256 or dataset.design_md5 (config validation allows at most one)."""
    if getattr(dataset, "design_sha256", None):
        return Checksum("sha256", dataset.design_sha256.lower(), "dataset.design_sha256")
    if getattr(dataset, "design_md5", None):
        return Checksum("md5", dataset.design_md5.lower(), "dataset.design_md5")
    return None


def fetch_design(dataset: Any, raw_dir: Path, progress: bool = True) -> Path | None:
    """Download a design given as an http(s) URL into the raw folder, bounded in size and checked
    against its checksum while it streams; local designs stay where they are."""
    design = getattr(dataset, "design", None)  # only layouts with a separate design file have the setting
    if not design or not is_remote(design):
        return None
    checksum = design_checksum(dataset)
    if checksum is None:  # load_params refuses this already; a library caller may not have used it
        raise ConfigError(f"dataset.design = {dataset.design} is a URL: set dataset.design_sha256 or design_md5")
    destination = local_design_path(dataset.design, raw_dir)
    with atomic_path(destination) as temporary:
        HttpClient(dataset.http, progress=progress).download(dataset.design, temporary, label="design",
                                                             checksum=checksum)
    return destination


def verify_design(path: Path, checksum: Checksum | None) -> None:
    """A local design file against its configured checksum (when one is given)."""
    if checksum is None or not path.is_file():
        return
    digest = checksum.new()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != checksum.hexdigest:
        raise InputDataError(f"{path}: {checksum.algorithm} is {digest.hexdigest()}, not {checksum.hexdigest} "
                             f"({checksum.setting}). The design file changed: fix the file or the checksum.")


def require_fitting_length(design: dict[str, str], window: int) -> None:
    """A designed sequence longer than the model window cannot be placed in it: say so by name
    (not as a genome window full of N)."""
    too_long = {name: len(sequence) for name, sequence in design.items() if len(sequence) > window}
    if too_long:
        name, length = next(iter(too_long.items()))
        raise InputDataError(
            f"design record {name!r}: its sequence is {length:,} bp, longer than experiment.window = {window:,} "
            f"bp ({len(too_long)} such record(s)). A designed oligo must fit its window: check the design file "
            "(a record holding a whole file?) or raise experiment.window.")


def design_from_counts(oligos: pd.DataFrame) -> dict[str, str]:
    """name -> sequence from a `sequence` column that fetched counts files may carry (empty: none)."""
    if "sequence" not in oligos:
        return {}
    given = oligos[oligos["sequence"].fillna("") != ""]
    records = dict(zip(given[ROW_ID], given["sequence"], strict=True))
    _require_bases(records, "the counts files' sequence column")
    return records


def read_design(path: Path, max_columns: int | None = None) -> dict[str, str]:
    """name -> upper-case designed sequence; a bad record is an error naming file and record.

    `max_columns` (dataset.max_line_columns) bounds a table's header width before parsing."""
    if not path.is_file():
        raise InputDataError(f"dataset.design = {path}: no such file")
    records = read_fasta(path) if path.suffix.lower() in FASTA_SUFFIXES else _read_table(path, max_columns)
    _require_bases(records, str(path))
    return records


def _require_bases(records: dict[str, str], source: str) -> None:
    for name, sequence in records.items():
        bad = invalid_bases(sequence)
        if bad or not sequence:
            raise InputDataError(f"{source}: record {name!r}: sequence is empty or has characters {sorted(bad)}")


def _read_table(path: Path, max_columns: int | None) -> dict[str, str]:
    separator = "," if path.suffix.lower() == ".csv" else "\t"
    if max_columns is not None:
        check_header_width(path, separator, max_columns, "dataset.max_line_columns")
    table = pd.read_csv(path, sep=separator, dtype=str, keep_default_na=False)
    if not {"name", "sequence"} <= set(table.columns):
        raise InputDataError(f"{path}, line 1: a design table needs `name` and `sequence` columns; it has "
                             f"{list(table.columns)}")
    duplicated = table["name"].duplicated(keep=False)
    if duplicated.any():
        lines = (table.index[duplicated] + 2).tolist()[:10]
        raise InputDataError(f"{path}: design name {table.loc[duplicated, 'name'].iloc[0]!r} repeats (lines {lines})")
    return dict(zip(table["name"], table["sequence"].str.upper(), strict=True))
