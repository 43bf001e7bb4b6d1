"""AlphaGenome through its SDK's real `DnaClient`: at most one request per distinct input.

The SDK's own helpers are not enough for a long benchmark run: `predict_sequences`
cancels everything on the first error, `predict_sequence` retries only two status
codes with no deadline, and none of it reports what happened per input. So this
module adds a per-request deadline (a gRPC client interceptor), its own worker pool,
and per-input retries, and it stores each answer (the tracks over the input's own
positions) the moment it arrives.

Three kinds of failure are told apart:

- a dead service (UNAVAILABLE, DEADLINE_EXCEEDED): retried with backoff; a circuit breaker
  stops the whole run once `breaker_failures` requests in a row, with no success between,
  failed so for `breaker_seconds`, saying what is stored, what is left and how to resume;
- quota (RESOURCE_EXHAUSTED): not a dead service. The run slows down (fewer requests in
  flight, backoff of at least the retry delay the server sends) and keeps going;
- a rejected key (UNAUTHENTICATED, PERMISSION_DENIED): the whole run stops at the first one,
  saying which setting holds the key (every other request would be rejected too);
- anything else (INVALID_ARGUMENT, ...): that input fails at once, the others go on.

An answer whose tracks are not the ones chosen from the catalogue (e.g. the service ignored
the ontology filter) fails for that input, naming the difference; it is never stored.

Ctrl-C (SIGINT) closes the channel, which cancels the requests in flight: the run stops
within seconds, keeping every stored answer.
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import random
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from alphagenome.data import ontology
from dotenv import dotenv_values
from omegaconf import MISSING
from tqdm.auto import tqdm

from mprabench.config import curie_problems
from mprabench.errors import BenchmarkError, ConfigError
from mprabench.predictors.base import (
    ModelPredictor,
    PredictionFailure,
    PredictionInterrupted,
    PredictionReport,
    RequestBudget,
)
from mprabench.predictors.biosample import BiosampleDefaults, check_tracks, choose_tracks
from mprabench.predictors.features import (
    PADDING,
    FeatureError,
    FeatureWindowConfig,
    headline_track_feature,
    output_features,
    own_positions,
    pad_for_model,
)
from mprabench.predictors.store import Profile, ProfileStore
from mprabench.predictors.tracks import biosamples
from mprabench.provenance import SOURCE_API, SOURCE_LOCAL
from mprabench.settings import items, setting
from mprabench.sources.locations import is_loopback

if TYPE_CHECKING:
    from alphagenome.models import dna_client

# The SDK's client module (`dna_client`) is imported where a client is built or its enums are read: the
# local_inputs stage resolves the configured predictor on every `dvc exp run` for its settings alone, and the
# module (with anndata) costs it about 0.6 s.

log = logging.getLogger(__name__)

DEAD_SERVICE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
QUOTA = grpc.StatusCode.RESOURCE_EXHAUSTED
AUTHENTICATION = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})
RETRYABLE = DEAD_SERVICE | {QUOTA}
DEFAULT_ADDRESS = "dns:///gdmscience.googleapis.com:443"  # the SDK's `create` default
PUSHBACK_HEADER = "grpc-retry-pushback-ms"  # gRPC's retry pushback (A6), in milliseconds
STATUS_DETAILS_HEADER = "grpc-status-details-bin"  # google.rpc.Status, may carry a RetryInfo
_RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"
_POLL_S = 0.2


@functools.cache
def supported_lengths() -> tuple[int, ...]:
    """The sequence lengths the model accepts (the SDK's), shortest first."""
    from alphagenome.models import dna_client

    return tuple(sorted(dna_client.SUPPORTED_SEQUENCE_LENGTHS.values()))


@functools.cache
def _predict_sequence() -> Any:
    """`DnaClient.predict_sequence` without the SDK's own retry decorator, so that retries happen once,
    here, where they are counted and include DEADLINE_EXCEEDED."""
    from alphagenome.models import dna_client

    return getattr(dna_client.DnaClient.predict_sequence, "__wrapped__", dna_client.DnaClient.predict_sequence)


@dataclass
class AlphaGenomeConfig:
    name: str = MISSING
    address: str | None = MISSING
    insecure: bool = MISSING
    api_key_env: str = MISSING
    api_key_help: str = MISSING
    model_version: str = MISSING
    # null (both): from experiment.tracks, else from dataset.assay_biosample (predictors/biosample.py)
    organism: str | None = MISSING
    outputs: list[str] = items(1)
    ontology_terms: list[str] | None = items(1)
    max_workers: int = setting(ge=1)
    timeout_s: float = setting(gt=0)
    connect_timeout_s: float = setting(gt=0)
    max_retries: int = setting(ge=0)
    initial_backoff_s: float = setting(ge=0)
    backoff_multiplier: float = setting(ge=1)
    max_backoff_s: float = setting(ge=0)
    features: FeatureWindowConfig = MISSING
    # null: one store per repository (see predictors/store.py); a path points elsewhere
    store: str | None = MISSING
    # Circuit breaker: stop once this many requests in a row (no success between) failed as
    # unreachable/unavailable/timed out AND that streak has lasted breaker_seconds.
    breaker_failures: int = setting(ge=1)
    breaker_seconds: float = setting(ge=0)
    # RESOURCE_EXHAUSTED (quota) retries per input; they never count toward the breaker.
    max_quota_retries: int = setting(ge=0)
    # Cost guard: a run that would send more new requests (distinct inputs not in the store)
    # stops before the first one; seconds_per_request only turns the count into a duration.
    max_new_requests: int = setting(ge=0)
    seconds_per_request: float = setting(gt=0)


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


def open_client(config: AlphaGenomeConfig, api_key: str) -> tuple[dna_client.DnaClient, grpc.Channel]:
    """A DnaClient on a channel like `dna_client.create`'s, plus the deadline interceptor.

    The raw channel is returned too: closing it cancels every request in flight."""
    from alphagenome.models import dna_client

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
    client = dna_client.DnaClient(
        channel=intercepted,
        model_version=dna_client.ModelVersion[config.model_version],
        metadata=[("x-goog-api-key", api_key)],
    )
    return client, channel


class ServiceDown(BenchmarkError):
    """The circuit breaker opened: the service looks dead; what is stored stays stored."""


class KeyRejected(BenchmarkError):
    """The service refused the key for a prediction: every further request would be refused too."""


def source_of(address: str | None) -> str:
    """The local test server for a loopback address (never for results), else the AlphaGenome API."""
    return SOURCE_LOCAL if is_loopback(address) else SOURCE_API


def server_retry_delay(error: grpc.RpcError) -> float | None:
    """The delay the server asks for: gRPC retry pushback, or a google.rpc.RetryInfo detail."""
    trailing = getattr(error, "trailing_metadata", lambda: None)() or ()
    for key, value in trailing:
        if key == PUSHBACK_HEADER:
            try:
                return max(0.0, int(value) / 1000)
            except ValueError:
                continue
        if key == STATUS_DETAILS_HEADER and isinstance(value, bytes):
            delay = _retry_info_delay(value)
            if delay is not None:
                return delay
    return None


def _retry_info_delay(status: bytes) -> float | None:
    """RetryInfo.retry_delay from a serialized google.rpc.Status (its `details` are Any messages)."""
    try:
        for number, detail in _proto_fields(status):
            if number != 3 or not isinstance(detail, bytes):
                continue
            any_fields = dict(_proto_fields(detail))
            if any_fields.get(1) != _RETRY_INFO_TYPE.encode():
                continue
            duration = dict(_proto_fields(dict(_proto_fields(any_fields.get(2, b""))).get(1, b"")))
            return int(duration.get(1, 0)) + int(duration.get(2, 0)) / 1e9
    except (IndexError, ValueError):
        return None  # malformed details: fall back to our own backoff
    return None


def _proto_fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: varints as int, length-delimited as bytes."""
    position = 0
    while position < len(data):
        tag, position = _varint(data, position)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            value, position = _varint(data, position)
            yield number, value
        elif wire_type == 2:
            length, position = _varint(data, position)
            yield number, data[position : position + length]
            position += length
        elif wire_type in (1, 5):
            position += 8 if wire_type == 1 else 4
        else:
            raise ValueError(f"unsupported wire type {wire_type}")


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


class CircuitBreaker:
    """Opens when `failures` requests in a row failed as a dead service for `seconds` or more."""

    def __init__(self, failures: int, seconds: float):
        self.failures, self.seconds = failures, seconds
        self._lock = threading.Lock()
        self._streak = 0
        self._streak_started: float | None = None
        self.last_error = ""

    def success(self) -> None:
        with self._lock:
            self._streak, self._streak_started = 0, None

    def failure(self, error: str) -> None:
        with self._lock:
            self._streak += 1
            self.last_error = error
            if self._streak_started is None:
                self._streak_started = time.monotonic()

    def is_open(self) -> bool:
        with self._lock:
            return (self._streak >= self.failures and self._streak_started is not None
                    and time.monotonic() - self._streak_started >= self.seconds)

    def describe(self) -> str:
        with self._lock:
            lasted = time.monotonic() - (self._streak_started or time.monotonic())
            return f"{self._streak} requests in a row failed over {lasted:.0f} s (last: {self.last_error})"


class AdaptiveLimit:
    """How many requests may be in flight: halved on each quota answer, +1 after as many
    successes in a row as the current limit, never above `ceiling`."""

    def __init__(self, ceiling: int):
        self.ceiling = ceiling
        self.limit = ceiling
        self._in_flight = 0
        self._successes = 0
        self._changed = threading.Condition()

    def acquire(self, stopping: threading.Event) -> bool:
        with self._changed:
            while self._in_flight >= self.limit:
                if stopping.is_set():
                    return False
                self._changed.wait(_POLL_S)
            self._in_flight += 1
            return True

    def release(self, outcome: str) -> None:
        with self._changed:
            self._in_flight -= 1
            if outcome == "quota":
                self.limit, self._successes = max(1, self.limit // 2), 0
            elif outcome == "ok":
                self._successes += 1
                if self._successes >= self.limit and self.limit < self.ceiling:
                    self.limit, self._successes = self.limit + 1, 0
            self._changed.notify_all()


@dataclass
class _Outcome:
    sha: str
    status: str  # stored | stored_by_other | deferred | failed | stopped
    error: str | None = None
    retries: int = 0
    requested: bool = False


@dataclass
class _RunState:
    """What every worker shares during one run."""

    client: dna_client.DnaClient
    store: ProfileStore
    channel: grpc.Channel  # closing it cancels every request in flight
    breaker: CircuitBreaker
    limit: AdaptiveLimit
    stopping: threading.Event = field(default_factory=threading.Event)
    rejected_key: str | None = None  # the first UNAUTHENTICATED / PERMISSION_DENIED answer


class AlphaGenomePredictor(ModelPredictor):
    name = "alphagenome"
    settings = AlphaGenomeConfig
    label = "AlphaGenome"  # the report and figures add the model version
    build_context = ("dotenv", "progress", "biosample")

    @classmethod
    def setting_problems(cls, settings: AlphaGenomeConfig, params: Any) -> list[str]:
        terms = [(f"predictor.ontology_terms[{i}]", t) for i, t in enumerate(settings.ontology_terms or [])]
        return [*settings.features.problems(params.experiment.window), *curie_problems(terms)]

    def __init__(self, config: AlphaGenomeConfig, dotenv: Path | None = None, progress: bool = True,
                 biosample: BiosampleDefaults | None = None):
        from alphagenome.models import dna_client

        self.config = config
        self.dotenv = dotenv
        self.progress = progress
        # organism and terms: predictor settings, else the experiment's pin, else the dataset's biosample
        self.choice = choose_tracks(config.organism, config.ontology_terms, biosample)
        self.organism = _enum(dna_client.Organism, self.choice.organism, "predictor.organism")
        self.outputs = [_enum(dna_client.OutputType, o, "predictor.outputs") for o in config.outputs]
        _enum(dna_client.ModelVersion, config.model_version, "predictor.model_version")
        for term in self.choice.ontology_terms or ():
            _ontology_term(term, self.choice.origin)
        self._api_key: str | None = None
        self._service_metadata: dict[str, Any] | None = None
        self._terms: tuple[str, ...] | None = self.choice.ontology_terms
        self._tracks_used: dict[str, list[dict[str, Any]]] | None = None
        self._connection: tuple[dna_client.DnaClient, grpc.Channel] | None = None

    def ontology_terms(self) -> tuple[str, ...]:
        """The terms to request; a biosample chosen by name is looked up in the service's metadata."""
        if self._terms is None:
            self._check_against_service()
        assert self._terms is not None
        return self._terms

    def store_key_fields(self) -> dict[str, Any]:
        return {
            "model": "alphagenome",
            "source": source_of(self.config.address),
            "model_version": self.config.model_version,
            "organism": self.choice.organism,
            "outputs": sorted(self.config.outputs),
            "ontology_terms": sorted(self.ontology_terms()),
            "padding": PADDING,
            "supported_lengths": list(supported_lengths()),
        }

    def request_budget(self) -> RequestBudget:
        return RequestBudget(self.config.max_new_requests, "predictor.max_new_requests",
                             self.config.seconds_per_request)

    def prepare(self) -> None:
        self._api_key = resolve_api_key(self.config.api_key_env, self.dotenv)
        if self._api_key is None:
            raise MissingApiKey(missing_key_message(self.config, self.dotenv))

    def headline_feature(self) -> str:
        return headline_track_feature(self.config.outputs)

    def features(self, profile: Profile) -> dict[str, float]:
        return output_features(profile, self.config.outputs, self.config.features)

    def provenance(self, store: ProfileStore) -> dict[str, Any]:
        tracks = store.tracks()
        return {
            "predictor": self.name,
            "store_key": store.full_key,
            "source": source_of(self.config.address),
            "model_version": self.config.model_version,
            "organism": self.choice.organism,
            "tracks_chosen_by": self.choice.origin,
            "biosamples": biosamples(tracks, self.choice.organism),
            "tracks": {output: len(rows) for output, rows in tracks.items()},
        }

    def catalogue(self) -> dict[str, list[dict[str, Any]]]:
        return self._check_against_service()

    def request_profiles(self, inputs: Mapping[str, str], store: ProfileStore) -> PredictionReport:
        if not inputs:
            return PredictionReport()
        client, channel = self._connect()
        state = _RunState(client, store, channel,
                          CircuitBreaker(self.config.breaker_failures, self.config.breaker_seconds),
                          AdaptiveLimit(self.config.max_workers))
        return self._request_all(inputs, state)

    def close(self) -> None:
        if self._connection is not None:
            self._connection[1].close()
            self._connection = None

    def _connect(self) -> tuple[dna_client.DnaClient, grpc.Channel]:
        """The run's one connection, opened on first use: the catalogue check and the requests share it.

        gRPC's advice is one channel per client: a channel closed within 0.2 s of its readiness check
        waits out gRPC's connectivity poll, which two channels per run paid twice."""
        if self._connection is None:
            if self._api_key is None:
                self.prepare()
            self._connection = open_client(self.config, self._api_key)  # type: ignore[arg-type]
        return self._connection

    def _request_all(self, inputs: Mapping[str, str], state: _RunState) -> PredictionReport:
        report = PredictionReport()
        pool = ThreadPoolExecutor(max_workers=self.config.max_workers, thread_name_prefix="alphagenome")
        bar = tqdm(total=len(inputs), desc="AlphaGenome", unit="input", disable=not self.progress)
        previous_handler = _install_second_interrupt_exit()
        try:
            deferred = self._run_pass(pool, inputs, state, report, bar, wait_for_claims=False)
            # Inputs another run was requesting: wait for its answer (or take over if it died).
            self._run_pass(pool, {sha: inputs[sha] for sha in deferred}, state, report, bar, wait_for_claims=True)
        except KeyboardInterrupt:
            state.stopping.set()
            state.channel.close()  # cancels the requests in flight
            pool.shutdown(wait=True, cancel_futures=True)
            raise PredictionInterrupted(self._stopped_message("interrupted (Ctrl-C)", inputs, state.store)) from None
        finally:
            state.stopping.set()
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
            _restore_interrupt_handler(previous_handler)
        if state.rejected_key is not None:
            raise KeyRejected(self._stopped_message(
                f"AlphaGenome rejected the API key: {state.rejected_key}. Check {self.config.api_key_env} (the "
                f"environment or .env): the service did not accept the key for predictions, so the run stopped "
                "at the first rejection", inputs, state.store))
        if state.breaker.is_open():
            raise ServiceDown(self._stopped_message(
                f"AlphaGenome looks unreachable: {state.breaker.describe()}; circuit breaker "
                f"(predictor.breaker_failures={self.config.breaker_failures}, "
                f"predictor.breaker_seconds={self.config.breaker_seconds:g}) stopped the run",
                inputs, state.store))
        return report

    def _run_pass(self, pool: ThreadPoolExecutor, inputs: Mapping[str, str], state: _RunState,
                  report: PredictionReport, bar: Any, wait_for_claims: bool) -> list[str]:
        """Request `inputs` on the pool; returns the inputs another run held a claim on."""
        deferred: list[str] = []
        queued = iter(inputs.items())
        pending: set[Future] = set()

        def submit_more() -> None:
            # A short window of submitted inputs, not all of them: `wait` costs O(pending).
            while len(pending) < 2 * self.config.max_workers and not state.stopping.is_set():
                item = next(queued, None)
                if item is None:
                    return
                pending.add(pool.submit(self._request_one, item[0], item[1], state, wait_for_claims))

        submit_more()
        while pending:
            done, pending = wait(pending, timeout=_POLL_S, return_when=FIRST_COMPLETED)
            submit_more()
            for future in done:
                outcome: _Outcome = future.result()
                report.retries += outcome.retries
                report.requested += outcome.requested
                if outcome.status == "deferred":
                    deferred.append(outcome.sha)
                    continue
                if outcome.status == "stored_by_other":
                    report.stored_by_others += 1
                elif outcome.status == "failed":
                    report.failures.append(PredictionFailure(outcome.sha, outcome.error or "unknown error"))
                if outcome.status != "stopped":
                    bar.update(1)
            if state.breaker.is_open() and not state.stopping.is_set():
                state.stopping.set()
                state.channel.close()  # a request hanging until its deadline need not be awaited
        return deferred

    def _request_one(self, sha: str, sequence: str, state: _RunState, wait_for_claim: bool) -> _Outcome:
        if state.stopping.is_set():
            return _Outcome(sha, "stopped")
        with state.store.claim(sha, wait=wait_for_claim, stop=state.stopping.is_set) as held:
            if not held:
                return _Outcome(sha, "stopped" if state.stopping.is_set() else "deferred")
            if state.store.has(sha):
                return _Outcome(sha, "stored_by_other")
            return self._request_with_retries(sha, sequence, state)

    def _request_with_retries(self, sha: str, sequence: str, state: _RunState) -> _Outcome:
        padded, placement = pad_for_model(sequence, supported_lengths())
        dead_attempts = quota_attempts = 0
        while True:
            if not state.limit.acquire(state.stopping):
                return _Outcome(sha, "stopped", retries=dead_attempts + quota_attempts, requested=True)
            outcome, failure = "error", None
            try:
                output = _predict_sequence()(state.client, padded, organism=self.organism,
                                             requested_outputs=self.outputs, ontology_terms=list(self.ontology_terms()))
                outcome = "ok"
            except grpc.RpcError as error:
                failure = error
                outcome = "quota" if error.code() == QUOTA else "error"
            except ValueError as error:  # the SDK's own input validation
                return _Outcome(sha, "failed", f"{type(error).__name__}: {error}", dead_attempts + quota_attempts, True)
            finally:
                state.limit.release(outcome)
            retries = dead_attempts + quota_attempts
            if outcome == "ok":
                state.breaker.success()
                try:
                    state.store.put(sha, self._profile(output, placement, state.store.tracks()))
                except FeatureError as error:
                    return _Outcome(sha, "failed", f"FeatureError: {error}", retries, True)
                return _Outcome(sha, "stored", retries=retries, requested=True)
            assert failure is not None
            code = failure.code()
            message = f"{code.name}: {failure.details()}"
            if state.stopping.is_set():
                return _Outcome(sha, "stopped", retries=retries, requested=True)
            if code in AUTHENTICATION:
                state.rejected_key = state.rejected_key or message
                state.stopping.set()  # every other request would be refused the same way
                return _Outcome(sha, "failed", message, retries, True)
            if code == QUOTA:
                quota_attempts += 1
                if quota_attempts > self.config.max_quota_retries:
                    return _Outcome(sha, "failed", message, retries, True)
                delay = max(server_retry_delay(failure) or 0.0, self._backoff(quota_attempts - 1))
            elif code in DEAD_SERVICE:
                state.breaker.failure(message)
                dead_attempts += 1
                if dead_attempts > self.config.max_retries:
                    return _Outcome(sha, "failed", message, retries, True)
                delay = self._backoff(dead_attempts - 1)
            else:
                return _Outcome(sha, "failed", message, retries, True)
            if state.stopping.wait(delay):  # interrupted by Ctrl-C or the breaker
                return _Outcome(sha, "stopped", retries=dead_attempts + quota_attempts, requested=True)

    def _profile(self, output: dna_client.Output, placement, chosen: Mapping[str, list[dict[str, Any]]]) -> Profile:
        profile: Profile = {}
        for output_type in self.outputs:
            tracks = output.get(output_type)
            if tracks is None:
                raise FeatureError(f"{output_type.name}: missing from the response")
            difference = track_difference(tracks.metadata, chosen.get(output_type.name, []))
            if difference:
                raise FeatureError(f"{output_type.name}: the response's tracks are not the chosen ones ({difference}); "
                                   "the answer was not stored")
            profile[output_type.name] = own_positions(tracks.values, tracks.resolution, placement, output_type.name)
        return profile

    def _check_against_service(self) -> dict[str, list[dict[str, Any]]]:
        """The service's track metadata for the chosen biosample (fetched once per run): the terms to
        request and the tracks used. Stops before any prediction request when it has no tracks."""
        from alphagenome.models import dna_client

        if self._tracks_used is None:
            metadata = self._metadata(self._connect()[0])
            frames = {output: metadata.get(dna_client.OutputType[output]) for output in self.config.outputs}
            self._terms, self._tracks_used = check_tracks(frames, self.config.outputs, self.choice)
            log.info("AlphaGenome tracks: %s %s (%s)", self.choice.organism, ", ".join(self._terms), self.choice.origin)
        return self._tracks_used

    def _metadata(self, client: dna_client.DnaClient) -> dna_client.OutputMetadata:
        attempt = 0
        while True:
            try:
                return client.output_metadata(self.organism)
            except grpc.RpcError as error:
                code = error.code()
                if code in RETRYABLE and attempt < self.config.max_retries:
                    time.sleep(max(server_retry_delay(error) or 0.0, self._backoff(attempt)))
                    attempt += 1
                    continue
                hint = (
                    f" Check {self.config.api_key_env}: the service did not accept the key."
                    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
                    else ""
                )
                raise BenchmarkError(
                    f"AlphaGenome track metadata request failed: {code.name}: {error.details()}.{hint}"
                ) from None

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter in [0.5, 1.5) of the nominal delay."""
        nominal = min(self.config.max_backoff_s, self.config.initial_backoff_s * self.config.backoff_multiplier**attempt)
        return nominal * random.uniform(0.5, 1.5)

    def _stopped_message(self, reason: str, inputs: Mapping[str, str], store: ProfileStore) -> str:
        stored = len(store.stored(list(inputs)))
        return (
            f"{reason}.\n  Stored: {stored} of the {len(inputs)} inputs this run had to request "
            f"(kept in {store.directory}).\n  Left: {len(inputs) - stored}.\n  To resume, run the same "
            "command again (`dvc exp run ...` or `dvc repro`): stored inputs are never requested again."
        )


def _install_second_interrupt_exit() -> Any:
    """While requests run, a second Ctrl-C (during the first one's cleanup) exits at once,
    quietly: every stored answer is already complete on disk."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, lambda *_: os._exit(130))
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_interrupt)
    return previous


def _restore_interrupt_handler(previous: Any) -> None:
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, previous)


