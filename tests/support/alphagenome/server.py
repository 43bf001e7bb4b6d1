"""A local gRPC AlphaGenome ``DnaModelService`` for tests and benchmarks, and its CLI.

Tests point the real ``alphagenome`` ``DnaClient`` at it over a real channel on 127.0.0.1,
so request building, streaming, chunk reassembly, retries and deadlines are all exercised
without reaching Google. It serves ``PredictSequence`` and ``GetMetadata`` (any other RPC is
``UNIMPLEMENTED``), validates requests like the real service (``INVALID_ARGUMENT``), and
answers with the synthetic tracks of ``tracks.py``: for trying the pipeline, never for results.
An expected API key, when set, is checked before anything else (``UNAUTHENTICATED``).
Faults are scripted through ``faults.FaultInjector``; ``counters()`` says what it has seen.
A call is *completed* once the handler resumes after its last message while the RPC is
still active, so a call whose client cancelled or hit its deadline mid-stream never is.

CLI: ``python -m tests.support.alphagenome.server --help`` (from the repository root);
it prints ``listening on HOST:PORT``, and SIGUSR1 toggles an UNAVAILABLE outage.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType

import grpc
import ml_dtypes
import numpy as np
from alphagenome import tensor_utils
from alphagenome.data import ontology
from alphagenome.models.v1 import dna_client, track_data_utils
from alphagenome.protos import tensor_pb2
from alphagenome.protos.v1 import dna_model_pb2, dna_model_service_pb2, dna_model_service_pb2_grpc

from mprabench.dna import sequence_sha256
from tests.support.alphagenome.faults import FaultInjector, sleep_while_active
from tests.support.alphagenome.tracks import (
    DEFAULT_MOTIF_WEIGHT,
    DEFAULT_SCORED_MOTIFS,
    NON_TRACK_OUTPUTS,
    OrganismTracks,
    TrackCatalogue,
    apply_scales,
    base_signal,
    default_catalogue,
    normalise_catalogue,
    output_type_name,
)

logger = logging.getLogger(__name__)

DEFAULT_BYTES_PER_CHUNK = 256 * 1024
API_KEY_HEADER = "x-goog-api-key"

_VALID_BASES = frozenset("ACGTN")
_SUPPORTED_LENGTHS = frozenset(dna_client.SUPPORTED_SEQUENCE_LENGTHS.values())
_WIRE_DTYPES: Mapping[str, np.dtype] = MappingProxyType(
    {
        "float32": np.dtype(np.float32),
        "float16": np.dtype(np.float16),
        "bfloat16": np.dtype(ml_dtypes.bfloat16),
    }
)


# ------------------------------------------------------------------------- counters


@dataclasses.dataclass(frozen=True)
class ServerCounters:
    """Snapshot of what the server has seen since start or the last reset."""

    predict_calls: int
    predict_calls_by_sequence: Mapping[str, int]  # SHA-256 of upper-case ASCII sequence
    completed_calls: int
    completed_calls_by_sequence: Mapping[str, int]
    metadata_calls: int
    api_keys_seen: frozenset[str | None]  # None = call without the header
    connections: int  # distinct client connections (peer addresses) the calls came over
    active_calls: int  # PredictSequence handlers currently running
    quota_rejections: int  # calls answered RESOURCE_EXHAUSTED by the quota (set_quota)
    early_quota_retries: int  # calls for a refused sequence sooner than the refusal's retry delay
    peak_active_calls: int  # most PredictSequence handlers running at once
    # PredictSequence calls per ontology CURIE asked for ("" = a call naming none, i.e. all tracks)
    ontology_terms_requested: Mapping[str, int]
    organisms_requested: Mapping[str, int]  # PredictSequence calls per organism name (e.g. HOMO_SAPIENS)


def sequence_key(sequence: str) -> str:
    """Counter key of a received sequence: SHA-256 of its upper-case ASCII bytes."""
    try:
        return sequence_sha256(sequence)
    except UnicodeEncodeError:  # invalid input is still counted, under a distinct key
        return hashlib.sha256(sequence.upper().encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------- servicer


class _DnaModelServicer(dna_model_service_pb2_grpc.DnaModelServiceServicer):
    """PredictSequence + GetMetadata; everything else inherits UNIMPLEMENTED."""

    def __init__(self, owner: LocalAlphaGenomeServer) -> None:
        self._owner = owner

    def PredictSequence(  # noqa: N802 (gRPC method name)
        self,
        request_iterator: Iterator[dna_model_service_pb2.PredictSequenceRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[dna_model_service_pb2.PredictSequenceResponse]:
        return self._owner._predict_sequence(request_iterator, context)

    def GetMetadata(  # noqa: N802 (gRPC method name)
        self, request: dna_model_service_pb2.MetadataRequest, context: grpc.ServicerContext
    ) -> Iterator[dna_model_service_pb2.MetadataResponse]:
        return self._owner._get_metadata(request, context)


class LocalAlphaGenomeServer(FaultInjector):
    """In-process AlphaGenome DnaModelService on 127.0.0.1; fault knobs from FaultInjector."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        catalogue: TrackCatalogue | None = None,
        scored_motifs: Iterable[str] = DEFAULT_SCORED_MOTIFS,
        motif_weight: float = DEFAULT_MOTIF_WEIGHT,
        max_workers: int = 16,
        bytes_per_chunk: int = DEFAULT_BYTES_PER_CHUNK,
        wire_dtype: str = "float32",
        zstd: bool = False,
        latency_s: float = 0.0,
        expected_api_key: str | None = None,
        failure_rate: float = 0.0,
        failure_codes: Sequence[grpc.StatusCode] = (grpc.StatusCode.UNAVAILABLE,),
        seed: int = 0,
    ) -> None:
        if wire_dtype not in _WIRE_DTYPES:
            raise ValueError(f"wire_dtype must be one of {sorted(_WIRE_DTYPES)}")
        if bytes_per_chunk <= 0:
            raise ValueError("bytes_per_chunk must be positive (the SDK client expects chunks)")
        super().__init__(
            latency_s=latency_s, failure_rate=failure_rate, failure_codes=failure_codes, seed=seed
        )
        self._host = host
        self._requested_port = port
        self._catalogue = normalise_catalogue(
            catalogue if catalogue is not None else default_catalogue()
        )
        self.scored_motifs: tuple[str, ...] = tuple(m.upper() for m in scored_motifs)
        self.motif_weight = float(motif_weight)
        self._max_workers = max_workers
        self._bytes_per_chunk = bytes_per_chunk
        self._wire_dtype = _WIRE_DTYPES[wire_dtype]
        self._compression = (
            tensor_pb2.CompressionType.COMPRESSION_TYPE_ZSTD
            if zstd
            else tensor_pb2.CompressionType.COMPRESSION_TYPE_NONE
        )
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._server: grpc.Server | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._port: int | None = None
        self._expected_api_key = expected_api_key
        self._ignore_ontology_filter = False
        self._predict_key_rejected = False
        self._active_calls = 0  # running PredictSequence handlers; never reset
        self._reset_counters_locked()

    # ---- catalogue faults

    def set_catalogue(self, catalogue: TrackCatalogue) -> None:
        """Replace the track catalogue while serving (a service adding or removing tracks)."""
        normalised = normalise_catalogue(catalogue)
        with self._lock:
            self._catalogue = normalised

    def ignore_ontology_filter(self, ignore: bool = True) -> None:
        """Answer PredictSequence with every track of an output, whatever terms were asked."""
        with self._lock:
            self._ignore_ontology_filter = ignore

    def reject_key_for_predictions(self, reject: bool = True) -> None:
        """UNAUTHENTICATED for every PredictSequence call while metadata calls keep working
        (a key accepted for metadata and refused for predictions)."""
        with self._lock:
            self._predict_key_rejected = reject

    # ---- lifecycle

    def start(self) -> LocalAlphaGenomeServer:
        """Bind and start serving; returns self."""
        if self._server is not None:
            raise RuntimeError("server already started")
        self._executor = ThreadPoolExecutor(
            max_workers=self._max_workers, thread_name_prefix="alphagenome-local"
        )
        server = grpc.server(
            self._executor,
            options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
        )
        dna_model_service_pb2_grpc.add_DnaModelServiceServicer_to_server(
            _DnaModelServicer(self), server
        )
        port = server.add_insecure_port(f"{self._host}:{self._requested_port}")
        if port == 0:
            raise RuntimeError(f"could not bind {self._host}:{self._requested_port}")
        server.start()
        self._server, self._port = server, port
        logger.info("local AlphaGenome server listening on %s", self.address)
        return self

    def stop(self, grace: float | None = 0.5) -> None:
        """Stop serving (in-flight calls are cancelled after `grace` seconds)."""
        if self._server is None:
            return
        self._server.stop(grace).wait()
        if self._executor is not None:
            self._executor.shutdown(wait=True)  # handlers poll is_active(), so this is quick
        logger.info("local AlphaGenome server on %s stopped", self.address)
        self._server = None
        self._executor = None

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Block until the server stops (True) or `timeout` elapses (False)."""
        if self._server is None:
            return True
        return self._server.wait_for_termination(timeout)

    def __enter__(self) -> LocalAlphaGenomeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def address(self) -> str:
        """'HOST:PORT' to pass to grpc.insecure_channel."""
        return f"{self._host}:{self.port}"

    # ---- API key

    @property
    def expected_api_key(self) -> str | None:
        with self._lock:
            return self._expected_api_key

    @expected_api_key.setter
    def expected_api_key(self, key: str | None) -> None:
        with self._lock:
            self._expected_api_key = key

    # ---- counters

    def counters(self) -> ServerCounters:
        """A consistent snapshot of all counters."""
        quota_rejections, early_quota_retries = self.quota_counts()
        with self._lock:
            return ServerCounters(
                predict_calls=self._predict_calls,
                predict_calls_by_sequence=MappingProxyType(dict(self._calls_by_sequence)),
                completed_calls=self._completed_calls,
                completed_calls_by_sequence=MappingProxyType(dict(self._completed_by_sequence)),
                metadata_calls=self._metadata_calls,
                api_keys_seen=frozenset(self._api_keys_seen),
                connections=len(self._peers_seen),
                active_calls=self._active_calls,
                quota_rejections=quota_rejections,
                early_quota_retries=early_quota_retries,
                peak_active_calls=self._peak_active_calls,
                ontology_terms_requested=MappingProxyType(dict(self._terms_requested)),
                organisms_requested=MappingProxyType(dict(self._organisms_requested)),
            )

    def reset_counters(self) -> None:
        """Zero every counter (active_calls keeps tracking running handlers)."""
        with self._lock:
            self._reset_counters_locked()
        self.reset_quota_counts()

    def calls_for(self, sequence: str) -> int:
        """PredictSequence calls received for `sequence`."""
        with self._lock:
            return self._calls_by_sequence[sequence_key(sequence)]

    def completed_for(self, sequence: str) -> int:
        """PredictSequence calls for `sequence` that were fully answered."""
        with self._lock:
            return self._completed_by_sequence[sequence_key(sequence)]

    def wait_until_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no PredictSequence handler is running (counters are then final)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active_calls == 0, timeout)

    def _reset_counters_locked(self) -> None:
        self._predict_calls = 0
        self._calls_by_sequence: Counter[str] = Counter()
        self._completed_calls = 0
        self._completed_by_sequence: Counter[str] = Counter()
        self._metadata_calls = 0
        self._api_keys_seen: set[str | None] = set()
        self._peers_seen: set[str] = set()
        self._peak_active_calls = self._active_calls
        self._terms_requested: Counter[str] = Counter()
        self._organisms_requested: Counter[str] = Counter()

    # ---- RPC implementations

    def _check_api_key(self, context: grpc.ServicerContext) -> None:
        """Record the caller's key; abort UNAUTHENTICATED if it differs from the expected one."""
        key = dict(context.invocation_metadata()).get(API_KEY_HEADER)
        with self._lock:
            self._api_keys_seen.add(key)
            self._peers_seen.add(context.peer())
            expected = self._expected_api_key
        if expected is not None and key != expected:
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "API key not valid. Please pass a valid API key.",
            )

    def _record_predict_call(self, key: str) -> None:
        with self._lock:
            self._predict_calls += 1
            self._calls_by_sequence[key] += 1

    def _record_completed(self, key: str) -> None:
        with self._lock:
            self._completed_calls += 1
            self._completed_by_sequence[key] += 1

    def _record_biosamples(self, organism: int, curies: frozenset[str] | None) -> None:
        with self._lock:
            self._organisms_requested[dna_model_pb2.Organism.Name(organism).removeprefix("ORGANISM_")] += 1
            for curie in curies if curies is not None else ("",):
                self._terms_requested[curie] += 1

    def _enter_call(self) -> None:
        with self._lock:
            self._active_calls += 1
            self._peak_active_calls = max(self._peak_active_calls, self._active_calls)

    def _exit_call(self) -> None:
        with self._idle:
            self._active_calls -= 1
            self._idle.notify_all()

    def _predict_sequence(
        self,
        request_iterator: Iterator[dna_model_service_pb2.PredictSequenceRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[dna_model_service_pb2.PredictSequenceResponse]:
        self._enter_call()
        try:
            yield from self._answer_predict_sequence(request_iterator, context)
        finally:
            self._exit_call()

    def _answer_predict_sequence(
        self,
        request_iterator: Iterator[dna_model_service_pb2.PredictSequenceRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[dna_model_service_pb2.PredictSequenceResponse]:
        request = next(request_iterator, None)
        if request is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "expected one PredictSequenceRequest")
        key = sequence_key(request.sequence)
        self._record_predict_call(key)
        self._check_api_key(context)
        if self._predict_key_rejected:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "API key not valid for predictions")
        plan = self.take_call_plan(key)
        logger.debug("PredictSequence %s len=%d plan=%s", key[:12], len(request.sequence), plan)
        if plan.hang_s > 0 and plan.hang_after_messages == 0:
            if not sleep_while_active(context, plan.hang_s):
                logger.debug("PredictSequence %s: client left during hang", key[:12])
                return
        if plan.fail_code is not None:
            if plan.trailing:
                context.set_trailing_metadata(plan.trailing)
            context.abort(plan.fail_code, plan.fail_message)
        if plan.latency_s > 0 and not sleep_while_active(context, plan.latency_s):
            return
        outputs, organism_tracks, curies = self._validate_predict_request(request, context)
        self._record_biosamples(request.organism, curies)
        if plan.reject is not None and plan.reject(request.sequence):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "sequence rejected by the server")
        signal_values = base_signal(request.sequence, self.scored_motifs, self.motif_weight)
        messages = self._predict_messages(signal_values, outputs, organism_tracks, curies)
        for index, message in enumerate(messages):
            if plan.hang_s > 0 and 0 < plan.hang_after_messages == index:
                if not sleep_while_active(context, plan.hang_s):
                    logger.debug("PredictSequence %s: client left mid-stream", key[:12])
                    return
            yield message
        # gRPC resumes this generator only after the last message was sent successfully.
        if context.is_active():
            self._record_completed(key)

    def _validate_predict_request(
        self, request: dna_model_service_pb2.PredictSequenceRequest, context: grpc.ServicerContext
    ) -> tuple[list[str], OrganismTracks, frozenset[str] | None]:
        """Abort INVALID_ARGUMENT/UNIMPLEMENTED like the service would; return what to send."""
        sequence = request.sequence
        if len(sequence) not in _SUPPORTED_LENGTHS:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Sequence length {len(sequence)} not supported by the model. Supported lengths:"
                f" {sorted(_SUPPORTED_LENGTHS)}",
            )
        if invalid := set(sequence) - _VALID_BASES:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                'Invalid sequence, must only contain the characters "ACGTN". Found invalid'
                f' characters: "{",".join(sorted(invalid))}"',
            )
        organism_tracks = self._catalogue.get(request.organism)
        if organism_tracks is None:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"Unsupported organism: {request.organism}"
            )
        known_versions = dna_client.ModelVersion.__members__
        if request.model_version and request.model_version not in known_versions:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"Unknown model version: {request.model_version}"
            )
        outputs = self._requested_output_names(request, context)
        curies = self._requested_curies(request, context)
        if self._ignore_ontology_filter:
            curies = None
        return outputs, organism_tracks, curies

    @staticmethod
    def _requested_output_names(
        request: dna_model_service_pb2.PredictSequenceRequest, context: grpc.ServicerContext
    ) -> list[str]:
        """De-duplicated output names in request order; aborts on unknown/unsupported ones."""
        if not request.requested_outputs:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "requested_outputs must not be empty")
        names = []
        for value in dict.fromkeys(request.requested_outputs):
            try:
                name = output_type_name(value)
            except ValueError:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Unknown output type: {value}")
            if name in NON_TRACK_OUTPUTS:
                context.abort(
                    grpc.StatusCode.UNIMPLEMENTED, f"{name} is not served by the local test server"
                )
            names.append(name)
        return names

    @staticmethod
    def _requested_curies(
        request: dna_model_service_pb2.PredictSequenceRequest, context: grpc.ServicerContext
    ) -> frozenset[str] | None:
        """Requested ontology curies, or None when the request names none (= all tracks)."""
        if not request.ontology_terms:
            return None
        try:
            return frozenset(
                ontology.from_proto(term).ontology_curie for term in request.ontology_terms
            )
        except ValueError:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Invalid ontology term")

    def _predict_messages(
        self,
        signal_values: np.ndarray,
        outputs: Sequence[str],
        organism_tracks: OrganismTracks,
        curies: frozenset[str] | None,
    ) -> Iterator[dna_model_service_pb2.PredictSequenceResponse]:
        """Output message then its tensor chunks, for each requested output."""
        for output in outputs:
            tracks = organism_tracks.prepared(output, curies)
            values = apply_scales(signal_values, tracks.scales).astype(self._wire_dtype)
            # The same messages as track_data_utils.to_protos(TrackData(values, metadata)),
            # with the metadata proto built once per selection instead of per request.
            tensor, chunks = tensor_utils.pack_tensor(
                values, bytes_per_chunk=self._bytes_per_chunk, compression_type=self._compression
            )
            proto = dna_model_pb2.TrackData(values=tensor, metadata=tracks.metadata, resolution=1)
            yield dna_model_service_pb2.PredictSequenceResponse(
                output=dna_model_pb2.Output(
                    output_type=dna_client.OutputType[output].to_proto(), track_data=proto
                )
            )
            for chunk in chunks:
                yield dna_model_service_pb2.PredictSequenceResponse(tensor_chunk=chunk)

    def _get_metadata(
        self, request: dna_model_service_pb2.MetadataRequest, context: grpc.ServicerContext
    ) -> Iterator[dna_model_service_pb2.MetadataResponse]:
        with self._lock:
            self._metadata_calls += 1
        failure = self.take_metadata_failure()
        self._check_api_key(context)
        if failure is not None:
            context.abort(failure, f"injected failure: {failure.name}")
        organism_tracks = self._catalogue.get(request.organism)
        if organism_tracks is None:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"Unsupported organism: {request.organism}"
            )
        # One response per output type: the client must merge a multi-message stream.
        for output, frame in organism_tracks.frames.items():
            yield dna_model_service_pb2.MetadataResponse(
                output_metadata=[
                    dna_model_pb2.OutputMetadata(
                        output_type=dna_client.OutputType[output].to_proto(),
                        tracks=track_data_utils.metadata_to_proto(frame),
                    )
                ]
            )


