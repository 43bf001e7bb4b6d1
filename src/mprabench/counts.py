"""Reading GSE84888 count tables into one validated oligo table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mprabench.config import CountsFile
from mprabench.errors import InputDataError
from mprabench.names import parse_oligo_names
from mprabench.schema import ELEMENT_ID, IS_WILD_TYPE, ROW_ID, TF_LABELS
from mprabench.tables import check_header_width

COUNT_COLUMNS = {"name": "name", "tags": "tags", "counts.rna": "rna", "counts.plasmid": "plasmid"}
SEQUENCE_COLUMN = "sequence"  # optional: a counts file that also lists each oligo's designed sequence
_HEADER_LINES = 1


def read_counts_file(path: Path, spec: CountsFile, max_columns: int | None = None) -> pd.DataFrame:
    """One pool's counts with parsed names: one row per oligo, in file order.

    `max_columns` (dataset.max_line_columns) bounds the header's width before parsing."""
    table = _read_table(path, max_columns)
    if table.empty:
        raise InputDataError(
            f"{path}, line 2: pool {spec.pool} has a header but no oligo rows. Every configured pool must "
            "contribute rows: fetch the file again (`dvc repro fetch`) or remove the pool from dataset.files."
        )
    _require_count_integers(table, path)
    _require_unique_names(table, path)
    parsed = parse_oligo_names(table["name"], spec.design_grammar, str(path), first_line=1 + _HEADER_LINES)
    oligos = pd.DataFrame({ROW_ID: table["name"], "pool": spec.pool})
    for column in (ELEMENT_ID, "chrom", "start", "end", "strand", "motif", "design", TF_LABELS, IS_WILD_TYPE):
        oligos[column] = parsed[column]
    for column in ("tags", "rna", "plasmid"):
        oligos[column] = table[column].to_numpy(dtype=np.int64)
    if SEQUENCE_COLUMN in table:
        oligos[SEQUENCE_COLUMN] = table[SEQUENCE_COLUMN].str.upper().to_numpy()
    return oligos


def read_library(raw_dir: Path, specs: list[CountsFile], max_columns: int | None = None) -> pd.DataFrame:
    """All pools of the dataset, concatenated in config order."""
    pools = [read_counts_file(raw_dir / spec.name, spec, max_columns) for spec in specs]
    library = pd.concat(pools, ignore_index=True)
    _require_unique_across_pools(library)
    return library


def _read_table(path: Path, max_columns: int | None) -> pd.DataFrame:
    if not path.is_file():
        raise InputDataError(f"{path}: counts file not found. Run the fetch stage first (`dvc repro fetch`).")
    if max_columns is not None:
        check_header_width(path, "\t", max_columns, "dataset.max_line_columns")
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputDataError(
            f"{path}, line 1: the file is empty (no header, no rows). Fetch it again (`dvc repro fetch`) "
            f"or check dataset.source; it must start with the header {list(COUNT_COLUMNS)}."
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise InputDataError(
            f"{path}: not a tab-separated counts table ({str(error).strip()}). Check dataset.source."
        ) from None
    if list(table.columns) not in (list(COUNT_COLUMNS), [*COUNT_COLUMNS, SEQUENCE_COLUMN]):
        raise InputDataError(
            f"{path}, line 1: header {list(table.columns)} is not the GSE84888 layout {list(COUNT_COLUMNS)} "
            f"(optionally followed by `{SEQUENCE_COLUMN}`)"
        )
    return table.rename(columns=COUNT_COLUMNS)


def _require_count_integers(table: pd.DataFrame, path: Path) -> None:
    for column in ("tags", "rna", "plasmid"):
        values = table[column]
        bad = ~values.str.fullmatch(r"\d+")
        if bad.any():
            index = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputDataError(
                f"{path}, line {index + 1 + _HEADER_LINES}: {column} = {values.iloc[index]!r} for "
                f"{table['name'].iloc[index]!r} is not a non-negative integer count "
                f"({int(bad.sum())} such row(s) in the file). Fetch the file again (`dvc repro fetch`) or fix it."
            )


def _require_unique_names(table: pd.DataFrame, path: Path) -> None:
    duplicated = table["name"].duplicated(keep=False)
    if duplicated.any():
        lines = (np.flatnonzero(duplicated.to_numpy()) + 1 + _HEADER_LINES).tolist()
        raise InputDataError(
            f"{path}: oligo name {table['name'][duplicated].iloc[0]!r} occurs more than once "
            f"(lines {lines[:10]}); every oligo must be named once"
        )


def _require_unique_across_pools(library: pd.DataFrame) -> None:
    duplicated = library[ROW_ID].duplicated(keep=False)
    if duplicated.any():
        names = library.loc[duplicated, [ROW_ID, "pool"]].drop_duplicates().head(5)
        raise InputDataError(f"oligo names occur in more than one pool: {names.to_dict('records')}")