def _ontology_term(term: str, origin: str) -> None:
    """A term AlphaGenome can be asked for (its SDK parses the CURIE's prefix)."""
    try:
        ontology.from_curie(term)
    except ValueError:
        raise ConfigError(f"ontology term {term!r} ({origin}) is not a CURIE AlphaGenome accepts: the prefix must "
                          f"be one of {[t.name for t in ontology.OntologyType]}, e.g. EFO:0001187") from None


def _track_identity(row: Mapping[str, Any]) -> str:
    name, strand = row.get("name"), row.get("strand")
    return f"{name} ({strand})" if strand not in (None, ".") else str(name)


def track_difference(metadata: Any, chosen: list[dict[str, Any]]) -> str:
    """'' when a response's tracks (its metadata frame) are the chosen ones in order, else what differs."""
    received = [] if metadata is None else [_track_identity(row) for row in metadata.to_dict(orient="records")]
    expected = [_track_identity(row) for row in chosen]
    if received == expected:
        return ""
    extra = [t for t in received if t not in expected]
    lacking = [t for t in expected if t not in received]
    parts = [f"{len(received)} tracks received, {len(expected)} chosen"]
    if extra:
        parts.append(f"not chosen: {', '.join(extra[:5])}" + (" ..." if len(extra) > 5 else ""))
    if lacking:
        parts.append(f"missing: {', '.join(lacking[:5])}" + (" ..." if len(lacking) > 5 else ""))
    if not extra and not lacking:
        parts.append("same tracks in another order")
    return "; ".join(parts)


def _enum(kind, name: str, key: str):
    try:
        return kind[name]
    except KeyError:
        raise ConfigError(f"{key} = {name!r} is not one of {[m.name for m in kind]}") from None
