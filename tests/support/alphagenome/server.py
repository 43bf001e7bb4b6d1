"""A local gRPC server implementing the AlphaGenome SDK's ``DnaModelService``.

Tests and benchmarks point the REAL ``alphagenome.models.dna_client.DnaClient``
at this server over a real gRPC channel on 127.0.0.1, so everything the client
does (request building, streaming, chunk reassembly, retries, deadlines) is
exercised without reaching Google.

Implemented RPCs: ``PredictSequence`` (stream -> stream) and ``GetMetadata``
(unary -> stream). Every other RPC answers ``UNIMPLEMENTED``.

Wire behaviour of ``PredictSequence``
-------------------------------------
* Reads the first request of the stream only.
* Validates like the real service: sequence length must be one of the SDK's
  ``SUPPORTED_SEQUENCE_LENGTHS``; characters must be in ``ACGTN`` (upper-case);
  organism must be in the catalogue; ``requested_outputs`` must be non-empty and
  contain known track outputs; ``model_version`` must be empty or a
  ``ModelVersion`` name. Violations abort with ``INVALID_ARGUMENT``
  (``SPLICE_JUNCTIONS`` / ``CONTACT_MAPS`` abort with ``UNIMPLEMENTED``: this
  server only produces 1-bp track outputs).
* Tracks are filtered by the request's ontology terms (none -> all tracks).
* For each requested output (in request order, de-duplicated) it sends
  ``PredictSequenceResponse(output=Output(output_type, track_data))`` followed
  by ``track_data.values.chunk_count`` ``PredictSequenceResponse(tensor_chunk)``
  messages: exactly what the SDK's own ``track_data_utils.to_protos`` packs (the
  track selection and its metadata proto are built once and reused). An output
  with no matching tracks is still sent, with values of shape ``(L, 0)``.
* Values are float32 on the wire by default (``wire_dtype`` can switch to
  bfloat16/float16, which the SDK client up-casts to float32).

Signal definition (``track_values``)
------------------------------------
For an upper-cased sequence ``s`` of length ``L`` (0-based positions):

1. GC signal: ``gc[i] = #{j in W(i): s[j] in 'GC'} / #{j in W(i): s[j] in 'ACGT'}``
   where ``W(i) = [max(0, i-50), min(L, i+51))``; ``gc[i] = 0`` when ``W(i)``
   contains no A/C/G/T.
2. Motif bump: for each scored motif ``m`` (default the DR1 PPARgamma:RXR site
   ``AGGTCAAAGGTCA``), find every start ``p`` where ``m`` or its reverse
   complement matches exactly (overlapping matches allowed; a start matching both
   strands counts once). With centre ``c = p + len(m) // 2``, add
   ``motif_weight`` (default 2.0) to every position in ``[c-50, c+50]``
   (inclusive, clipped to the sequence). Bumps of different occurrences add up.
3. ``signal = gc + bump``, then ``signal[i] = 0`` wherever ``s[i] == 'N'``.
4. ``value = float32(signal * scale)`` with (float64 arithmetic, in this order)
   ``scale = output_factor * (1 + 0.25 * track_index) * ontology_factor``:
   ``output_factor`` = DNASE 1.0, CAGE 0.2, RNA_SEQ 0.5, any other 0.3;
   ``ontology_factor = 1 + (crc32(curie as ASCII) % 7) / 10`` (1.0 for no curie).

``track_index`` is the track's position among the catalogue tracks with the
same organism, output type and ontology curie, in catalogue order (so for a
stranded pair, '+' is 0 and '-' is 1 in the default catalogue). Filtering by
ontology never changes it. ``track_indices(metadata)`` derives it from a metadata
DataFrame as received by the client; ``expected_track_matrix`` gives the whole
``(L, n_tracks)`` array the server sends for such a DataFrame.

Faults and knobs (thread-safe, changeable while serving)
--------------------------------------------------------
Applied to ``PredictSequence`` in this order, after the request is read and
counted: API key check (``UNAUTHENTICATED``; also for ``GetMetadata``) ->
outage (``set_outage``: every call fails, e.g. ``UNAVAILABLE`` like a dead backend) ->
quota (``set_quota``: beyond ``max_calls`` accepted calls per ``per_seconds`` window,
``RESOURCE_EXHAUSTED`` carrying the retry delay as a ``google.rpc.RetryInfo`` in
``grpc-status-details-bin`` and/or ``grpc-retry-pushback-ms``) ->
hang (``hang_next``, when ``after_messages == 0``) -> scripted failure
(``fail_next``) -> random failure (``set_failure_rate``) -> fixed latency
(``set_latency``) -> request validation -> predicate rejection
(``reject_sequences`` / ``reject_sequences_containing``) -> responses (a
``hang_next(..., after_messages=k)`` hang happens just before message ``k``).
All sleeps are taken in small steps and end early once the client has gone.

Counters
--------
``counters()`` returns a ``ServerCounters`` snapshot; ``reset_counters()``
zeroes it. A call is *completed* when the handler resumed after its final
``yield`` and the RPC is still active: gRPC only resumes a streaming handler
after the previous message was handed to the transport successfully, so a call
whose client cancelled, hit its deadline or died mid-stream never reaches that
point. (The OK status itself is sent afterwards; a client vanishing in that
last instant is not detectable by the handler.)

CLI
---
``python -m mprabench.testing.alphagenome_server [--host 127.0.0.1] [--port 0]
[--latency-ms 0] [--fail-fraction 0] [--seed 0] [--port-file PATH]
[--quota-calls N --quota-seconds S --retry-delay-ms D]`` serves until SIGINT/SIGTERM and
prints ``listening on HOST:PORT``; SIGUSR1 toggles an UNAVAILABLE outage (a dead backend).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import os
import random
import re
import signal
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType
from typing import Any

import grpc
import ml_dtypes
import numpy as np
import pandas as pd
from alphagenome import tensor_utils
from alphagenome.data import ontology
from alphagenome.models.v1 import dna_client, track_data_utils
from alphagenome.protos import tensor_pb2
from alphagenome.protos.v1 import dna_model_pb2, dna_model_service_pb2, dna_model_service_pb2_grpc

from mprabench.dna import reverse_complement, sequence_sha256

logger = logging.getLogger(__name__)

DEFAULT_SCORED_MOTIFS: tuple[str, ...] = ("AGGTCAAAGGTCA",)  # DR1, PPARgamma:RXR
DEFAULT_MOTIF_WEIGHT = 2.0
DEFAULT_BYTES_PER_CHUNK = 256 * 1024
GC_HALF_WINDOW = 50  # window [i-50, i+51): 101 bp centred on i
MOTIF_HALF_WIDTH = 50  # bump covers [c-50, c+50]
OUTPUT_FACTORS: Mapping[str, float] = MappingProxyType({"DNASE": 1.0, "CAGE": 0.2, "RNA_SEQ": 0.5})
OTHER_OUTPUT_FACTOR = 0.3
API_KEY_HEADER = "x-goog-api-key"

_VALID_BASES = frozenset("ACGTN")
_SUPPORTED_LENGTHS = frozenset(dna_client.SUPPORTED_SEQUENCE_LENGTHS.values())
_NON_TRACK_OUTPUTS = frozenset({"SPLICE_JUNCTIONS", "CONTACT_MAPS"})
_SLEEP_STEP_S = 0.01
_WIRE_DTYPES: Mapping[str, np.dtype] = MappingProxyType(
    {
        "float32": np.dtype(np.float32),
        "float16": np.dtype(np.float16),
        "bfloat16": np.dtype(ml_dtypes.bfloat16),
    }
)

TrackCatalogue = Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]]


# --------------------------------------------------------------------------- signal


def output_type_name(output_type: dna_client.OutputType | int | str) -> str:
    """Normalise an OutputType enum, proto value or name ('DNASE'/'OUTPUT_TYPE_DNASE')."""
    if isinstance(output_type, dna_client.OutputType):
        return output_type.name
    if isinstance(output_type, str):
        name = output_type.upper().removeprefix("OUTPUT_TYPE_")
        if name not in dna_client.OutputType.__members__:
            raise ValueError(f"unknown output type {output_type!r}")
        return name
    return dna_client.OutputType(int(output_type)).name


def output_factor(output_type: dna_client.OutputType | int | str) -> float:
    """Per-output scale: DNASE 1.0, CAGE 0.2, RNA_SEQ 0.5, others 0.3."""
    return OUTPUT_FACTORS.get(output_type_name(output_type), OTHER_OUTPUT_FACTOR)


def ontology_factor(ontology_curie: str | None) -> float:
    """Per-biosample scale 1 + (crc32(curie) % 7) / 10; 1.0 for a missing curie."""
    if not isinstance(ontology_curie, str) or not ontology_curie:
        return 1.0
    return 1.0 + (zlib.crc32(ontology_curie.encode("ascii")) % 7) / 10.0


def track_scale(
    output_type: dna_client.OutputType | int | str, track_index: int, ontology_curie: str | None
) -> float:
    """The full multiplicative factor applied to the base signal of one track."""
    return output_factor(output_type) * (1.0 + 0.25 * track_index) * ontology_factor(ontology_curie)


def gc_signal(sequence: str) -> np.ndarray:
    """GC fraction among ACGT bases in [i-50, i+51) (clipped); 0 where there is no ACGT."""
    bases = np.frombuffer(sequence.upper().encode("ascii"), dtype=np.uint8)
    is_gc = (bases == ord("G")) | (bases == ord("C"))
    is_acgt = is_gc | (bases == ord("A")) | (bases == ord("T"))
    gc_cum = np.concatenate([[0], np.cumsum(is_gc, dtype=np.int64)])
    acgt_cum = np.concatenate([[0], np.cumsum(is_acgt, dtype=np.int64)])
    positions = np.arange(len(bases))
    lo = np.maximum(positions - GC_HALF_WINDOW, 0)
    hi = np.minimum(positions + GC_HALF_WINDOW + 1, len(bases))
    gc_count = gc_cum[hi] - gc_cum[lo]
    acgt_count = acgt_cum[hi] - acgt_cum[lo]
    return np.divide(
        gc_count, acgt_count, out=np.zeros(len(bases), dtype=np.float64), where=acgt_count > 0
    )


def motif_starts(sequence: str, motif: str) -> np.ndarray:
    """Sorted 0-based starts where `motif` or its reverse complement matches (overlaps allowed)."""
    motif = motif.upper()
    alternatives = sorted({re.escape(motif), re.escape(reverse_complement(motif))})
    # A zero-width lookahead finds overlapping matches, once per start position.
    pattern = re.compile(f"(?=(?:{'|'.join(alternatives)}))")
    return np.fromiter(
        (match.start() for match in pattern.finditer(sequence.upper())), dtype=np.int64
    )


def motif_bump(
    sequence: str,
    scored_motifs: Iterable[str] = DEFAULT_SCORED_MOTIFS,
    motif_weight: float = DEFAULT_MOTIF_WEIGHT,
) -> np.ndarray:
    """Sum over motif occurrences of `motif_weight` on [centre-50, centre+50]."""
    length = len(sequence)
    delta = np.zeros(length + 1, dtype=np.float64)
    for motif in scored_motifs:
        centres = motif_starts(sequence, motif) + len(motif) // 2
        lo = np.clip(centres - MOTIF_HALF_WIDTH, 0, length)
        hi = np.clip(centres + MOTIF_HALF_WIDTH + 1, 0, length)
        np.add.at(delta, lo, motif_weight)
        np.add.at(delta, hi, -motif_weight)
    return np.cumsum(delta[:length])


def base_signal(
    sequence: str,
    scored_motifs: Iterable[str] = DEFAULT_SCORED_MOTIFS,
    motif_weight: float = DEFAULT_MOTIF_WEIGHT,
) -> np.ndarray:
    """Unscaled float64 signal: GC signal + motif bumps, zero at N positions."""
    signal_values = gc_signal(sequence) + motif_bump(sequence, scored_motifs, motif_weight)
    is_n = np.frombuffer(sequence.upper().encode("ascii"), dtype=np.uint8) == ord("N")
    signal_values[is_n] = 0.0
    return signal_values


def track_values(
    sequence: str,
    output_type: dna_client.OutputType | int | str,
    track_index: int,
    ontology_curie: str | None,
    *,
    scored_motifs: Iterable[str] = DEFAULT_SCORED_MOTIFS,
    motif_weight: float = DEFAULT_MOTIF_WEIGHT,
) -> np.ndarray:
    """The exact float32 values (length len(sequence)) the server sends for one track."""
    scale = track_scale(output_type, track_index, ontology_curie)
    return (base_signal(sequence, scored_motifs, motif_weight) * scale).astype(np.float32)


def track_indices(metadata: pd.DataFrame) -> np.ndarray:
    """Each row's track_index: how many earlier rows share its ontology_curie."""
    return _running_count(_curies(metadata))


