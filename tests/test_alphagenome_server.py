"""The local AlphaGenome server, driven by the REAL SDK client over a real gRPC channel."""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator

import grpc
import ml_dtypes
import numpy as np
import pandas as pd
import pytest
from alphagenome.data import ontology, track_data
from alphagenome.models import dna_client
from alphagenome.models.v1 import track_data_utils
from alphagenome.protos.v1 import dna_model_service_pb2, dna_model_service_pb2_grpc

from tests.conftest import REPO
from tests.support.alphagenome.server import LocalAlphaGenomeServer, sequence_key
from tests.support.alphagenome.tracks import (
    DEFAULT_SCORED_MOTIFS,
    default_catalogue,
    expected_track_matrix,
    track_indices,
    track_values,
)

L16 = dna_client.SEQUENCE_LENGTH_16KB
DR1 = DEFAULT_SCORED_MOTIFS[0]
K562, HEPG2 = "EFO:0002067", "EFO:0001187"
OT = dna_client.OutputType
HUMAN = dna_client.Organism.HOMO_SAPIENS.value
TRACK_OUTPUTS = (OT.DNASE, OT.CAGE, OT.RNA_SEQ)
GRPC_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
API_KEY = "test-key"

# DnaClient.predict_sequence is wrapped by retry_rpc; this is one attempt, no retries.
predict_once = dna_client.DnaClient.predict_sequence.__wrapped__


def random_sequence(seed: int, length: int = L16, motif_at: tuple[int, ...] = ()) -> str:
    """Reproducible ACGT sequence with the DR1 site planted at `motif_at`."""
    bases = list(np.random.default_rng(seed).choice(list("ACGT"), length))
    for start in motif_at:
        bases[start : start + len(DR1)] = DR1
    return "".join(bases)


