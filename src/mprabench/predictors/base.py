"""The predictor interface: distinct inputs in, one row of named features per input out.

A predictor states a *fingerprint* — everything that changes its answer (model, version,
organism, outputs, ontology terms, padding, feature definitions, training data) — so
that the prediction store can key results by (input SHA-256, fingerprint) and never
request a stored answer again. It delivers results to a sink as they arrive, and
reports the inputs that failed instead of inventing values for them.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class ResultSink(Protocol):
    """Where results go as soon as they exist (the prediction store)."""

    def put(self, input_sha256: str, features: Mapping[str, float]) -> None: ...

    def put_many(self, features: Mapping[str, Mapping[str, float]]) -> None: ...


@dataclass(frozen=True)
class PredictionFailure:
    input_sha256: str
    error: str


@dataclass
class PredictionReport:
    """What a predictor did with the inputs it was given."""

    requested: int = 0
    retries: int = 0
    failures: list[PredictionFailure] = field(default_factory=list)


class Predictor(abc.ABC):
    """Turns distinct model inputs (SHA-256 -> sequence) into features per input."""

    @abc.abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """JSON-ready description of everything that changes the answer (never a secret)."""

    @abc.abstractmethod
    def predict(self, inputs: Mapping[str, str], sink: ResultSink) -> PredictionReport:
        """Predict every input, handing each success to `sink`; failures are reported, not raised."""

    def prepare(self) -> None:
        """Checks that must pass before any request (credentials, reachability); default none."""

    def provenance(self) -> dict[str, Any]:
        """What a run learned that explains its predictions (e.g. the tracks averaged); default none."""
        return {}

    def training_statistics(self, inputs: Mapping[str, str]) -> dict[str, Any]:
        """Per feature, fit statistics of a predictor trained on activity (out-of-fold R², refit-null
        element p); default none: untrained predictors have nothing to report."""
        return {}