def _curies(metadata: pd.DataFrame) -> list[str | None]:
    """The ontology_curie column as a list, None where absent/NaN."""
    if "ontology_curie" not in metadata.columns:
        return [None] * len(metadata)
    return [curie if isinstance(curie, str) else None for curie in metadata["ontology_curie"]]


def _running_count(keys: Sequence[Any]) -> np.ndarray:
    """For each key, how many times it occurred before."""
    seen: Counter[Any] = Counter()
    indices = np.zeros(len(keys), dtype=np.int64)
    for row, key in enumerate(keys):
        indices[row] = seen[key]
        seen[key] += 1
    return indices


def expected_track_matrix(
    sequence: str,
    output_type: dna_client.OutputType | int | str,
    metadata: pd.DataFrame,
    *,
    scored_motifs: Iterable[str] = DEFAULT_SCORED_MOTIFS,
    motif_weight: float = DEFAULT_MOTIF_WEIGHT,
) -> np.ndarray:
    """(L, n_tracks) float32 values for the tracks in `metadata`, as the server computes them."""
    signal_values = base_signal(sequence, scored_motifs, motif_weight)
    return _scaled_matrix(signal_values, output_type, metadata)


def _scaled_matrix(
    signal_values: np.ndarray,
    output_type: dna_client.OutputType | int | str,
    metadata: pd.DataFrame,
) -> np.ndarray:
    """float32(signal * scale) with one column per metadata row."""
    return _apply_scales(signal_values, _track_scales(output_type, metadata))