class _CallDetails(
    collections.namedtuple(
        "_CallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    pass


class _DeadlineInterceptor(grpc.StreamStreamClientInterceptor):
    """Adds a client deadline to every stream-stream call, as a caller with a timeout would."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s

    def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        details = _CallDetails(
            client_call_details.method,
            self._timeout_s,
            client_call_details.metadata,
            client_call_details.credentials,
            client_call_details.wait_for_ready,
            client_call_details.compression,
        )
        return continuation(details, request_iterator)


def make_channel(address: str, deadline_s: float | None = None) -> grpc.Channel:
    channel = grpc.insecure_channel(address, options=GRPC_OPTIONS)
    if deadline_s is not None:
        channel = grpc.intercept_channel(channel, _DeadlineInterceptor(deadline_s))
    return channel


def make_client(channel: grpc.Channel, api_key: str = API_KEY) -> dna_client.DnaClient:
    return dna_client.DnaClient(channel=channel, metadata=[("x-goog-api-key", api_key)])


@pytest.fixture(scope="module")
def shared_server() -> Iterator[LocalAlphaGenomeServer]:
    with LocalAlphaGenomeServer() as server:
        yield server


@pytest.fixture
def server(shared_server: LocalAlphaGenomeServer) -> Iterator[LocalAlphaGenomeServer]:
    """The module's server with faults cleared and counters zeroed for each test."""
    shared_server.clear_faults()
    shared_server.expected_api_key = None
    shared_server.reset_counters()
    yield shared_server
    shared_server.clear_faults()
    shared_server.expected_api_key = None
    assert shared_server.wait_until_idle(5.0)


@pytest.fixture
def channel(server: LocalAlphaGenomeServer) -> Iterator[grpc.Channel]:
    ch = make_channel(server.address)
    yield ch
    ch.close()


@pytest.fixture
def client(channel: grpc.Channel) -> dna_client.DnaClient:
    return make_client(channel)


def predict(client, sequence: str, outputs=(OT.DNASE,), ontology_terms=None, **kwargs):
    """One predict_sequence attempt through the real client (no SDK retries)."""
    return predict_once(
        client, sequence, requested_outputs=outputs, ontology_terms=ontology_terms, **kwargs
    )


def raw_request(sequence: str, organism: int = HUMAN, outputs=(OT.DNASE,)):
    return dna_model_service_pb2.PredictSequenceRequest(
        sequence=sequence, organism=organism, requested_outputs=[o.value for o in outputs]
    )


def raw_call(channel: grpc.Channel, request, api_key: str = API_KEY, timeout: float | None = 5.0):
    """Call the stub directly (bypassing client-side validation); returns all responses."""
    stub = dna_model_service_pb2_grpc.DnaModelServiceStub(channel)
    metadata = [("x-goog-api-key", api_key)]
    return list(stub.PredictSequence(iter([request]), metadata=metadata, timeout=timeout))


# ------------------------------------------------------------------- signal definition


def brute_force_values(sequence: str, output: str, track_index: int, curie: str) -> np.ndarray:
    """The documented definition, written as plainly as possible (slow; short sequences)."""
    s = sequence.upper()
    n = len(s)
    signal_values = np.zeros(n)
    for i in range(n):
        window = s[max(0, i - 50) : min(n, i + 51)]
        acgt = sum(window.count(b) for b in "ACGT")
        signal_values[i] = (window.count("G") + window.count("C")) / acgt if acgt else 0.0
    rc = DR1[::-1].translate(str.maketrans("ACGT", "TGCA"))
    for p in range(n - len(DR1) + 1):
        if s[p : p + len(DR1)] in (DR1, rc):
            c = p + len(DR1) // 2
            for i in range(max(0, c - 50), min(n, c + 51)):
                signal_values[i] += 2.0
    for i, base in enumerate(s):
        if base == "N":
            signal_values[i] = 0.0
    factor = {"DNASE": 1.0, "CAGE": 0.2, "RNA_SEQ": 0.5}.get(output, 0.3)
    scale = factor * (1 + 0.25 * track_index) * (1 + (zlib.crc32(curie.encode()) % 7) / 10)
    return (signal_values * scale).astype(np.float32)


@pytest.mark.parametrize(
    ("output", "track_index", "curie"),
    [("DNASE", 0, K562), ("CAGE", 1, HEPG2), ("RNA_SEQ", 0, "UBERON:0000955"), ("ATAC", 2, K562)],
)
def test_track_values_matches_the_documented_definition(output, track_index, curie):
    rev_dr1 = DR1[::-1].translate(str.maketrans("ACGT", "TGCA"))
    # Motif near the start (bump clipped), a reverse-strand site, an N run and an all-N stretch.
    seq = random_sequence(1, 600, motif_at=(3,))
    seq = seq[:300] + rev_dr1 + seq[313:420] + "N" * 130 + seq[550:]
    got = track_values(seq, output, track_index, curie)
    assert got.dtype == np.float32 and got.shape == (600,)
    np.testing.assert_array_equal(got, brute_force_values(seq, output, track_index, curie))
    assert np.all(got[420:550] == 0)


def test_track_values_bump_raises_signal_around_motif_only():
    plain = random_sequence(2)
    with_motif = plain[:8000] + DR1 + plain[8013:]
    delta = track_values(with_motif, OT.DNASE, 0, K562) - track_values(plain, OT.DNASE, 0, K562)
    scale = 1 + (zlib.crc32(K562.encode()) % 7) / 10
    assert delta[8006] == pytest.approx(2.0 * scale, abs=0.1)  # centre
    assert np.abs(delta[:7900]).max() == 0 and np.abs(delta[8120:]).max() == 0


# --------------------------------------------------------------------------- metadata


def test_human_metadata_has_two_cell_lines_per_output(client, server):
    metadata = client.output_metadata(dna_client.Organism.HOMO_SAPIENS)
    assert set(metadata.dnase["ontology_curie"]) == {K562, HEPG2}
    assert list(metadata.dnase["strand"]) == [".", "."]
    for frame in (metadata.cage, metadata.rna_seq):
        assert len(frame) == 4
        assert sorted(frame["strand"]) == ["+", "+", "-", "-"]
        assert set(frame["ontology_curie"]) == {K562, HEPG2}
    expected_columns = {"name", "strand", "ontology_curie", "biosample_name", "biosample_type"}
    assert expected_columns | {"Assay title"} <= set(metadata.dnase.columns)
    assert metadata.atac is None and metadata.chip_tf is None
    assert server.counters().metadata_calls == 1


def test_mouse_metadata_matches_catalogue(client):
    metadata = client.output_metadata(dna_client.Organism.MUS_MUSCULUS)
    assert set(metadata.dnase["ontology_curie"]) == {"EFO:0001084", "UBERON:0000955"}
    assert set(metadata.rna_seq["ontology_curie"]) == {"UBERON:0001013", "UBERON:0000955"}
    assert len(metadata.rna_seq) == 4
    assert set(metadata.cage["ontology_curie"]) == {"UBERON:0000955"}
    brain = metadata.dnase[metadata.dnase["ontology_curie"] == "UBERON:0000955"].iloc[0]
    assert brain["biosample_type"] == "tissue" and brain["biosample_name"] == "brain"


# ------------------------------------------------------------------------- predictions


def assert_values_follow_signal(sequence: str, output_data, output_type) -> None:
    metadata = output_data.metadata
    indices = track_indices(metadata)
    for column in range(len(metadata)):
        curie = metadata["ontology_curie"][column]
        expected = track_values(sequence, output_type, int(indices[column]), curie)
        np.testing.assert_array_equal(output_data.values[:, column], expected)


def test_client_receives_track_values_for_every_track(client):
    seq = random_sequence(3, motif_at=(1000, 9000))
    seq = seq[:4000] + "N" * 200 + seq[4200:]
    output = predict(client, seq, TRACK_OUTPUTS)
    for output_type in TRACK_OUTPUTS:
        data = output.get(output_type)
        assert data.values.dtype == np.float32 and data.values.shape[0] == L16
        assert_values_follow_signal(seq, data, output_type)
    assert output.dnase.values.shape[1] == 2 and output.cage.values.shape[1] == 4
    # The '-' track of a biosample is track_index 1 (1.25x its '+' partner).
    k562_cage = output.cage.values[:, (output.cage.metadata["ontology_curie"] == K562).to_numpy()]
    np.testing.assert_allclose(k562_cage[:, 1], 1.25 * k562_cage[:, 0], rtol=1e-6)
    assert output.atac is None


def test_ontology_filter_selects_tracks(client):
    seq = random_sequence(4)
    output = predict(client, seq, [OT.DNASE, OT.CAGE], [K562])
    assert list(output.dnase.metadata["ontology_curie"]) == [K562]
    assert list(output.cage.metadata["ontology_curie"]) == [K562, K562]
    assert list(output.cage.metadata["strand"]) == ["+", "-"]
    assert_values_follow_signal(seq, output.cage, OT.CAGE)
    adipose = [ontology.from_curie("UBERON:0001013")]
    mouse = predict(client, seq, [OT.RNA_SEQ], adipose, organism=dna_client.Organism.MUS_MUSCULUS)
    assert list(mouse.rna_seq.metadata["biosample_name"]) == ["adipose tissue"] * 2
    assert_values_follow_signal(seq, mouse.rna_seq, OT.RNA_SEQ)


def test_output_without_matching_tracks_is_sent_with_zero_columns(client):
    seq = random_sequence(5)
    # Mouse CAGE exists only for brain: 3T3-L1 has none. ATAC is not in the catalogue at all.
    outputs = [OT.CAGE, OT.ATAC, OT.DNASE]
    mouse = dna_client.Organism.MUS_MUSCULUS
    output = predict(client, seq, outputs, ["EFO:0001084"], organism=mouse)
    assert output.cage is not None and output.cage.values.shape == (L16, 0)
    assert list(output.cage.metadata.columns) == ["name", "strand"] and output.cage.metadata.empty
    assert output.atac is not None and output.atac.values.shape == (L16, 0)
    assert output.dnase.values.shape == (L16, 1)


@pytest.mark.parametrize(
    "curies", [None, [K562], ["EFO:0001084"]], ids=["all", "k562", "none-match"]
)
def test_responses_are_the_sdk_serialisation_of_the_expected_tracks(server, channel, curies):
    """Every message equals track_data_utils.to_protos of the documented values and metadata."""
    sequence = random_sequence(11, motif_at=(5000,))
    request = raw_request(sequence, outputs=(OT.CAGE, OT.DNASE))
    request.ontology_terms.extend(ontology.from_curie(c).to_proto() for c in curies or [])
    for attempt in range(2):  # the answer must not change once the selection is prepared
        responses = iter(raw_call(channel, request))
        for output in ("CAGE", "DNASE"):
            frame = pd.DataFrame(default_catalogue()["ORGANISM_HOMO_SAPIENS"][output])
            if curies is not None:
                frame = frame[frame["ontology_curie"].isin(curies)].reset_index(drop=True)
            if frame.empty:
                frame = pd.DataFrame(columns=["name", "strand"])
            values = expected_track_matrix(sequence, output, frame)
            proto, chunks = track_data_utils.to_protos(
                track_data.TrackData(values, frame), bytes_per_chunk=256 * 1024
            )
            header = next(responses)
            assert header.output.output_type == OT[output].to_proto(), attempt
            assert header.output.track_data == proto, (output, attempt)
            assert [next(responses).tensor_chunk for _ in chunks] == list(chunks), (output, attempt)
        assert next(responses, None) is None


def test_values_are_chunked_and_reassembled(server, channel):
    request = raw_request(random_sequence(6), outputs=(OT.CAGE,))
    responses = raw_call(channel, request)
    kinds = [r.WhichOneof("payload") for r in responses]
    chunk_count = responses[0].output.track_data.values.chunk_count
    # 16384 x 4 float32 = 256 KiB = exactly one default chunk.
    assert kinds == ["output"] + ["tensor_chunk"] * chunk_count and chunk_count == 1

    seq = random_sequence(7)
    with LocalAlphaGenomeServer(bytes_per_chunk=10_000) as small:
        ch = make_channel(small.address)
        responses = raw_call(ch, raw_request(seq, outputs=(OT.CAGE, OT.DNASE)))
        kinds = [r.WhichOneof("payload") for r in responses]
        # 2,500 float32 per chunk: CAGE 4 tracks -> ceil(65536/2500) = 27, DNASE 2 -> 14.
        assert kinds.count("output") == 2 and kinds.count("tensor_chunk") == 27 + 14
        output = predict(make_client(ch), seq, [OT.CAGE])
        assert_values_follow_signal(seq, output.cage, OT.CAGE)
        ch.close()


def test_bfloat16_wire_values_are_upcast_by_the_client():
    seq = random_sequence(8)
    with LocalAlphaGenomeServer(wire_dtype="bfloat16", zstd=True) as bf16:
        ch = make_channel(bf16.address)
        output = predict(make_client(ch), seq, [OT.DNASE], [K562])
        ch.close()
    expected = track_values(seq, OT.DNASE, 0, K562).astype(ml_dtypes.bfloat16).astype(np.float32)
    assert output.dnase.values.dtype == np.float32
    np.testing.assert_array_equal(output.dnase.values[:, 0], expected)


# ---------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("request_kwargs", "fragment"),
    [
        ({"sequence": "ACGT" * 250}, "Sequence length 1000"),
        ({"sequence": "ACGT" * 4095 + "ACGX"}, "Invalid sequence"),
        ({"sequence": "acgt" * 4096}, "Invalid sequence"),
        ({"organism": 0}, "Unsupported organism"),
        ({"outputs": ()}, "requested_outputs"),
    ],
)
def test_invalid_requests_are_rejected_with_invalid_argument(
    channel, server, request_kwargs, fragment
):
    request = raw_request(
        request_kwargs.get("sequence", random_sequence(9)),
        organism=request_kwargs.get("organism", HUMAN),
        outputs=request_kwargs.get("outputs", (OT.DNASE,)),
    )
    with pytest.raises(grpc.RpcError) as excinfo:
        raw_call(channel, request)
    assert excinfo.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in excinfo.value.details()
    assert server.counters().predict_calls == 1 and server.counters().completed_calls == 0


def test_reject_sequences_containing(client, server):
    server.reject_sequences_containing([DR1.lower()])
    with pytest.raises(grpc.RpcError) as excinfo:
        predict(client, random_sequence(10, motif_at=(500,)))
    assert excinfo.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    predict(client, random_sequence(10))
    assert server.counters().predict_calls == 2 and server.counters().completed_calls == 1


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED])
def test_fail_next_fails_exactly_n_calls_with_the_code(client, server, code):
    server.fail_next(2, code)
    seq = random_sequence(11)
    for _ in range(2):
        with pytest.raises(grpc.RpcError) as excinfo:
            predict(client, seq)
        assert excinfo.value.code() == code
    predict(client, seq)
    counters = server.counters()
    assert counters.predict_calls == 3 and counters.completed_calls == 1
    assert server.calls_for(seq) == 3 and server.completed_for(seq) == 1


