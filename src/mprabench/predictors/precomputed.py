"""Predictions made elsewhere (another machine, a GPU cluster, an earlier run), read from a file."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from omegaconf import MISSING

from mprabench.dna import sequence_sha256
from mprabench.errors import InputDataError
from mprabench.predictors.base import PredictionReport, Predictor, ResultSink
from mprabench.schema import FEATURES_KEY
from mprabench.settings import items
from mprabench.sources.locations import local_path

_SHOWN = 5
log = logging.getLogger(__name__)


@dataclass
class PrecomputedConfig:
    name: str = MISSING
    path: str = MISSING
    features: list[str] | None = items(1)


class PrecomputedPredictor(Predictor):
    """CSV or Parquet with a `sequence` (an input, padded or not) or `input_sha256` column and one column
    per feature."""

    settings = PrecomputedConfig
    label = "precomputed baseline (offline)"
    local_file_setting = "path"

    @classmethod
    def setting_problems(cls, settings: PrecomputedConfig, params: Any) -> list[str]:
        primary = params.evaluate.primary_features
        if settings.features is None or primary is None or not set(primary) - set(settings.features):
            return []
        return [f"`evaluate.primary_features` = {primary} names features that `predictor.features` = "
                f"{settings.features} does not produce; list the same names in both (or set "
                "evaluate.primary_features to null)"]

    def __init__(self, config: PrecomputedConfig):
        self.path = local_path(config.path)
        self.table = _keyed_table(self.path)
        self.features = config.features or _feature_columns(self.table)
        _require_usable(self.table, self.features, self.path)
        self.table[self.features] = self.table[self.features].astype(float)

    def headline_feature(self) -> str:
        """The first of predictor.features (null: the file's first feature column)."""
        return self.features[0]

    def predict(self, inputs: Mapping[str, str], sink: ResultSink) -> PredictionReport:
        # A `sequence` may be the input as prepare wrote it or without its N padding (a sequence
        # table's measured insert): an input not found as written is looked up unpadded.
        keys = {sha: sha if sha in self.table.index else sequence_sha256(sequence.strip("N"))
                for sha, sequence in inputs.items()}
        absent = [sha for sha, key in keys.items() if key not in self.table.index]
        if absent:
            raise InputDataError(
                f"{self.path}: {len(absent)} of {len(inputs)} model inputs have no prediction in the file, "
                f"e.g. {absent[:_SHOWN]}.{_key_case_hint(self.table.index, absent)} Predict them too (the "
                "inputs are data/prepared/inputs.fa, one record per SHA-256) or choose another predictor."
            )
        chosen = self.table.loc[[keys[sha] for sha in inputs], self.features].set_axis(list(inputs))
        sink.put_many(chosen.to_dict(orient="index"))
        return PredictionReport(requested=len(inputs))


def _keyed_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputDataError(f"predictor.path = {path}: no such file")
    try:
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (ValueError, UnicodeDecodeError, pa.ArrowException) as error:  # pandas' parser errors are ValueErrors
        kind = "Parquet" if path.suffix == ".parquet" else "CSV"
        raise InputDataError(
            f"predictor.path = {path}: cannot be read as {kind} ({str(error).strip()}). Give a CSV, or a "
            "Parquet file named *.parquet, with an `input_sha256` or `sequence` column and one column per feature."
        ) from None
    if FEATURES_KEY in table:
        keys = table[FEATURES_KEY].astype(str)
    elif "sequence" in table:
        keys = table["sequence"].astype(str).map(sequence_sha256)
    else:
        raise InputDataError(f"{path}: needs an `{FEATURES_KEY}` or a `sequence` column; it has {list(table.columns)}")
    table = table.drop(columns=[c for c in (FEATURES_KEY, "sequence") if c in table]).set_index(keys.rename(FEATURES_KEY))
    duplicated = table.index[table.index.duplicated()]
    if len(duplicated):
        raise InputDataError(f"{path}: {len(duplicated)} inputs appear more than once, e.g. {list(duplicated[:_SHOWN])}")
    return table


_INDEX_COLUMN = re.compile(r"^(Unnamed: \d+|__index_level_\d+__)$")  # a pandas index written as a column


def _feature_columns(table: pd.DataFrame) -> list[str]:
    """Every column holding at least one number: a stray text cell in one is an error, not a dropped column.

    A column without a header (`Unnamed: 0`: pandas' row index written by `to_csv`) is a row
    number, not a prediction; it is left out and named in the log (list it in predictor.features
    to use it anyway)."""
    index_like = [c for c in table.columns if _INDEX_COLUMN.match(str(c))]
    if index_like:
        log.warning("precomputed: column(s) %s have no header (a row index written with the predictions?); "
                    "not used as features", index_like)
    candidates = [c for c in table.columns if c not in index_like]
    chosen = [c for c in candidates if pd.to_numeric(table[c], errors="coerce").notna().any()]
    skipped = [c for c in candidates if c not in chosen]
    if skipped:
        log.info("precomputed: columns without any number are not features: %s", skipped)
    return chosen


def _key_case_hint(keys: pd.Index, absent: list[str]) -> str:
    lowered = set(keys.astype(str).str.lower())
    if any(key != key.lower() for key in keys.astype(str)) and any(sha in lowered for sha in absent):
        return (
            f" The file's `{FEATURES_KEY}` values are upper case; SHA-256 keys are lower-case hex "
            "(as `sha256sum` prints them): lower-case that column."
        )
    return ""


def _require_usable(table: pd.DataFrame, features: list[str], path: Path) -> None:
    unknown = [f for f in features if f not in table]
    if unknown or not features:
        raise InputDataError(
            f"{path}: feature columns {unknown or features} not found; it has {list(table.columns)}. "
            "Set predictor.features to columns of the file (or null for every numeric column)."
        )
    for column in features:
        _require_numbers(table[column], column, path)
    values = table[features].to_numpy(dtype=float)
    bad_rows = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if len(bad_rows):
        raise InputDataError(
            f"{path}: {len(bad_rows)} rows have missing or non-finite features, "
            f"e.g. line(s) {[int(i) + 2 for i in bad_rows[:_SHOWN]]} (CSV numbering); fix or drop them."
        )


def _require_numbers(values: pd.Series, column: str, path: Path) -> None:
    """Every present cell of a feature column parses as a number; else name the column, line and cell."""
    numbers = pd.to_numeric(values, errors="coerce")
    text = numbers.isna() & values.notna()
    if text.any():
        position = int(np.flatnonzero(text.to_numpy())[0])
        raise InputDataError(
            f"{path}, line {position + 2} (CSV numbering): feature column `{column}` holds "
            f"{values.iloc[position]!r}, not a number ({int(text.sum())} such cell(s) in the column). "
            "Fix the file, or leave the column out with predictor.features."
        )
