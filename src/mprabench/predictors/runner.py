"""Running a predictor: model answers come from the prediction store or are requested once.

A `ModelPredictor`'s answers go to the store first; features are then computed from the
stored profiles of this run's inputs, so only inputs missing from the store are requested
and a change of feature definition requests nothing. Offline predictors compute features
directly (they are cheap and need no store).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mprabench.dna import sequence_sha256
from mprabench.errors import BenchmarkError, InputDataError
from mprabench.fasta import read_fasta
from mprabench.predictors.base import ModelPredictor, PredictionFailure, PredictionReport, Predictor
from mprabench.predictors.store import ProfileStore
from mprabench.schema import FEATURES_KEY

log = logging.getLogger(__name__)

_LISTED_FAILURES = 50


@dataclass
class PredictRun:
    features: pd.DataFrame  # index input_sha256, one column per feature, this run's inputs only
    report: PredictionReport
    served_from_store: int
    wall_seconds: float
    provenance: dict[str, Any]
    store_directory: Path | None

    def metrics(self) -> dict[str, int]:
        """The DVC metric: counts only (a wall time is no metric; it goes to the log)."""
        return {
            "distinct_inputs": len(self.features) + len(self.report.failures),
            "served_from_store": self.served_from_store,
            "requested": self.report.requested,
            "failed": len(self.report.failures),
            "retries": self.report.retries,
        }


class PredictionsFailed(BenchmarkError):
    def __init__(self, failures: list[PredictionFailure], rows_by_input: Mapping[str, list[str]], total: int,
                 store: Path | None):
        lines = [
            f"  {f.input_sha256}  rows {_some(rows_by_input.get(f.input_sha256, []))}: {f.error}"
            for f in failures[:_LISTED_FAILURES]
        ]
        if len(failures) > _LISTED_FAILURES:
            lines.append(f"  ... and {len(failures) - _LISTED_FAILURES} more")
        kept = (f"every answer received is stored in {store}, so rerunning requests only these"
                if store is not None else "fix them and rerun")
        super().__init__(f"{len(failures)} of {total} model inputs failed; {kept}:\n" + "\n".join(lines))


def read_model_inputs(path: Path) -> dict[str, str]:
    """inputs.fa, checking that each header is its sequence's SHA-256."""
    inputs = read_fasta(path)
    for header, sequence in inputs.items():
        if sequence_sha256(sequence) != header:
            raise InputDataError(f"{path}: record {header} is not the SHA-256 of its sequence; rerun prepare")
    return inputs


def run_predictor(predictor: ModelPredictor | Predictor, name: str, inputs: Mapping[str, str],
                  store_root: Path) -> PredictRun:
    """Features for all of `inputs` (failed inputs are absent and listed in the report)."""
    started = time.monotonic()
    if isinstance(predictor, ModelPredictor):
        run = _run_model(predictor, inputs, store_root)
    else:
        run = _run_offline(predictor, name, inputs)
    run.wall_seconds = time.monotonic() - started
    log.info("predict: %d inputs, %d served from the store, %d requested, %.1f s", len(inputs),
             run.served_from_store, run.report.requested, run.wall_seconds)
    return run


def _run_model(predictor: ModelPredictor, inputs: Mapping[str, str], store_root: Path) -> PredictRun:
    store = ProfileStore(store_root, predictor.store_key_fields())
    missing = {sha: sequence for sha, sequence in inputs.items() if not store.has(sha)}
    log.info("prediction store %s: %d of %d inputs stored", store.directory, len(inputs) - len(missing), len(inputs))
    report = predictor.request_profiles(missing, store)
    rows = {sha: predictor.features(store.get(sha)) for sha in sorted(inputs) if store.has(sha)}
    features = _frame(rows)
    served = len(inputs) - len(missing) + report.stored_by_others
    provenance = predictor.provenance(store) | {"label": predictor.label}
    return PredictRun(features, report, served, 0.0, provenance, store.directory)


def _run_offline(predictor: Predictor, name: str, inputs: Mapping[str, str]) -> PredictRun:
    sink = _MemorySink()
    report = predictor.predict(inputs, sink)
    provenance = {"predictor": name, "store_key": None, "source": predictor.source, "model_version": None,
                  "organism": None, "biosamples": [], "tracks": {}, "label": predictor.label}
    features = _frame({sha: sink.rows[sha] for sha in sorted(inputs) if sha in sink.rows})
    return PredictRun(features, report, 0, 0.0, provenance, None)


class _MemorySink:
    """Where an offline predictor's features go (no store: recomputing them is cheap)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, float]] = {}

    def put(self, input_sha256: str, features: Mapping[str, float]) -> None:
        values = {name: float(value) for name, value in features.items()}
        bad = [name for name, value in values.items() if not math.isfinite(value)]
        if bad or not values:
            raise BenchmarkError(f"prediction for {input_sha256} has no or non-finite features {bad}")
        self.rows[input_sha256] = values

    def put_many(self, features: Mapping[str, Mapping[str, float]]) -> None:
        for input_sha256, values in features.items():
            self.put(input_sha256, values)


def _frame(rows: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(rows, orient="index") if rows else pd.DataFrame()
    frame.index.name = FEATURES_KEY
    return frame


def _some(rows: list[str], limit: int = 3) -> str:
    return ", ".join(rows[:limit]) + (f" (+{len(rows) - limit})" if len(rows) > limit else "") if rows else "-"