def test_sdk_retry_recovers_from_one_unavailable(client, server):
    server.fail_next(1, grpc.StatusCode.UNAVAILABLE)
    seq = random_sequence(12)
    # The public, retry-wrapped method: attempt 1 fails, attempt 2 (~1.25 s later) succeeds.
    output = client.predict_sequence(seq, requested_outputs=[OT.DNASE], ontology_terms=[K562])
    assert output.dnase.values.shape == (L16, 1)
    assert server.calls_for(seq) == 2 and server.completed_for(seq) == 1


def failure_pattern(server: LocalAlphaGenomeServer, channel: grpc.Channel, n: int) -> list[str]:
    pattern = []
    request = raw_request(random_sequence(13))
    for _ in range(n):
        try:
            raw_call(channel, request)
            pattern.append("OK")
        except grpc.RpcError as error:
            pattern.append(error.code().name)
    return pattern


def test_random_failures_are_seeded_and_use_listed_codes(server, channel):
    codes = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED]
    server.set_failure_rate(0.5, codes, seed=123)
    first = failure_pattern(server, channel, 40)
    server.set_failure_rate(0.5, codes, seed=123)
    assert failure_pattern(server, channel, 40) == first
    assert set(first) == {"OK", "UNAVAILABLE", "RESOURCE_EXHAUSTED"}
    assert 8 <= first.count("OK") <= 32
    assert server.counters().completed_calls == 2 * first.count("OK")
    server.set_failure_rate(1.0, [grpc.StatusCode.RESOURCE_EXHAUSTED])
    assert set(failure_pattern(server, channel, 5)) == {"RESOURCE_EXHAUSTED"}