def _track_scales(
    output_type: dna_client.OutputType | int | str, metadata: pd.DataFrame
) -> np.ndarray:
    """The float64 scale of each metadata row's track."""
    curies = _curies(metadata)
    indices = _running_count(curies)
    scales = [
        track_scale(output_type, int(index), curie)
        for curie, index in zip(curies, indices, strict=True)
    ]
    return np.array(scales, dtype=np.float64)


def _apply_scales(signal_values: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """(L, n_tracks) float32: each column is float32(signal * scale) computed in float64."""
    return (signal_values[:, np.newaxis] * scales[np.newaxis, :]).astype(np.float32)


# ----------------------------------------------------------------------- catalogue


def _cell_tracks(
    curie: str, biosample: str, biosample_type: str, outputs: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    """Plausible DNASE (unstranded), CAGE and RNA_SEQ (+/-) tracks for one biosample."""
    templates = {
        "DNASE": (f"{curie} DNase-seq", "DNase-seq", "encode", (".",)),
        "CAGE": (f"hCAGE {curie}", "hCAGE", "fantom", ("+", "-")),
        "RNA_SEQ": (f"{curie} total RNA-seq", "total RNA-seq", "encode", ("+", "-")),
    }
    tracks: dict[str, list[dict[str, Any]]] = {}
    for output in outputs:
        name, assay, source, strands = templates[output]
        tracks[output] = [
            {
                "name": name,
                "strand": strand,
                "ontology_curie": curie,
                "biosample_name": biosample,
                "biosample_type": biosample_type,
                "Assay title": assay,
                "data_source": source,
            }
            for strand in strands
        ]
    return tracks


def _merge_tracks(*groups: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Concatenate per-output track lists, preserving order."""
    merged: dict[str, list[dict[str, Any]]] = {}
    for group in groups:
        for output, tracks in group.items():
            merged.setdefault(output, []).extend(tracks)
    return merged


def default_catalogue() -> dict[str, dict[str, list[dict[str, Any]]]]:
    """A fresh copy of the default track catalogue (organism -> output -> tracks)."""
    all_outputs = ("DNASE", "CAGE", "RNA_SEQ")
    human = _merge_tracks(
        _cell_tracks("EFO:0002067", "K562", "cell_line", all_outputs),
        _cell_tracks("EFO:0001187", "HepG2", "cell_line", all_outputs),
    )
    mouse = _merge_tracks(
        _cell_tracks("EFO:0001084", "3T3-L1", "cell_line", ("DNASE",)),
        _cell_tracks("UBERON:0000955", "brain", "tissue", ("DNASE", "RNA_SEQ", "CAGE")),
        _cell_tracks("UBERON:0001013", "adipose tissue", "tissue", ("RNA_SEQ",)),
    )
    return {"ORGANISM_HOMO_SAPIENS": human, "ORGANISM_MUS_MUSCULUS": mouse}


def _organism_value(organism: dna_client.Organism | int | str) -> int:
    """Proto enum value of an Organism enum, proto value or name (with/without prefix)."""
    if isinstance(organism, dna_client.Organism):
        return organism.value
    if isinstance(organism, str):
        name = organism.upper()
        name = name if name.startswith("ORGANISM_") else f"ORGANISM_{name}"
        return dna_model_pb2.Organism.Value(name)
    return int(organism)


def _tracks_frame(tracks: Sequence[Mapping[str, Any]], where: str) -> pd.DataFrame:
    """Validated metadata DataFrame for one organism/output (round-trips through the proto)."""
    frame = pd.DataFrame([dict(track) for track in tracks])
    if frame.empty:
        return pd.DataFrame(columns=["name", "strand"])
    if not {"name", "strand"}.issubset(frame.columns):
        raise ValueError(f"{where}: every track needs 'name' and 'strand'")
    if not frame["strand"].isin(["+", "-", "."]).all():
        raise ValueError(f"{where}: strand must be one of '+', '-', '.'")
    if frame[["name", "strand"]].duplicated().any():
        raise ValueError(f"{where}: duplicated (name, strand) pairs")
    track_data_utils.metadata_to_proto(frame)  # fails early on bad curies / biosample types
    return frame


@dataclasses.dataclass(frozen=True)
class _PreparedTracks:
    """What every response for one (organism, output, curies) shares, built once.

    Selecting tracks and converting their metadata to a proto is pandas work that costs
    more CPU than computing the values; doing it per request made this stand-in server
    compete with the client under test for the machine's cores.
    """

    metadata: Sequence[dna_model_pb2.TrackMetadata]
    scales: np.ndarray


def _prepare_tracks(metadata: pd.DataFrame, output: str) -> _PreparedTracks:
    return _PreparedTracks(
        metadata=track_data_utils.metadata_to_proto(metadata).metadata,
        scales=_track_scales(output, metadata),
    )


@dataclasses.dataclass(frozen=True)
class _OrganismTracks:
    """Per-output-type metadata frames of one organism, keyed by output name."""

    frames: Mapping[str, pd.DataFrame]
    _prepared: dict[tuple[str, frozenset[str] | None], _PreparedTracks] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )

    def prepared(self, output: str, curies: frozenset[str] | None) -> _PreparedTracks:
        """`select(output, curies)` as a metadata proto and track scales, cached."""
        key = (output, curies)
        if key not in self._prepared:
            # Two handler threads may both build it; they build the same value.
            self._prepared[key] = _prepare_tracks(self.select(output, curies), output)
        return self._prepared[key]

    def select(self, output: str, curies: frozenset[str] | None) -> pd.DataFrame:
        """Tracks of one output restricted to `curies` (None = all); empty frame if none."""
        frame = self.frames.get(output, pd.DataFrame(columns=["name", "strand"]))
        if curies is None:
            return frame
        if "ontology_curie" not in frame.columns:
            return frame.iloc[0:0]
        return frame[frame["ontology_curie"].isin(curies)].reset_index(drop=True)


def _normalise_catalogue(catalogue: TrackCatalogue) -> dict[int, _OrganismTracks]:
    """Key the catalogue by proto organism value and output name, validating every track."""
    normalised: dict[int, _OrganismTracks] = {}
    for organism, outputs in catalogue.items():
        frames = {}
        for output, tracks in outputs.items():
            name = output_type_name(output)
            if name in _NON_TRACK_OUTPUTS:
                raise ValueError(f"{name} is not a 1-bp track output; not supported")
            frames[name] = _tracks_frame(tracks, f"{organism}/{name}")
        normalised[_organism_value(organism)] = _OrganismTracks(MappingProxyType(frames))
    return normalised


# ------------------------------------------------------------------ faults, counters


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


@dataclasses.dataclass(frozen=True)
class ServerCounters:
    """Snapshot of what the server has seen since start or the last reset."""

    predict_calls: int
    predict_calls_by_sequence: Mapping[str, int]  # SHA-256 of upper-case ASCII sequence
    completed_calls: int
    completed_calls_by_sequence: Mapping[str, int]
    metadata_calls: int
    api_keys_seen: frozenset[str | None]  # None = call without the header
    active_calls: int  # PredictSequence handlers currently running
    quota_rejections: int  # calls answered RESOURCE_EXHAUSTED by the quota (set_quota)
    predict_call_times: Mapping[str, tuple[float, ...]]  # time.monotonic() of each call, per sequence
    peak_active_calls: int  # most PredictSequence handlers running at once


@dataclasses.dataclass(frozen=True)
class _CallPlan:
    """Fault decisions taken atomically when a call arrives."""

    hang_s: float
    hang_after_messages: int
    fail_code: grpc.StatusCode | None
    fail_message: str
    latency_s: float
    reject: Callable[[str], bool] | None
    trailing: tuple[tuple[str, str | bytes], ...] = ()


def sequence_key(sequence: str) -> str:
    """Counter key of a received sequence: SHA-256 of its upper-case ASCII bytes."""
    try:
        return sequence_sha256(sequence)
    except UnicodeEncodeError:  # invalid input is still counted, under a distinct key
        return hashlib.sha256(sequence.upper().encode("utf-8")).hexdigest()


def _sleep_while_active(context: grpc.ServicerContext, seconds: float) -> bool:
    """Sleep up to `seconds` in small steps; False as soon as the client has gone."""
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        if not context.is_active():
            return False
        time.sleep(min(_SLEEP_STEP_S, remaining))
    return context.is_active()


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


class LocalAlphaGenomeServer:
    """In-process AlphaGenome DnaModelService on 127.0.0.1 with scriptable faults."""

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
        self._host = host
        self._requested_port = port
        self._catalogue = _normalise_catalogue(
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
        self._latency_s = 0.0
        self._fail_remaining = 0
        self._metadata_fail_remaining = 0
        self._metadata_fail_code = grpc.StatusCode.UNAVAILABLE
        self._fail_code = grpc.StatusCode.UNAVAILABLE
        self._fail_message = ""
        self._hang_remaining = 0
        self._hang_s = 0.0
        self._hang_after_messages = 0
        self._failure_rate = 0.0
        self._failure_codes: tuple[grpc.StatusCode, ...] = (grpc.StatusCode.UNAVAILABLE,)
        self._rng = random.Random(seed)
        self._reject: Callable[[str], bool] | None = None
        self._active_calls = 0  # running PredictSequence handlers; never reset
        self._outage_code: grpc.StatusCode | None = None
        self._quota: tuple[int, float, float, bool, bool] | None = None
        self._accepted_times: list[float] = []
        self.set_latency(latency_s)
        self.set_failure_rate(failure_rate, failure_codes, seed=seed)
        self._reset_counters_locked()

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

    # ---- knobs

    @property
    def expected_api_key(self) -> str | None:
        with self._lock:
            return self._expected_api_key

    @expected_api_key.setter
    def expected_api_key(self, key: str | None) -> None:
        with self._lock:
            self._expected_api_key = key

    def set_latency(self, seconds: float) -> None:
        """Fixed delay added to every PredictSequence call before it is answered."""
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        with self._lock:
            self._latency_s = float(seconds)

    def fail_next(
        self, n: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE, message: str = ""
    ) -> None:
        """Fail the next `n` PredictSequence calls with `code` (replaces any pending budget)."""
        if n < 0 or code == grpc.StatusCode.OK:
            raise ValueError("n must be >= 0 and code must be an error code")
        with self._lock:
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
        with self._lock:
            self._failure_rate, self._failure_codes = float(probability), tuple(codes)
            if seed is not None:
                self._rng = random.Random(seed)

    def hang_next(self, n: int, seconds: float, *, after_messages: int = 0) -> None:
        """Stall the next `n` calls for `seconds`, before response message `after_messages`."""
        if n < 0 or seconds < 0 or after_messages < 0:
            raise ValueError("n, seconds and after_messages must be >= 0")
        with self._lock:
            self._hang_remaining, self._hang_s = n, float(seconds)
            self._hang_after_messages = after_messages

    def reject_sequences(self, predicate: Callable[[str], bool] | None) -> None:
        """INVALID_ARGUMENT for any call whose (upper-case) sequence satisfies `predicate`."""
        with self._lock:
            self._reject = predicate

    def reject_sequences_containing(self, substrings: Iterable[str]) -> None:
        """Convenience: reject sequences containing any of `substrings` (case-insensitive)."""
        needles = tuple(s.upper() for s in substrings)
        self.reject_sequences(lambda sequence: any(needle in sequence for needle in needles))

    def set_outage(self, code: grpc.StatusCode | None = grpc.StatusCode.UNAVAILABLE) -> None:
        """Fail every PredictSequence call with `code` until set_outage(None): a dead backend
        behind a listening front end (stopping the server gives the unreachable case)."""
        if code == grpc.StatusCode.OK:
            raise ValueError("code must be an error code")
        with self._lock:
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
        with self._lock:
            self._quota = None if max_calls is None else (max_calls, per_seconds, retry_delay_s, retry_info, pushback)
            self._accepted_times = []

    def fail_metadata_next(self, n: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        """Fail the next `n` GetMetadata calls with `code`."""
        with self._lock:
            self._metadata_fail_remaining, self._metadata_fail_code = n, code

    def clear_faults(self) -> None:
        """Remove every fault and the latency (the API-key check is left as is)."""
        with self._lock:
            self._latency_s = 0.0
            self._fail_remaining = 0
            self._metadata_fail_remaining = 0
            self._hang_remaining = 0
            self._failure_rate = 0.0
            self._reject = None
            self._outage_code = None
            self._quota = None

    # ---- counters

    def counters(self) -> ServerCounters:
        """A consistent snapshot of all counters."""
        with self._lock:
            return ServerCounters(
                predict_calls=self._predict_calls,
                predict_calls_by_sequence=MappingProxyType(dict(self._calls_by_sequence)),
                completed_calls=self._completed_calls,
                completed_calls_by_sequence=MappingProxyType(dict(self._completed_by_sequence)),
                metadata_calls=self._metadata_calls,
                api_keys_seen=frozenset(self._api_keys_seen),
                active_calls=self._active_calls,
                quota_rejections=self._quota_rejections,
                predict_call_times=MappingProxyType({k: tuple(v) for k, v in self._call_times.items()}),
                peak_active_calls=self._peak_active_calls,
            )

    def reset_counters(self) -> None:
        """Zero every counter (active_calls keeps tracking running handlers)."""
        with self._lock:
            self._reset_counters_locked()

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
        self._quota_rejections = 0
        self._call_times: dict[str, list[float]] = {}
        self._peak_active_calls = self._active_calls

    # ---- RPC implementations

    def _check_api_key(self, context: grpc.ServicerContext) -> None:
        """Record the caller's key; abort UNAUTHENTICATED if it differs from the expected one."""
        key = dict(context.invocation_metadata()).get(API_KEY_HEADER)
        with self._lock:
            self._api_keys_seen.add(key)
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
            self._call_times.setdefault(key, []).append(time.monotonic())

    def _record_completed(self, key: str) -> None:
        with self._lock:
            self._completed_calls += 1
            self._completed_by_sequence[key] += 1

    def _enter_call(self) -> None:
        with self._lock:
            self._active_calls += 1
            self._peak_active_calls = max(self._peak_active_calls, self._active_calls)

    def _exit_call(self) -> None:
        with self._idle:
            self._active_calls -= 1
            self._idle.notify_all()

    def _take_call_plan(self) -> _CallPlan:
        """Consume fault budgets for one call, atomically."""
        with self._lock:
            hang_s, hang_after = 0.0, 0
            if self._hang_remaining > 0:
                self._hang_remaining -= 1
                hang_s, hang_after = self._hang_s, self._hang_after_messages
            fail_code, fail_message, trailing = None, "", ()
            quota = self._quota_answer_locked()
            if self._outage_code is not None:
                fail_code, fail_message = self._outage_code, f"injected outage: {self._outage_code.name}"
            elif quota is not None:
                fail_code, fail_message, trailing = grpc.StatusCode.RESOURCE_EXHAUSTED, quota[0], quota[1]
            elif self._fail_remaining > 0:
                self._fail_remaining -= 1
                fail_code, fail_message = self._fail_code, self._fail_message
            elif self._failure_rate > 0 and self._rng.random() < self._failure_rate:
                fail_code = self._rng.choice(self._failure_codes)
                fail_message = f"injected random failure: {fail_code.name}"
            return _CallPlan(
                hang_s, hang_after, fail_code, fail_message, self._latency_s, self._reject, trailing
            )

    def _quota_answer_locked(self) -> tuple[str, tuple[tuple[str, str | bytes], ...]] | None:
        """None if the call fits the quota (and is then counted in the window), else the
        RESOURCE_EXHAUSTED message and trailing metadata carrying the retry delay."""
        if self._quota is None or self._outage_code is not None:
            return None
        max_calls, window, delay, retry_info, pushback = self._quota
        now = time.monotonic()
        self._accepted_times = [t for t in self._accepted_times if now - t < window]
        if len(self._accepted_times) < max_calls:
            self._accepted_times.append(now)
            return None
        self._quota_rejections += 1
        message = f"Quota exceeded: at most {max_calls} predictions per {window:g} s; retry in {delay:g} s"
        trailing: list[tuple[str, str | bytes]] = []
        if retry_info:
            trailing.append(("grpc-status-details-bin", retry_info_status(8, message, delay)))
        if pushback:
            trailing.append(("grpc-retry-pushback-ms", str(round(delay * 1000))))
        return message, tuple(trailing)

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
        plan = self._take_call_plan()
        logger.debug("PredictSequence %s len=%d plan=%s", key[:12], len(request.sequence), plan)
        if plan.hang_s > 0 and plan.hang_after_messages == 0:
            if not _sleep_while_active(context, plan.hang_s):
                logger.debug("PredictSequence %s: client left during hang", key[:12])
                return
        if plan.fail_code is not None:
            if plan.trailing:
                context.set_trailing_metadata(plan.trailing)
            context.abort(plan.fail_code, plan.fail_message)
        if plan.latency_s > 0 and not _sleep_while_active(context, plan.latency_s):
            return
        outputs, organism_tracks, curies = self._validate_predict_request(request, context)
        if plan.reject is not None and plan.reject(request.sequence):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "sequence rejected by the server")
        signal_values = base_signal(request.sequence, self.scored_motifs, self.motif_weight)
        messages = self._predict_messages(signal_values, outputs, organism_tracks, curies)
        for index, message in enumerate(messages):
            if plan.hang_s > 0 and 0 < plan.hang_after_messages == index:
                if not _sleep_while_active(context, plan.hang_s):
                    logger.debug("PredictSequence %s: client left mid-stream", key[:12])
                    return
            yield message
        # gRPC resumes this generator only after the last message was sent successfully.
        if context.is_active():
            self._record_completed(key)

    def _validate_predict_request(
        self, request: dna_model_service_pb2.PredictSequenceRequest, context: grpc.ServicerContext
    ) -> tuple[list[str], _OrganismTracks, frozenset[str] | None]:
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
            if name in _NON_TRACK_OUTPUTS:
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
        organism_tracks: _OrganismTracks,
        curies: frozenset[str] | None,
    ) -> Iterator[dna_model_service_pb2.PredictSequenceResponse]:
        """Output message then its tensor chunks, for each requested output."""
        for output in outputs:
            tracks = organism_tracks.prepared(output, curies)
            values = _apply_scales(signal_values, tracks.scales).astype(self._wire_dtype)
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
            failing = self._metadata_fail_remaining > 0
            self._metadata_fail_remaining -= failing
        self._check_api_key(context)
        if failing:
            context.abort(self._metadata_fail_code, f"injected failure: {self._metadata_fail_code.name}")
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
        prog="python -m mprabench.testing.alphagenome_server",
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
