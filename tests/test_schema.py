"""The declared tables: readers name the file and every missing column; full reads accept prepare's columns."""

from __future__ import annotations

import pandas as pd
import pytest

from mprabench.errors import InputDataError
from mprabench.schema import (
    ELEMENT_ID,
    FEATURES_KEY,
    INPUT_SHA256,
    ROW_ID,
    ROWS_COLUMNS,
    ZERO_RNA_DROPOUT,
    read_features,
    read_rows,
)


def _rows(columns) -> pd.DataFrame:
    return pd.DataFrame({c: ["x", "y"] for c in columns})


def test_rows_missing_a_declared_column_is_an_error_naming_file_and_column(tmp_path):
    path = tmp_path / "rows.parquet"
    _rows([c for c in ROWS_COLUMNS if c != ELEMENT_ID]).to_parquet(path)
    with pytest.raises(InputDataError, match=rf"rows\.parquet: missing column\(s\) \['{ELEMENT_ID}'\].*prepare"):
        read_rows(path)


def test_rows_with_every_declared_column_are_read_whole(tmp_path):
    path = tmp_path / "rows.parquet"
    _rows([*ROWS_COLUMNS, "extra"]).to_parquet(path)
    assert list(read_rows(path).columns) == [*ROWS_COLUMNS, "extra"]


def test_a_column_subset_is_checked_and_only_it_is_read(tmp_path):
    path = tmp_path / "rows.parquet"
    _rows([ROW_ID, INPUT_SHA256, ELEMENT_ID]).to_parquet(path)
    assert list(read_rows(path, [ROW_ID, INPUT_SHA256]).columns) == [ROW_ID, INPUT_SHA256]
    with pytest.raises(InputDataError, match=ZERO_RNA_DROPOUT):
        read_rows(path, [INPUT_SHA256, ZERO_RNA_DROPOUT])


def test_features_without_the_key_column_are_an_error_naming_the_predict_stage(tmp_path):
    path = tmp_path / "features.parquet"
    pd.DataFrame({"dnase_mean": [1.0]}).to_parquet(path)
    with pytest.raises(InputDataError, match=rf"features\.parquet: missing column\(s\) \['{FEATURES_KEY}'\].*predict"):
        read_features(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError) as raised:
        read_rows(tmp_path / "rows.parquet")
    assert raised.value.filename == str(tmp_path / "rows.parquet")