def test_hang_until_client_deadline_frees_the_handler(server):
    server.hang_next(1, 600.0)
    seq = random_sequence(14)
    ch = make_channel(server.address, deadline_s=0.3)
    client = make_client(ch)
    with pytest.raises(grpc.RpcError) as excinfo:
        predict(client, seq)
    assert excinfo.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The wait is bounded far below the 600 s hang: idle means the handler saw the client leave.
    assert server.wait_until_idle(60.0)
    assert server.calls_for(seq) == 1 and server.completed_for(seq) == 0
    predict(client, seq)  # budget used up
    assert server.completed_for(seq) == 1
    ch.close()


def test_client_cancelling_mid_stream_is_not_completed(server, channel):
    server.hang_next(1, 30.0, after_messages=1)
    seq = random_sequence(15)
    stub = dna_model_service_pb2_grpc.DnaModelServiceStub(channel)
    call = stub.PredictSequence(iter([raw_request(seq)]), metadata=[("x-goog-api-key", API_KEY)])
    first = next(call)
    assert first.WhichOneof("payload") == "output"
    call.cancel()
    assert server.wait_until_idle(2.0)
    counters = server.counters()
    assert counters.predict_calls == 1 and counters.completed_calls == 0
    assert counters.completed_calls_by_sequence.get(sequence_key(seq), 0) == 0


