"""Scriptable faults for the local AlphaGenome server: failures, hangs, latency, outage, quota.

An arriving call first takes a hang (``hang_next``; or just before response message ``k``),
then at most one failure: outage (every call, a dead backend) -> quota (RESOURCE_EXHAUSTED
beyond ``max_calls`` per window, carrying the retry delay) -> scripted (``fail_next``) ->
random (``set_failure_rate``); then the fixed latency. Sleeps end once the client has gone.
Every knob is thread-safe and can change while the server is serving.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence

import grpc

_SLEEP_STEP_S = 0.01
_RESOURCE_EXHAUSTED_CODE = 8  # google.rpc.Code of RESOURCE_EXHAUSTED

TrailingMetadata = tuple[tuple[str, str | bytes], ...]


@dataclasses.dataclass(frozen=True)
class CallPlan:
    """Fault decisions taken atomically when a call arrives."""

    hang_s: float
    hang_after_messages: int
    fail_code: grpc.StatusCode | None
    fail_message: str
    latency_s: float
    reject: Callable[[str], bool] | None
    trailing: TrailingMetadata = ()


@dataclasses.dataclass(frozen=True)
class _Quota:
    max_calls: int
    per_seconds: float
    retry_delay_s: float
    retry_info: bool
    pushback: bool


class FaultInjector:
    """The fault knobs of a server and the plan each arriving call takes from them."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        failure_rate: float = 0.0,
        failure_codes: Sequence[grpc.StatusCode] = (grpc.StatusCode.UNAVAILABLE,),
        seed: int = 0,
    ) -> None:
        self._faults_lock = threading.Lock()
        self._latency_s = 0.0
        self._fail_remaining = 0
        self._fail_code = grpc.StatusCode.UNAVAILABLE
        self._fail_message = ""
        self._metadata_fail_remaining = 0
        self._metadata_fail_code = grpc.StatusCode.UNAVAILABLE
        self._hang_remaining = 0
        self._hang_s = 0.0
        self._hang_after_messages = 0
        self._failure_rate = 0.0
        self._failure_codes: tuple[grpc.StatusCode, ...] = (grpc.StatusCode.UNAVAILABLE,)
        self._rng = random.Random(seed)
        self._reject: Callable[[str], bool] | None = None
        self._outage_code: grpc.StatusCode | None = None
        self._quota: _Quota | None = None
        self._accepted_times: list[float] = []
        self._not_before: dict[str, float] = {}  # per refused sequence: when the retry may come
        self._quota_rejections = 0
        self._early_retries = 0
        self.set_latency(latency_s)
        self.set_failure_rate(failure_rate, failure_codes, seed=seed)

    def set_latency(self, seconds: float) -> None:
        """Fixed delay added to every PredictSequence call before it is answered."""
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        with self._faults_lock:
            self._latency_s = float(seconds)

    def fail_next(
        self, n: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE, message: str = ""
    ) -> None:
        """Fail the next `n` PredictSequence calls with `code` (replaces any pending budget)."""
        if n < 0 or code == grpc.StatusCode.OK:
            raise ValueError("n must be >= 0 and code must be an error code")
        with self._faults_lock:
            self._fail_remaining, self._fail_code = n, code
            self._fail_message = message or f"injected failure: {code.name}"

    def set_failure_rate(
        self,
        probability: float,
        codes: Sequence[grpc.StatusCode] = (grpc.StatusCode.UNAVAILABLE,),
        *,
        seed: int | None = None,
    ) -> None:
        """Fail each call with `probability`, code drawn from `codes` (seeded RNG)."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be in [0, 1]")
        if not codes or grpc.StatusCode.OK in codes:
            raise ValueError("codes must be a non-empty list of error codes")
        with self._faults_lock:
            self._failure_rate, self._failure_codes = float(probability), tuple(codes)
            if seed is not None:
                self._rng = random.Random(seed)

    def hang_next(self, n: int, seconds: float, *, after_messages: int = 0) -> None:
        """Stall the next `n` calls for `seconds`, before response message `after_messages`."""
        if n < 0 or seconds < 0 or after_messages < 0:
            raise ValueError("n, seconds and after_messages must be >= 0")
        with self._faults_lock:
            self._hang_remaining, self._hang_s = n, float(seconds)
            self._hang_after_messages = after_messages

    def reject_sequences(self, predicate: Callable[[str], bool] | None) -> None:
        """INVALID_ARGUMENT for any call whose (upper-case) sequence satisfies `predicate`."""
        with self._faults_lock:
            self._reject = predicate

    def reject_sequences_containing(self, substrings: Iterable[str]) -> None:
        """Reject sequences containing any of `substrings` (case-insensitive)."""
        needles = tuple(s.upper() for s in substrings)
        self.reject_sequences(lambda sequence: any(needle in sequence for needle in needles))

    def set_outage(self, code: grpc.StatusCode | None = grpc.StatusCode.UNAVAILABLE) -> None:
        """Fail every PredictSequence call with `code` until set_outage(None): a dead backend
        behind a listening front end (stopping the server gives the unreachable case)."""
        if code == grpc.StatusCode.OK:
            raise ValueError("code must be an error code")
        with self._faults_lock:
            self._outage_code = code

    def set_quota(
        self,
        max_calls: int | None,
        per_seconds: float = 1.0,
        *,
        retry_delay_s: float = 0.5,
        retry_info: bool = True,
        pushback: bool = False,
    ) -> None:
        """Accept at most `max_calls` PredictSequence calls per sliding `per_seconds` window;
        beyond it answer RESOURCE_EXHAUSTED with the delay after which to retry, as the real
        service does when a key exceeds its prediction tokens per minute. None lifts the quota."""
        if max_calls is not None and (max_calls < 1 or per_seconds <= 0 or retry_delay_s < 0):
            raise ValueError("max_calls must be >= 1, per_seconds > 0 and retry_delay_s >= 0")
        with self._faults_lock:
            self._quota = (
                None if max_calls is None
                else _Quota(max_calls, per_seconds, retry_delay_s, retry_info, pushback)
            )
            self._accepted_times = []
            self._not_before = {}

    def fail_metadata_next(self, n: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        """Fail the next `n` GetMetadata calls with `code`."""
        with self._faults_lock:
            self._metadata_fail_remaining, self._metadata_fail_code = n, code

    def clear_faults(self) -> None:
        """Remove every fault and the latency (the API-key check is left as is)."""
        with self._faults_lock:
            self._latency_s = 0.0
            self._fail_remaining = 0
            self._metadata_fail_remaining = 0
            self._hang_remaining = 0
            self._failure_rate = 0.0
            self._reject = None
            self._outage_code = None
            self._quota = None
            self._not_before = {}

    def quota_counts(self) -> tuple[int, int]:
        """Since start or the last reset: calls refused by the quota, and calls that came back for
        a refused sequence before the retry delay the refusal asked for."""
        with self._faults_lock:
            return self._quota_rejections, self._early_retries

    def reset_quota_counts(self) -> None:
        with self._faults_lock:
            self._quota_rejections = self._early_retries = 0

    def take_metadata_failure(self) -> grpc.StatusCode | None:
        """The code the arriving GetMetadata call must fail with, or None."""
        with self._faults_lock:
            if self._metadata_fail_remaining <= 0:
                return None
            self._metadata_fail_remaining -= 1
            return self._metadata_fail_code

    def take_call_plan(self, key: str) -> CallPlan:
        """Consume fault budgets for one arriving call (sequence `key`), atomically."""
        with self._faults_lock:
            self._note_early_retry_locked(key)
            hang_s, hang_after = 0.0, 0
            if self._hang_remaining > 0:
                self._hang_remaining -= 1
                hang_s, hang_after = self._hang_s, self._hang_after_messages
            fail_code, fail_message, trailing = None, "", ()
            quota = self._quota_answer_locked(key)
            if self._outage_code is not None:
                fail_code = self._outage_code
                fail_message = f"injected outage: {fail_code.name}"
            elif quota is not None:
                fail_code, (fail_message, trailing) = grpc.StatusCode.RESOURCE_EXHAUSTED, quota
            elif self._fail_remaining > 0:
                self._fail_remaining -= 1
                fail_code, fail_message = self._fail_code, self._fail_message
            elif self._failure_rate > 0 and self._rng.random() < self._failure_rate:
                fail_code = self._rng.choice(self._failure_codes)
                fail_message = f"injected random failure: {fail_code.name}"
            return CallPlan(
                hang_s, hang_after, fail_code, fail_message, self._latency_s, self._reject, trailing
            )

    def _note_early_retry_locked(self, key: str) -> None:
        not_before = self._not_before.pop(key, None)
        if not_before is not None and time.monotonic() < not_before:
            self._early_retries += 1

    def _quota_answer_locked(self, key: str) -> tuple[str, TrailingMetadata] | None:
        """None if the call fits the quota (and is then counted in the window), else the
        RESOURCE_EXHAUSTED message and trailing metadata carrying the retry delay."""
        if self._quota is None or self._outage_code is not None:
            return None
        quota = self._quota
        now = time.monotonic()
        self._accepted_times = [t for t in self._accepted_times if now - t < quota.per_seconds]
        if len(self._accepted_times) < quota.max_calls:
            self._accepted_times.append(now)
            return None
        self._quota_rejections += 1
        self._not_before[key] = now + quota.retry_delay_s
        message = (
            f"Quota exceeded: at most {quota.max_calls} predictions per {quota.per_seconds:g} s;"
            f" retry in {quota.retry_delay_s:g} s"
        )
        trailing: list[tuple[str, str | bytes]] = []
        if quota.retry_info:
            status = retry_info_status(_RESOURCE_EXHAUSTED_CODE, message, quota.retry_delay_s)
            trailing.append(("grpc-status-details-bin", status))
        if quota.pushback:
            trailing.append(("grpc-retry-pushback-ms", str(round(quota.retry_delay_s * 1000))))
        return message, tuple(trailing)


def sleep_while_active(context: grpc.ServicerContext, seconds: float) -> bool:
    """Sleep up to `seconds` in small steps; False as soon as the client has gone."""
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        if not context.is_active():
            return False
        time.sleep(min(_SLEEP_STEP_S, remaining))
    return context.is_active()


def retry_info_status(code: int, message: str, delay_s: float) -> bytes:
    """A serialized google.rpc.Status whose one detail is a google.rpc.RetryInfo(retry_delay)."""
    seconds = int(delay_s)
    nanos = round((delay_s - seconds) * 1e9)
    duration = _pb_varint_field(1, seconds) + _pb_varint_field(2, nanos)
    retry_info = _pb_bytes_field(1, duration)
    detail = _pb_bytes_field(1, b"type.googleapis.com/google.rpc.RetryInfo") + _pb_bytes_field(2, retry_info)
    return _pb_varint_field(1, code) + _pb_bytes_field(2, message.encode()) + _pb_bytes_field(3, detail)


def _pb_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _pb_varint_field(number: int, value: int) -> bytes:
    return _pb_varint(number << 3) + _pb_varint(value)


def _pb_bytes_field(number: int, payload: bytes) -> bytes:
    return _pb_varint(number << 3 | 2) + _pb_varint(len(payload)) + payload
