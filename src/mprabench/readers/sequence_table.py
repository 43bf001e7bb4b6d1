"""The sequence-table reader: a TSV/CSV (plain or gzipped) with one measured sequence per row.

The config maps the columns (id, sequence, activity; optionally element, orientation, class and
coordinates). The element and orientation may come from a regular expression on the id (Agarwal
2025: `<element>` / `<element>_Reversed:` in HepG2, `<element>_F` / `<element>_R` in WTC11), the
class from a column or from patterns on the id. Every check names the file, line and column and
runs before anything is requested (docs/PROTOCOL.md, "Datasets").
"""

from __future__ import annotations

import difflib
import re
from dataclasses import fields
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from mprabench.errors import ConfigError, InputDataError
from mprabench.readers.base import ReadLibrary, measured_sequence_columns
from mprabench.config import ActivityScale, ClassPattern, SequenceTableConfig
from mprabench.schema import (
    CHROM,
    ELEMENT_CLASS,
    ELEMENT_ID,
    END,
    FOLD,
    LOG2_RATIO,
    ORIENTATION,
    ORIENTATION_FORWARD,
    ORIENTATION_REVERSE,
    PLASMID,
    POOL,
    RNA,
    ROW_ID,
    SEQUENCE,
    START,
    STRAND,
)

HEADER_LINES = 1
UNCLASSIFIED = "unclassified"
MISSING_ACTIVITY = "missing_activity"  # an empty activity cell: the row is excluded and counted
_BASES = re.compile(r"[ACGT]+")


def table_file_names(dataset: SequenceTableConfig) -> list[str]:
    """The table files in the raw folder: `files`, or the one file `source` names when `files` is empty."""
    if dataset.files:
        return [spec.name for spec in dataset.files]
    return [Path(urlparse(dataset.source).path).name]


def read(dataset: SequenceTableConfig, raw_dir: Path) -> ReadLibrary:
    """Every table file of the dataset, checked, concatenated in config order."""
    tables = [read_table(raw_dir / name, dataset) for name in table_file_names(dataset)]
    oligos = pd.concat([t for t, _ in tables], ignore_index=True)
    _require_unique(oligos[ROW_ID], oligos, "id", "every id must name one row")
    rows_in = sum(n for _, n in tables)
    missing = oligos[LOG2_RATIO].isna()
    excluded = {MISSING_ACTIVITY: int(missing.sum())}
    oligos = oligos.loc[~missing].reset_index(drop=True)
    _require_one_insert_length(oligos)
    _require_one_row_per_orientation(oligos)
    details = {
        "reader": "sequence_table",
        "files": table_file_names(dataset),
        "insert_length": int(oligos[SEQUENCE].str.len().iloc[0]) if len(oligos) else None,
        "elements": int(oligos[ELEMENT_ID].nunique()),
        "rows_by_class": {str(k): int(v) for k, v in oligos[ELEMENT_CLASS].value_counts().sort_index().items()},
        "rows_by_orientation": {str(k): int(v) for k, v in
                                oligos[ORIENTATION].fillna("unknown").value_counts().sort_index().items()},
        "elements_by_rows": {str(k): int(v) for k, v in
                             oligos.groupby(ELEMENT_ID).size().value_counts().sort_index().items()},
    }
    return ReadLibrary(oligos.drop(columns=["_file", "_line"]), rows_in, excluded, None, details)


def read_table(path: Path, dataset: SequenceTableConfig) -> tuple[pd.DataFrame, int]:
    """One file as benchmark rows (activity NaN where the cell is empty) and its number of data rows."""
    raw = _read_raw(path, dataset.separator)
    columns = dataset.columns
    mapped = {spec.name: getattr(columns, spec.name) for spec in fields(columns)}
    _require_columns(raw, path, {k: v for k, v in mapped.items() if v is not None}
                     | {f"required_columns[{i}]": name for i, name in enumerate(dataset.required_columns)})
    lines = np.arange(len(raw)) + 1 + HEADER_LINES
    where = pd.DataFrame({"_file": str(path), "_line": lines})
    ids = raw[columns.id] if columns.id else pd.Series([f"{path.name}:line{n}" for n in lines])
    _require_nonempty(ids, where, columns.id or "id")
    sequences = raw[columns.sequence]
    _require_bases(sequences, where, columns.sequence)
    log2 = _activity(raw[columns.activity], where, columns.activity, dataset.activity_scale)
    element, orientation = _element_and_orientation(raw, ids, where, dataset)
    table = pd.DataFrame({
        ROW_ID: ids.to_numpy(), POOL: path.name, ELEMENT_ID: element.to_numpy(),
        CHROM: _optional(raw, columns.chrom), START: _coordinate(raw, columns.start, where),
        END: _coordinate(raw, columns.end, where), STRAND: _optional(raw, columns.strand),
        RNA: pd.array([pd.NA] * len(raw), dtype="Int64"), PLASMID: pd.array([pd.NA] * len(raw), dtype="Int64"),
        **measured_sequence_columns(len(raw), log2),
        SEQUENCE: sequences.to_numpy(), ORIENTATION: orientation.to_numpy(),
        ELEMENT_CLASS: _element_class(raw, ids, columns.element_class, dataset.class_patterns).to_numpy(),
    })
    if columns.fold:  # only a layout with folds gets the column, so a subset by fold on another is an error
        table[FOLD] = _whole_numbers(raw, columns.fold, where)
    return pd.concat([table, where], axis=1), len(raw)