def test_fixed_latency_delays_each_call_without_failing_it(client, server):
    seq = random_sequence(16)
    server.set_latency(600.0)
    impatient = make_channel(server.address, deadline_s=0.3)
    with pytest.raises(grpc.RpcError) as excinfo:  # the latency outlasts the caller's deadline
        predict(make_client(impatient), seq)
    impatient.close()
    assert excinfo.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert server.wait_until_idle(60.0) and server.completed_for(seq) == 0
    server.set_latency(0.05)
    output = predict(client, seq, [OT.DNASE], [K562])  # a caller without a deadline gets it all
    np.testing.assert_array_equal(output.dnase.values[:, 0], track_values(seq, OT.DNASE, 0, K562))
    assert server.calls_for(seq) == 2 and server.completed_for(seq) == 1


def test_wrong_api_key_is_unauthenticated_and_keys_are_recorded(server, channel):
    server.expected_api_key = "right-key"
    wrong = make_client(channel, api_key="sentinel-wrong-key")
    with pytest.raises(grpc.RpcError) as excinfo:
        predict(wrong, random_sequence(17))
    assert excinfo.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as excinfo:
        wrong.output_metadata()
    assert excinfo.value.code() == grpc.StatusCode.UNAUTHENTICATED
    right = make_client(channel, api_key="right-key")
    assert right.output_metadata().dnase is not None
    counters = server.counters()
    assert counters.api_keys_seen == {"sentinel-wrong-key", "right-key"}
    assert counters.metadata_calls == 2 and counters.completed_calls == 0


