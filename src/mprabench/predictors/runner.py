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
from mprabench.predictors.base import (
    ModelPredictor,
    PredictionFailure,
    PredictionReport,
    Predictor,
    RequestBudget,
    TooManyRequests,
)
from mprabench.predictors.store import DamagedRecord, ProfileStore, catalogue_id, last_catalogue
from mprabench.provenance import HEADLINE_FEATURE_KEY
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
    store_damaged: int = 0  # stored files that failed their check, moved aside and requested again

    def metrics(self) -> dict[str, int]:
        """The DVC metric: counts only (a wall time is no metric; it goes to the log)."""
        return {
            "distinct_inputs": len(self.features) + len(self.report.failures),
            "served_from_store": self.served_from_store,
            "requested": self.report.requested,
            "failed": len(self.report.failures),
            "retries": self.report.retries,
            "store_damaged": self.store_damaged,
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
        try:
            run = _run_model(predictor, inputs, store_root)
        finally:
            predictor.close()
    else:
        run = _run_offline(predictor, name, inputs)
    run.wall_seconds = time.monotonic() - started
    run.provenance[HEADLINE_FEATURE_KEY] = declared_headline(predictor, name, list(run.features.columns))
    log.info("predict: %d inputs, %d served from the store, %d requested, %.1f s", len(inputs),
             run.served_from_store, run.report.requested, run.wall_seconds)
    return run


def declared_headline(predictor: ModelPredictor | Predictor, name: str, written: list[str]) -> str:
    """The headline feature the predictor declares, which must be one it wrote (unless it wrote none)."""
    feature = predictor.headline_feature()
    if written and feature not in written:
        raise BenchmarkError(f"predictor {name} ({type(predictor).__name__}) declares {feature!r} its headline "
                             f"feature but writes {written}; its headline_feature() must name one of them")
    return feature


def _run_model(predictor: ModelPredictor, inputs: Mapping[str, str], store_root: Path) -> PredictRun:
    """Serve stored answers, verified; ask the service only for the tracks and inputs it must.

    When every input is stored under the tracks the last run chose, nothing is asked (no key,
    no network). Otherwise the service's catalogue decides the tracks; if they changed, the
    answers stored under the old ones are not used (they stay in their own folder)."""
    fields = predictor.store_key_fields()
    damaged: list[DamagedRecord] = []
    store: ProfileStore | None = None
    rows: dict[str, dict[str, float]] = {}
    last = last_catalogue(store_root, fields, damaged)
    if last is not None:
        store = ProfileStore(store_root, fields, last)
        rows = _stored_features(predictor, store, inputs)
    if store is None or len(rows) < len(inputs):
        # Before any call to the service: at least these inputs will be requested (more if its tracks changed).
        check_budget(predictor.label, predictor.request_budget(), len(inputs) - len(rows), len(inputs),
                     store.directory if store is not None else store_root)
        chosen = predictor.catalogue()
        if store is None or catalogue_id(chosen) != store.catalogue:
            if store is not None:
                log.warning("prediction store: the service's tracks differ from those of the stored answers "
                            "(catalogue %s -> %s); answers are requested under the new tracks, the old ones stay "
                            "in %s", store.catalogue, catalogue_id(chosen), store.directory)
                damaged += store.damaged
            store = ProfileStore(store_root, fields, chosen)
            rows = _stored_features(predictor, store, inputs)
    missing = {sha: sequence for sha, sequence in inputs.items() if sha not in rows}
    log.info("prediction store %s: %d of %d inputs stored", store.directory, len(inputs) - len(missing), len(inputs))
    check_budget(predictor.label, predictor.request_budget(), len(missing), len(inputs), store.directory)
    report = predictor.request_profiles(missing, store)
    for sha in sorted(missing):
        if store.has(sha):
            try:
                rows[sha] = predictor.features(store.get(sha))
            except DamagedRecord as error:
                report.failures.append(PredictionFailure(sha, str(error)))
    features = _frame({sha: rows[sha] for sha in sorted(rows)})
    served = len(inputs) - len(missing) + report.stored_by_others
    provenance = predictor.provenance(store) | {"label": predictor.label}
    return PredictRun(features, report, served, 0.0, provenance, store.directory, len(damaged) + len(store.damaged))


def _stored_features(predictor: ModelPredictor, store: ProfileStore, inputs: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """Features of every input whose stored record passes its check (damaged ones are moved aside)."""
    rows = {}
    for sha in sorted(inputs):
        if store.has(sha):
            try:
                rows[sha] = predictor.features(store.get(sha))
            except DamagedRecord:
                continue  # logged and counted by the store; the input is requested again
    return rows


def check_budget(name: str, budget: RequestBudget | None, new: int, total: int, store: Path) -> None:
    """Stop before the first request when this run would send more than the budget allows."""
    if budget is None:
        return
    if new <= budget.max_new_requests:
        log.info("%s: %d new requests (%s = %d)", name, new, budget.setting, budget.max_new_requests)
        return
    duration = ""
    if budget.seconds_per_request:
        duration = f", about {_duration(new * budget.seconds_per_request)} of requests at {budget.seconds_per_request:g} s each"
    raise TooManyRequests(
        f"{name}: this run would send {new:,} new requests ({total:,} distinct inputs, {total - new:,} already "
        f"in the prediction store {store}){duration}, more than {budget.setting} = {budget.max_new_requests:,}. "
        f"Nothing was sent. To go on, allow them: `dvc exp run -S {budget.setting}={new}`; or try a sample "
        "first: `dvc exp run -S dataset.subset.n_elements=150` (stored answers are reused by the full run)."
    )


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


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
