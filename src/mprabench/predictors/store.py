"""A content-addressed, resumable store of predictions.

Layout under the store root (a DVC output kept across runs):

    <fingerprint key>/fingerprint.json   what the predictions depend on (readable)
    <fingerprint key>/table.parquet      compacted predictions, one row per input SHA-256
    <fingerprint key>/records/<sha>.json one prediction each, written as it arrives

Every file is written to a temporary name and renamed into place, so killing the
process at any instant leaves a store that loads: the prediction being written is
simply absent and will be requested again.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from mprabench.errors import BenchmarkError
from mprabench.files import write_json_atomic, write_parquet_atomic

KEY_COLUMN = "input_sha256"
_KEY_LENGTH = 16


class StoreError(BenchmarkError):
    """The store on disk is inconsistent (names the file)."""


def fingerprint_key(fingerprint: Mapping[str, Any]) -> str:
    """A short stable key for a fingerprint (SHA-256 of its canonical JSON)."""
    canonical = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:_KEY_LENGTH]


class PredictionStore:
    """Predictions of one fingerprint; implements the predictors' ResultSink."""

    def __init__(self, root: Path, fingerprint: Mapping[str, Any]):
        self.fingerprint = dict(fingerprint)
        self.directory = root / fingerprint_key(fingerprint)
        self.records = self.directory / "records"
        self.table_path = self.directory / "table.parquet"
        self._register()

    def load(self) -> pd.DataFrame:
        """Every stored prediction: index = input SHA-256, one float column per feature."""
        parts = [part for part in (self._read_table(), self._read_records()) if not part.empty]
        if not parts:
            return pd.DataFrame(index=pd.Index([], name=KEY_COLUMN))
        table = pd.concat(parts)
        table = table[~table.index.duplicated(keep="first")]  # a record may also be in a fresh table
        self._require_complete(table)
        return table.sort_index()

    def put(self, input_sha256: str, features: Mapping[str, float]) -> None:
        write_json_atomic(self.records / f"{input_sha256}.json", _finite_features(input_sha256, features))

    def put_many(self, features: Mapping[str, Mapping[str, float]]) -> None:
        for input_sha256, values in features.items():
            _finite_features(input_sha256, values)
        new = pd.DataFrame.from_dict(features, orient="index")
        new.index.name = KEY_COLUMN
        self._write_table(pd.concat([self.load(), new]))

    def compact(self) -> pd.DataFrame:
        """Fold records into the table, then delete them (a kill in between only duplicates rows).

        Returns every stored prediction, as `load` would.
        """
        record_files = list(self.records.glob("*.json")) if self.records.is_dir() else []
        complete = self.load()
        if record_files:
            self._write_table(complete)
            for path in record_files:
                path.unlink()
        return complete

    def _register(self) -> None:
        description = self.directory / "fingerprint.json"
        if not description.exists():
            write_json_atomic(description, self.fingerprint)
        for stale in self.directory.rglob(".*.tmp"):
            stale.unlink()  # left by a killed writer; one writer uses a store at a time

    def _read_table(self) -> pd.DataFrame:
        if not self.table_path.exists():
            return pd.DataFrame()
        return pd.read_parquet(self.table_path)

    def _read_records(self) -> pd.DataFrame:
        if not self.records.is_dir():
            return pd.DataFrame()
        rows = {}
        for path in sorted(self.records.glob("*.json")):
            try:
                rows[path.stem] = json.loads(path.read_text())
            except json.JSONDecodeError as error:
                raise StoreError(f"{path}: not valid JSON ({error}); delete the file to re-request it") from None
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = KEY_COLUMN
        return table

    def _write_table(self, table: pd.DataFrame) -> None:
        table = table[~table.index.duplicated(keep="last")].sort_index()
        table.index.name = KEY_COLUMN
        write_parquet_atomic(self.table_path, table, index=True)

    def _require_complete(self, table: pd.DataFrame) -> None:
        incomplete = table.index[table.isna().any(axis=1)]
        if len(incomplete):
            raise StoreError(
                f"{self.directory}: {len(incomplete)} stored prediction(s) lack some features "
                f"(e.g. {incomplete[0]}); the store mixes feature sets. Delete {self.directory} to rebuild it."
            )


def _finite_features(input_sha256: str, features: Mapping[str, float]) -> dict[str, float]:
    """Features as plain floats; a non-finite value is a bug upstream, never stored."""
    values = {name: float(value) for name, value in features.items()}
    bad = [name for name, value in values.items() if not math.isfinite(value)]
    if bad or not values:
        raise StoreError(f"prediction for {input_sha256} has no or non-finite features {bad}; not stored")
    return values