# ------------------------------------------------------------------------- counters


def test_counters_track_sequences_across_concurrent_calls(client, server):
    sequences = [random_sequence(100 + i) for i in range(6)]
    outputs = client.predict_sequences(
        sequences + sequences[:2],
        requested_outputs=[OT.DNASE],
        ontology_terms=[K562],
        progress_bar=False,
    )
    assert len(outputs) == 8
    counters = server.counters()
    assert counters.predict_calls == 8 and counters.completed_calls == 8
    assert counters.predict_calls_by_sequence[sequence_key(sequences[0])] == 2
    assert counters.completed_calls_by_sequence[sequence_key(sequences[5])] == 1
    assert counters.api_keys_seen == {API_KEY}
    server.reset_counters()
    assert server.counters().predict_calls == 0 and server.calls_for(sequences[0]) == 0


def test_custom_catalogue_and_motifs_are_used():
    hepg2_dnase = default_catalogue()["ORGANISM_HOMO_SAPIENS"]["DNASE"][1]
    catalogue = {"HOMO_SAPIENS": {"DNASE": [hepg2_dnase]}}
    seq = random_sequence(18, motif_at=(2000,))
    motifs = ["TTTTTTTTTT"]
    custom = LocalAlphaGenomeServer(catalogue=catalogue, scored_motifs=motifs, motif_weight=5.0)
    with custom:
        ch = make_channel(custom.address)
        output = predict(make_client(ch), seq)
        metadata = make_client(ch).output_metadata()
        ch.close()
    assert list(output.dnase.metadata["ontology_curie"]) == [HEPG2] and metadata.cage is None
    expected = track_values(seq, OT.DNASE, 0, HEPG2, scored_motifs=motifs, motif_weight=5.0)
    np.testing.assert_array_equal(output.dnase.values[:, 0], expected)
    assert not np.array_equal(expected, track_values(seq, OT.DNASE, 0, HEPG2))


# ------------------------------------------------------------------------------ CLI


