"""Running a predictor through the prediction store: each distinct input is requested at most once."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mprabench.dna import sequence_sha256
from mprabench.errors import BenchmarkError, InputDataError
from mprabench.fasta import read_fasta
from mprabench.files import write_json_atomic
from mprabench.predictors.base import PredictionFailure, PredictionReport, Predictor
from mprabench.predictors.store import KEY_COLUMN, PredictionStore

_LISTED_FAILURES = 50


@dataclass
class PredictRun:
    features: pd.DataFrame  # index input_sha256, one column per feature, this run's inputs only
    report: PredictionReport
    served_from_store: int
    wall_seconds: float
    store_directory: Path

    def metrics(self) -> dict[str, float | int]:
        return {
            "distinct_inputs": self.served_from_store + self.report.requested,
            "served_from_store": self.served_from_store,
            "requested": self.report.requested,
            "failed": len(self.report.failures),
            "retries": self.report.retries,
            "wall_seconds": round(self.wall_seconds, 3),
        }


class PredictionsFailed(BenchmarkError):
    def __init__(self, failures: list[PredictionFailure], rows_by_input: Mapping[str, list[str]], total: int):
        lines = [
            f"  {f.input_sha256}  rows {_some(rows_by_input.get(f.input_sha256, []))}: {f.error}"
            for f in failures[:_LISTED_FAILURES]
        ]
        if len(failures) > _LISTED_FAILURES:
            lines.append(f"  ... and {len(failures) - _LISTED_FAILURES} more")
        super().__init__(
            f"{len(failures)} of {total} model inputs failed; every success is stored, so rerunning "
            "requests only these:\n" + "\n".join(lines)
        )


def read_model_inputs(path: Path) -> dict[str, str]:
    """inputs.fa, checking that each header is its sequence's SHA-256."""
    inputs = read_fasta(path)
    for header, sequence in inputs.items():
        if sequence_sha256(sequence) != header:
            raise InputDataError(f"{path}: record {header} is not the SHA-256 of its sequence; rerun prepare")
    return inputs


def predict_with_store(predictor: Predictor, inputs: Mapping[str, str], store_root: Path) -> PredictRun:
    """Serve stored predictions, request only the rest, and return features for all of `inputs`."""
    started = time.monotonic()
    store = PredictionStore(store_root, predictor.fingerprint())
    stored = store.load()
    missing = {sha: sequence for sha, sequence in inputs.items() if sha not in stored.index}
    report = PredictionReport()
    if missing:
        predictor.prepare()
        report = predictor.predict(missing, store)
        provenance = predictor.provenance()
        if provenance:
            write_json_atomic(store.directory / "provenance.json", provenance)
    complete = store.compact()
    available = [sha for sha in sorted(inputs) if sha in complete.index]
    features = complete.loc[available]
    features.index.name = KEY_COLUMN
    return PredictRun(features, report, len(inputs) - len(missing), time.monotonic() - started, store.directory)


def _some(rows: list[str], limit: int = 3) -> str:
    return ", ".join(rows[:limit]) + (f" (+{len(rows) - limit})" if len(rows) > limit else "") if rows else "-"