def _read_raw(path: Path, separator: str | None) -> pd.DataFrame:
    if not path.is_file():
        raise InputDataError(f"{path}: table not found. Run the fetch stage first (`dvc repro fetch`).")
    suffixes = [s.lower() for s in path.suffixes]
    sep = separator or ("," if ".csv" in suffixes else "\t")
    try:
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, compression="infer")
    except pd.errors.EmptyDataError:
        raise InputDataError(f"{path}, line 1: the file is empty (no header). Check dataset.source.") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as error:
        raise InputDataError(f"{path}: not a {'comma' if sep == ',' else 'tab'}-separated table "
                             f"({str(error).strip()}). Check dataset.source and dataset.separator.") from None


def _require_columns(raw: pd.DataFrame, path: Path, mapped: dict[str, str]) -> None:
    found = list(raw.columns)
    missing = {key: name for key, name in mapped.items() if name not in found}
    if not missing:
        return
    hints = []
    for key, name in missing.items():
        close = difflib.get_close_matches(name, found, n=1)
        setting = f"dataset.{key}" if key.startswith("required_columns") else f"dataset.columns.{key}"
        hints.append(f"{setting} = {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise InputDataError(
        f"{path}, line 1: missing column(s) {sorted(set(missing.values()))}; the header has {found}. "
        f"Set {', '.join(hints)} to the file's column name (`-S dataset.columns.<key>=<column>`)."
    )


def _at(where: pd.DataFrame, index: int, column: str) -> str:
    return f"{where['_file'].iloc[index]}, line {int(where['_line'].iloc[index])}, column {column!r}"


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _require_nonempty(values: pd.Series, where: pd.DataFrame, column: str) -> None:
    empty = (values.str.len() == 0).to_numpy()
    if empty.any():
        raise InputDataError(f"{_at(where, _first(empty), column)}: empty ({int(empty.sum())} such row(s)); "
                             "every row needs one")


def _require_bases(sequences: pd.Series, where: pd.DataFrame, column: str) -> None:
    """Upper-case A/C/G/T only: lower case (soft-masked) or other letters are errors, not silently fixed."""
    good = sequences.str.fullmatch(_BASES).to_numpy(dtype=bool)
    if good.all():
        return
    index = _first(~good)
    value = sequences.iloc[index]
    others = sorted(set(value) - set("ACGT"))
    if value and value.upper() != value and not set(value.upper()) - set("ACGT"):
        what = "has lower-case bases (soft-masked?); write the sequence in upper case"
    elif not value:
        what = "is empty"
    else:
        what = f"has characters other than A, C, G, T: {others[:10]}"
    raise InputDataError(f"{_at(where, index, column)}: the sequence {what} "
                         f"({int((~good).sum())} such row(s) in the file). Fix the table; nothing was requested.")


def _activity(values: pd.Series, where: pd.DataFrame, column: str, scale: ActivityScale) -> np.ndarray:
    """log2 activity per row; NaN for an empty cell (excluded and counted), an error for text."""
    stripped = values.str.strip()
    numbers = pd.to_numeric(stripped.where(stripped != ""), errors="coerce").to_numpy(float)
    bad = np.isnan(numbers) & (stripped != "").to_numpy() | np.isinf(numbers)
    if bad.any():
        index = _first(bad)
        raise InputDataError(f"{_at(where, index, column)}: activity {values.iloc[index]!r} is not a number "
                             f"({int(bad.sum())} such row(s)). Fix the cell, or leave it empty to exclude the row.")
    if scale is ActivityScale.log2:
        return numbers
    nonpositive = numbers <= 0
    if nonpositive.any():
        index = _first(nonpositive)
        raise InputDataError(f"{_at(where, index, column)}: activity {values.iloc[index]!r} is not positive, so it "
                             "has no log2; if the column already holds log2 ratios set dataset.activity_scale=log2")
    return np.log2(numbers)


def _element_and_orientation(raw: pd.DataFrame, ids: pd.Series, where: pd.DataFrame,
                             dataset: SequenceTableConfig) -> tuple[pd.Series, pd.Series]:
    columns = dataset.columns
    groups = _match_id_pattern(ids, where, dataset.id_pattern, columns.id or "id") if dataset.id_pattern else None
    if columns.element:
        element = raw[columns.element]
        _require_nonempty(element, where, columns.element)
    elif groups is not None:
        element = groups["element"]
    elif columns.chrom and columns.start and columns.end:
        element = raw[columns.chrom] + ":" + raw[columns.start] + "-" + raw[columns.end]
    else:
        element = ids
    if columns.orientation:
        given = raw[columns.orientation]
    elif groups is not None and "orientation" in groups:
        given = groups["orientation"].fillna("")
    else:
        return element.reset_index(drop=True), pd.Series([None] * len(raw), dtype=object)
    values = dataset.orientation_values
    orientation = pd.Series(np.select([given.isin(values.forward), given.isin(values.reverse)],
                                      [ORIENTATION_FORWARD, ORIENTATION_REVERSE], default=None), dtype=object)
    return element.reset_index(drop=True), orientation


