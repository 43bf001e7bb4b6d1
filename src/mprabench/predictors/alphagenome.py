"""AlphaGenome through its SDK's real `DnaClient`: one request per distinct input.

The SDK's own helpers are not enough for a long benchmark run: `predict_sequences`
cancels everything on the first error, `predict_sequence` retries only two status
codes with no deadline, and none of it reports what happened per input. So this
module adds a per-request deadline (a gRPC client interceptor), its own bounded
worker pool, and retries with exponential backoff and jitter, and it records each
input's success or failure on its own.
"""

from __future__ import annotations

import collections
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from alphagenome.models import dna_client
from dotenv import dotenv_values
from tqdm.auto import tqdm

from mprabench.config import AlphaGenomeConfig
from mprabench.errors import BenchmarkError, ConfigError
from mprabench.predictors.base import PredictionFailure, PredictionReport, Predictor, ResultSink
from mprabench.predictors.features import FeatureError, Placement, output_prefix, pad_for_model, track_features

log = logging.getLogger(__name__)

RETRYABLE = frozenset({grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
SUPPORTED_LENGTHS = tuple(sorted(dna_client.SUPPORTED_SEQUENCE_LENGTHS.values()))
DEFAULT_ADDRESS = "dns:///gdmscience.googleapis.com:443"  # the SDK's `create` default
FEATURE_CODE_VERSION = 1  # bump when features.py changes what a stored feature means
# `predict_sequence` carries the SDK's own retry decorator; call the undecorated method so
# that retries happen once, here, where they are counted and include DEADLINE_EXCEEDED.
_PREDICT_SEQUENCE = getattr(dna_client.DnaClient.predict_sequence, "__wrapped__", dna_client.DnaClient.predict_sequence)
_SLEEP: Callable[[float], None] = time.sleep
T = TypeVar("T")


class MissingApiKey(BenchmarkError):
    pass


def resolve_api_key(variable: str, dotenv: Path | None) -> str | None:
    """The key from the environment, else from a git-ignored .env file; never logged."""
    value = os.environ.get(variable)
    if not value and dotenv is not None and dotenv.is_file():
        value = dotenv_values(dotenv).get(variable)
    return value or None


def missing_key_message(config: AlphaGenomeConfig, dotenv: Path | None) -> str:
    return (
        f"{config.api_key_env} is not set. The AlphaGenome predictor needs an API key: get one at "
        f"{config.api_key_help}, then `export {config.api_key_env}=...` or put "
        f"`{config.api_key_env}=...` in {dotenv or '.env'} (git-ignored). To run without the API, "
        "choose an offline predictor: `dvc exp run -S predictor=gc` (or motif, kmer, or precomputed "
        "with -S predictor.path=<your predictions>)."
    )


class _CallDetails(
    collections.namedtuple("_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
    grpc.ClientCallDetails,
):
    pass


class DeadlineInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Gives every call without a deadline one of `timeout_s` seconds (the SDK sets none)."""

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        if details.timeout is not None:
            return details
        return _CallDetails(
            details.method, self.timeout_s, details.metadata, details.credentials,
            getattr(details, "wait_for_ready", None), getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, request_iterator):
        return continuation(self._details(details), request_iterator)

    def intercept_stream_stream(self, continuation, details, request_iterator):
        return continuation(self._details(details), request_iterator)


def open_client(config: AlphaGenomeConfig, api_key: str) -> dna_client.DnaClient:
    """A DnaClient on a channel like `dna_client.create`'s, plus the deadline interceptor."""
    address = config.address or DEFAULT_ADDRESS
    options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    if config.insecure:
        channel = grpc.insecure_channel(address, options=options)
    else:
        channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(), options=options)
    try:
        grpc.channel_ready_future(channel).result(timeout=config.connect_timeout_s)
    except grpc.FutureTimeoutError:
        channel.close()
        raise BenchmarkError(
            f"cannot reach AlphaGenome at {address} within {config.connect_timeout_s:.0f} s. Check the "
            "network (or predictor.address / predictor.insecure for a local server); offline "
            "predictors need no network: `dvc exp run -S predictor=gc`."
        ) from None
    intercepted = grpc.intercept_channel(channel, DeadlineInterceptor(config.timeout_s))
    return dna_client.DnaClient(
        channel=intercepted,
        model_version=dna_client.ModelVersion[config.model_version],
        metadata=[("x-goog-api-key", api_key)],
    )


class _CallFailed(Exception):
    """An RPC that failed permanently or ran out of retries."""

    def __init__(self, error: grpc.RpcError, retries: int):
        super().__init__(str(error))
        self.error = error
        self.retries = retries


@dataclass(frozen=True)
class _Outcome:
    features: dict[str, float] | None
    error: str | None
    retries: int


class AlphaGenomePredictor(Predictor):
    def __init__(self, config: AlphaGenomeConfig, dotenv: Path | None = None, progress: bool = True):
        self.config = config
        self.dotenv = dotenv
        self.progress = progress
        self.organism = _enum(dna_client.Organism, config.organism, "predictor.organism")
        self.outputs = [_enum(dna_client.OutputType, o, "predictor.outputs") for o in config.outputs]
        _enum(dna_client.ModelVersion, config.model_version, "predictor.model_version")
        if not self.outputs:
            raise ConfigError("predictor.outputs is empty: name at least one output (e.g. DNASE)")
        self._api_key: str | None = None
        self.tracks_used: dict[str, list[str]] = {}

    def fingerprint(self) -> dict[str, Any]:
        return {
            "predictor": "alphagenome",
            "address": self.config.address or DEFAULT_ADDRESS,
            "model_version": self.config.model_version,
            "organism": self.config.organism,
            "outputs": sorted(self.config.outputs),
            "ontology_terms": sorted(self.config.ontology_terms),
            "padding": "symmetric N to the smallest supported length",
            "supported_lengths": list(SUPPORTED_LENGTHS),
            "center_width": self.config.features.center_width,
            "center_start": self.config.features.center_start,
            "feature_code_version": FEATURE_CODE_VERSION,
        }

    def prepare(self) -> None:
        self._api_key = resolve_api_key(self.config.api_key_env, self.dotenv)
        if self._api_key is None:
            raise MissingApiKey(missing_key_message(self.config, self.dotenv))

    def predict(self, inputs: Mapping[str, str], sink: ResultSink) -> PredictionReport:
        if self._api_key is None:
            self.prepare()
        client = open_client(self.config, self._api_key)  # type: ignore[arg-type]
        self.tracks_used = check_tracks(self._metadata(client), self.config)
        report = PredictionReport(requested=len(inputs))
        with ThreadPoolExecutor(max_workers=self.config.max_workers) as pool:
            futures = {pool.submit(self._predict_one, client, seq): sha for sha, seq in inputs.items()}
            bar = tqdm(as_completed(futures), total=len(futures), desc="AlphaGenome", unit="input",
                       disable=not self.progress)
            for future in bar:
                sha, outcome = futures[future], future.result()
                report.retries += outcome.retries
                if outcome.features is not None:
                    sink.put(sha, outcome.features)
                else:
                    report.failures.append(PredictionFailure(sha, outcome.error or "unknown error"))
        return report

    def provenance(self) -> dict[str, Any]:
        return {"tracks_averaged_per_output": self.tracks_used} if self.tracks_used else {}

    def _metadata(self, client: dna_client.DnaClient) -> dna_client.OutputMetadata:
        try:
            return self._with_retries(lambda: client.output_metadata(self.organism))[0]
        except _CallFailed as failed:
            code = failed.error.code()
            hint = (
                f" Check {self.config.api_key_env}: the service did not accept the key."
                if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
                else ""
            )
            raise BenchmarkError(
                f"AlphaGenome track metadata request failed: {code.name}: {failed.error.details()}.{hint}"
            ) from None

    def _predict_one(self, client: dna_client.DnaClient, sequence: str) -> _Outcome:
        padded, placement = pad_for_model(sequence, SUPPORTED_LENGTHS)
        retries = 0
        try:
            output, retries = self._with_retries(lambda: _PREDICT_SEQUENCE(
                client, padded, organism=self.organism, requested_outputs=self.outputs,
                ontology_terms=self.config.ontology_terms,
            ))
            return _Outcome(self._features(output, placement), None, retries)
        except _CallFailed as failed:
            return _Outcome(None, f"{failed.error.code().name}: {failed.error.details()}", failed.retries)
        except ValueError as error:  # the SDK's input validation, or unusable tracks (FeatureError)
            return _Outcome(None, f"{type(error).__name__}: {error}", retries)

    def _with_retries(self, call: Callable[[], T]) -> tuple[T, int]:
        """`call()` and how many retries it took; RESOURCE_EXHAUSTED, UNAVAILABLE and
        DEADLINE_EXCEEDED are retried with backoff up to max_retries, anything else fails at once."""
        attempt = 0
        while True:
            try:
                return call(), attempt
            except grpc.RpcError as error:
                if error.code() not in RETRYABLE or attempt >= self.config.max_retries:
                    raise _CallFailed(error, attempt) from None
                _SLEEP(self._backoff(attempt))
                attempt += 1

    def _features(self, output: dna_client.Output, placement: Placement) -> dict[str, float]:
        features: dict[str, float] = {}
        for output_type in self.outputs:
            tracks = output.get(output_type)
            if tracks is None:
                raise FeatureError(f"{output_type.name}: missing from the response")
            prefix = output_prefix(output_type.name)
            features |= track_features(tracks.values, tracks.resolution, placement, self.config.features, prefix)
        return features

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter in [0.5, 1.5) of the nominal delay."""
        nominal = min(self.config.max_backoff_s, self.config.initial_backoff_s * self.config.backoff_multiplier**attempt)
        return nominal * random.uniform(0.5, 1.5)


def check_tracks(metadata: dna_client.OutputMetadata, config: AlphaGenomeConfig) -> dict[str, list[str]]:
    """Refuse outputs or ontology terms with no track for the organism; return the tracks used."""
    terms = set(config.ontology_terms)
    used: dict[str, list[str]] = {}
    covered: set[str] = set()
    for output in config.outputs:
        frame = metadata.get(dna_client.OutputType[output])
        curies = frame["ontology_curie"] if frame is not None and "ontology_curie" in frame else None
        chosen = frame[curies.isin(terms)] if curies is not None else None
        if chosen is None or chosen.empty:
            raise ConfigError(
                f"AlphaGenome has no {output} track for {config.organism} and ontology terms "
                f"{sorted(terms)}. Available terms for {output}: {_available(frame)}. "
                "Change predictor.ontology_terms or predictor.outputs."
            )
        used[output] = chosen["name"].astype(str).tolist()
        covered |= set(chosen["ontology_curie"])
    unused = sorted(terms - covered)
    if unused:
        raise ConfigError(
            f"ontology term(s) {unused} have no track among outputs {config.outputs} for {config.organism}; "
            "remove them from predictor.ontology_terms or add an output that has them."
        )
    return used


def _available(frame) -> str:
    if frame is None or "ontology_curie" not in frame:
        return "none"
    curies = sorted(set(frame["ontology_curie"].dropna()))
    return ", ".join(curies[:12]) + (" ..." if len(curies) > 12 else "")


def _enum(kind, name: str, key: str):
    try:
        return kind[name]
    except KeyError:
        raise ConfigError(f"{key} = {name!r} is not one of {[m.name for m in kind]}") from None