# ------------------------------------------------------------------------------ CLI


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.alphagenome.server",
        description="Serve a deterministic local AlphaGenome DnaModelService (tests, benchmarks).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="fixed delay per call")
    parser.add_argument(
        "--fail-fraction", type=float, default=0.0, help="probability a call fails UNAVAILABLE"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the failure RNG")
    parser.add_argument("--port-file", default=None, help="write the bound port here")
    parser.add_argument("--api-key", default=None, help="require this x-goog-api-key")
    parser.add_argument("--max-workers", type=int, default=16)
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--quota-calls", type=int, default=None, help="calls accepted per quota window")
    parser.add_argument("--quota-seconds", type=float, default=60.0, help="the quota window")
    parser.add_argument("--retry-delay-ms", type=float, default=1000.0, help="retry delay sent with quota answers")
    return parser.parse_args(argv)


def _write_port_file(path: str, port: int) -> None:
    """Write atomically so a poller never reads a half-written file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="ascii") as handle:
        handle.write(f"{port}\n")
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGINT/SIGTERM."""
    args = _parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    server = LocalAlphaGenomeServer(
        host=args.host,
        port=args.port,
        max_workers=args.max_workers,
        latency_s=args.latency_ms / 1000.0,
        expected_api_key=args.api_key,
        failure_rate=args.fail_fraction,
        seed=args.seed,
    )
    if args.quota_calls is not None:
        server.set_quota(args.quota_calls, args.quota_seconds, retry_delay_s=args.retry_delay_ms / 1000)
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())
    outage = [False]

    def toggle_outage(*_: object) -> None:
        outage[0] = not outage[0]
        server.set_outage(grpc.StatusCode.UNAVAILABLE if outage[0] else None)

    signal.signal(signal.SIGUSR1, toggle_outage)
    server.start()
    try:
        if args.port_file:
            _write_port_file(args.port_file, server.port)
        print(f"listening on {server.address}", flush=True)
        while not stop_requested.wait(0.2):
            pass
    finally:
        server.stop(grace=1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