def _match_id_pattern(ids: pd.Series, where: pd.DataFrame, pattern: str, column: str) -> pd.DataFrame:
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ConfigError(f"dataset.id_pattern = {pattern!r} is not a regular expression ({error})") from None
    if "element" not in compiled.groupindex:
        raise ConfigError(f"dataset.id_pattern = {pattern!r} has no named group `element`, e.g. (?P<element>.+?)")
    groups = ids.str.extract(f"^(?:{pattern})$")
    unmatched = groups["element"].isna().to_numpy()
    if unmatched.all():
        raise InputDataError(
            f"{where['_file'].iloc[0]}: dataset.id_pattern = {pattern!r} matches no id (first: "
            f"{ids.iloc[0]!r} at line {int(where['_line'].iloc[0])}, column {column!r}). Fix the pattern in "
            "conf/dataset/ or with `-S dataset.id_pattern=...`."
        )
    if unmatched.any():
        index = _first(unmatched)
        raise InputDataError(f"{_at(where, index, column)}: id {ids.iloc[index]!r} does not match dataset.id_pattern "
                             f"= {pattern!r} ({int(unmatched.sum())} such row(s)); its element is unknown")
    return groups


def _element_class(raw: pd.DataFrame, ids: pd.Series, column: str | None, rules: list[ClassPattern]) -> pd.Series:
    """The class column, else the first class pattern an id matches (re.search), else `unclassified`."""
    if column:
        return raw[column].replace("", UNCLASSIFIED)
    result = pd.Series(UNCLASSIFIED, index=ids.index, dtype=object)
    open_rows = np.ones(len(ids), dtype=bool)
    for rule in rules:
        try:
            hit = ids.str.contains(rule.pattern, regex=True).to_numpy(dtype=bool) & open_rows
        except re.error as error:
            raise ConfigError(f"dataset.class_patterns: {rule.name!r} pattern {rule.pattern!r} is not a regular "
                              f"expression ({error})") from None
        result[hit] = rule.name
        open_rows &= ~hit
    return result


def _optional(raw: pd.DataFrame, column: str | None) -> object:
    return raw[column].replace("", None).to_numpy() if column else None


def _coordinate(raw: pd.DataFrame, column: str | None, where: pd.DataFrame) -> object:
    if not column:
        return pd.array([pd.NA] * len(raw), dtype="Int64")
    return _whole_numbers(raw, column, where)


def _whole_numbers(raw: pd.DataFrame, column: str, where: pd.DataFrame) -> np.ndarray:
    """A column of non-negative integers (coordinates, folds); the first other value is named by line."""
    good = raw[column].str.fullmatch(r"\d+").to_numpy(dtype=bool)
    if not good.all():
        index = _first(~good)
        raise InputDataError(f"{_at(where, index, column)}: {raw[column].iloc[index]!r} is not a non-negative "
                             "integer")
    return raw[column].astype("int64").to_numpy()


def _require_unique(values: pd.Series, table: pd.DataFrame, column: str, why: str) -> None:
    duplicated = values.duplicated(keep=False).to_numpy()
    if duplicated.any():
        first = values[duplicated].iloc[0]
        same = table.loc[values == first]
        places = ", ".join(f"{f} line {int(n)}" for f, n in zip(same["_file"], same["_line"], strict=True))
        raise InputDataError(f"{column} {first!r} occurs more than once ({places}; {int(duplicated.sum())} "
                             f"duplicated row(s) in all); {why}")


def _require_one_insert_length(oligos: pd.DataFrame) -> None:
    """Inserts of one length: a model input's length must not stand in for its activity."""
    lengths = oligos[SEQUENCE].str.len()
    if lengths.nunique() <= 1:
        return
    common = int(lengths.mode().iloc[0])
    index = _first((lengths != common).to_numpy())
    counts = {int(k): int(v) for k, v in lengths.value_counts().head(5).items()}
    raise InputDataError(
        f"{oligos['_file'].iloc[index]}, line {int(oligos['_line'].iloc[index])}, column sequence: insert of "
        f"{int(lengths.iloc[index])} nt, but most are {common} nt (lengths: {counts}). Mixed insert lengths are "
        "not compared here: keep one length per dataset (split the table or trim the inserts)."
    )


def _require_one_row_per_orientation(oligos: pd.DataFrame) -> None:
    oriented = oligos[ORIENTATION].notna().to_numpy()
    if not oriented.any():
        return
    keys = oligos[ELEMENT_ID].astype(str) + " (" + oligos[ORIENTATION].astype(str) + ")"
    subset = oligos.loc[oriented]
    _require_unique(keys[oriented].reset_index(drop=True), subset.reset_index(drop=True), "element",
                    "each element is measured once per orientation; check dataset.id_pattern or the element column")