@contextlib.contextmanager
def cli_server(*flags: str) -> Iterator[subprocess.Popen]:
    """The server's command line as a process; killed afterwards if the test left it running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.alphagenome.server", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=REPO,  # `-m tests.support...` resolves from the repository root
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_serves_until_sigterm(tmp_path):
    port_file = tmp_path / "port"
    with cli_server("--port-file", str(port_file), "--latency-ms", "1") as process:
        line = process.stdout.readline().strip()
        assert line.startswith("listening on 127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        assert int(port_file.read_text()) == port
        ch = make_channel(f"127.0.0.1:{port}")
        output = predict(make_client(ch), random_sequence(19))
        assert output.dnase.values.shape == (L16, 2)
        ch.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


# ------------------------------------------------------------------ outage and quota


def google_rpc_messages():
    """google.rpc.Status and RetryInfo built from their published field definitions, so the
    server's hand-written encoding is read back by protobuf itself."""
    from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, duration_pb2, message_factory

    pool = descriptor_pool.DescriptorPool()
    for dependency in (any_pb2, duration_pb2):
        pool.AddSerializedFile(dependency.DESCRIPTOR.serialized_pb)
    field = descriptor_pb2.FieldDescriptorProto
    rpc = descriptor_pb2.FileDescriptorProto(name="google/rpc/test.proto", package="google.rpc", syntax="proto3",
                                             dependency=["google/protobuf/any.proto", "google/protobuf/duration.proto"])
    status = rpc.message_type.add(name="Status")
    status.field.add(name="code", number=1, type=field.TYPE_INT32, label=field.LABEL_OPTIONAL)
    status.field.add(name="message", number=2, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    status.field.add(name="details", number=3, type=field.TYPE_MESSAGE, label=field.LABEL_REPEATED,
                     type_name=".google.protobuf.Any")
    retry = rpc.message_type.add(name="RetryInfo")
    retry.field.add(name="retry_delay", number=1, type=field.TYPE_MESSAGE, label=field.LABEL_OPTIONAL,
                    type_name=".google.protobuf.Duration")
    pool.Add(rpc)
    return (message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status")),
            message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.RetryInfo")))


def test_an_outage_fails_every_prediction_until_lifted(client, server):
    server.set_outage(grpc.StatusCode.UNAVAILABLE)
    seq = random_sequence(21)
    for _ in range(3):
        with pytest.raises(grpc.RpcError) as excinfo:
            predict(client, seq)
        assert excinfo.value.code() == grpc.StatusCode.UNAVAILABLE
    client.output_metadata(dna_client.Organism.HOMO_SAPIENS)  # the front end still answers metadata
    server.set_outage(None)
    predict(client, seq)
    assert server.counters().predict_calls == 4 and server.counters().completed_calls == 1


def test_quota_refuses_calls_beyond_the_window_with_the_retry_delay(client, server):
    status_type, retry_info_type = google_rpc_messages()
    server.set_quota(2, per_seconds=60, retry_delay_s=1.5, retry_info=True, pushback=True)
    seq = random_sequence(22)
    predict(client, seq)
    predict(client, seq)
    with pytest.raises(grpc.RpcError) as excinfo:
        predict(client, seq)
    assert excinfo.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailing = dict(excinfo.value.trailing_metadata())
    assert trailing["grpc-retry-pushback-ms"] == "1500"
    status = status_type.FromString(trailing["grpc-status-details-bin"])
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    (detail,) = status.details
    assert detail.type_url == "type.googleapis.com/google.rpc.RetryInfo"
    delay = retry_info_type.FromString(detail.value).retry_delay
    assert (delay.seconds, delay.nanos) == (1, 500_000_000)
    assert server.counters().quota_rejections == 1
    server.set_quota(None)
    predict(client, seq)


def test_a_retry_sooner_than_the_refusal_asked_is_counted_as_early(client, server):
    server.set_quota(1, per_seconds=600, retry_delay_s=600)
    refused = random_sequence(40)
    predict(client, refused)
    for _ in range(2):  # the second refusal answers a retry that came 600 s too soon
        with pytest.raises(grpc.RpcError):
            predict(client, refused)
    counters = server.counters()
    assert (counters.quota_rejections, counters.early_quota_retries) == (2, 1)
    server.set_quota(1, per_seconds=600, retry_delay_s=0)  # no delay asked: no retry is early
    predict(client, random_sequence(41))
    for _ in range(2):
        with pytest.raises(grpc.RpcError):
            predict(client, random_sequence(41))
    counters = server.counters()
    assert (counters.quota_rejections, counters.early_quota_retries) == (4, 1)


def test_the_client_reads_the_retry_delay_the_server_sends(client, server):
    from mprabench.predictors.alphagenome import server_retry_delay

    for retry_info, pushback in ((True, False), (False, True)):
        server.set_quota(1, per_seconds=60, retry_delay_s=0.25, retry_info=retry_info, pushback=pushback)
        predict(client, random_sequence(23))
        with pytest.raises(grpc.RpcError) as excinfo:
            predict(client, random_sequence(23))
        assert server_retry_delay(excinfo.value) == pytest.approx(0.25)


def test_cli_quota_and_outage_toggle(tmp_path):
    with cli_server("--quota-calls", "1", "--quota-seconds", "60", "--retry-delay-ms", "250") as process:
        port = int(process.stdout.readline().strip().rsplit(":", 1)[1])
        ch = make_channel(f"127.0.0.1:{port}")
        client = make_client(ch)
        predict(client, random_sequence(24))
        with pytest.raises(grpc.RpcError) as excinfo:
            predict(client, random_sequence(24))
        assert excinfo.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with pytest.raises(grpc.RpcError) as excinfo:
                predict(client, random_sequence(24))
            if excinfo.value.code() == grpc.StatusCode.UNAVAILABLE:
                break
            time.sleep(0.05)
        assert excinfo.value.code() == grpc.StatusCode.UNAVAILABLE
        ch.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
