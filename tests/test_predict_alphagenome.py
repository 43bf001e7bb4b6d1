"""The predict stage with the AlphaGenome predictor against a real local gRPC server.

The server implements the SDK's DnaModelService; the stage uses the SDK's real DnaClient.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
import pandas as pd
import pytest

from mprabench.dna import sequence_sha256
from mprabench.errors import BenchmarkError, ConfigError
from mprabench.fasta import write_fasta
from mprabench.predictors.alphagenome import SUPPORTED_LENGTHS, AdaptiveLimit, MissingApiKey, ServiceDown
from mprabench.predictors.features import pad_for_model
from mprabench.predictors.runner import PredictionsFailed
from mprabench.predictors.store import STORE_ENV, ProfileStore
from mprabench.stages import predict
from tests.support.alphagenome.server import LocalAlphaGenomeServer, sequence_key
from tests.support.alphagenome.tracks import track_values
from tests.conftest import write_params

KEY = "test-key-0000"
K562 = "EFO:0002067"


def random_sequences(count: int, length: int = 2_048, seed: int = 0) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    sequences = ["".join(rng.choice(list("ACGT"), length)) for _ in range(count)]
    return {sequence_sha256(s): s for s in sequences}


@dataclass
class PredictRun:
    directory: Path
    server: LocalAlphaGenomeServer
    inputs: dict[str, str]
    overrides: list[str] = field(default_factory=list)

    def write(self, rows_per_input: int = 3) -> None:
        write_fasta(self.directory / "inputs.fa", self.inputs)
        rows = [(f"oligo_{i}_{j}", sha) for i, sha in enumerate(self.inputs) for j in range(rows_per_input)]
        pd.DataFrame(rows, columns=["row_id", "input_sha256"]).to_parquet(self.directory / "rows.parquet")
        write_params(self.directory / "params.yaml", [
            f"predictor.address='{self.server.address}'", "predictor.insecure=true", "predictor.timeout_s=1.0",
            "predictor.connect_timeout_s=5", "predictor.initial_backoff_s=0.01", "predictor.max_backoff_s=0.05",
            *self.overrides,
        ])

    def argv(self, store: str = "store") -> list[str]:
        d = self.directory
        return ["--params", str(d / "params.yaml"), "--inputs", str(d / "inputs.fa"), "--rows", str(d / "rows.parquet"),
                "--store", str(d / store), "--features", str(d / "features.parquet"), "--metrics",
                str(d / "predict.json"), "--provenance", str(d / "provenance.json"), "--dotenv", str(d / ".env"),
                "--no-progress"]

    def run(self, store: str = "store") -> dict:
        predict.main(self.argv(store))
        return pd.read_json(self.directory / "predict.json", typ="series").to_dict()

    def features(self) -> pd.DataFrame:
        return pd.read_parquet(self.directory / "features.parquet").set_index("input_sha256")

    def server_key(self, sha: str) -> str:
        return sequence_key(pad_for_model(self.inputs[sha], SUPPORTED_LENGTHS)[0])


@pytest.fixture
def server():
    with LocalAlphaGenomeServer() as running:
        yield running


@pytest.fixture
def run_in(tmp_path, server, monkeypatch):
    monkeypatch.setenv("ALPHAGENOME_API_KEY", KEY)
    monkeypatch.delenv(STORE_ENV, raising=False)  # the --store folder under tmp_path, not a user's store

    def make(count: int = 6, overrides: list[str] | None = None, seed: int = 0) -> PredictRun:
        setup = PredictRun(tmp_path, server, random_sequences(count, seed=seed), overrides or [])
        setup.write()
        return setup

    return make


def test_k_distinct_inputs_cost_exactly_k_requests_and_a_rerun_none(run_in, server):
    setup = run_in(count=6)  # 18 rows share 6 inputs
    metrics = setup.run()
    assert server.counters().predict_calls == 6
    assert set(server.counters().completed_calls_by_sequence.values()) == {1}
    assert (metrics["distinct_inputs"], metrics["requested"], metrics["served_from_store"]) == (6, 6, 0)
    assert set(setup.features().index) == set(setup.inputs)

    metrics = setup.run()
    assert server.counters().predict_calls == 6, "a second run requests nothing"
    assert (metrics["requested"], metrics["served_from_store"]) == (0, 6)


# The store keeps float16: each value is rounded to within 2**-11 of itself (relative), so a
# mean or max of non-negative values is within 2**-11 (relative) of the exact one.
FLOAT16_REL = 2**-11 + 1e-6


def test_features_are_read_from_the_original_positions_of_every_track(run_in, server):
    setup = run_in(count=2)
    setup.run()
    features = setup.features()
    for sha, sequence in setup.inputs.items():
        padded, placement = pad_for_model(sequence, SUPPORTED_LENGTHS)
        own = slice(placement.offset, placement.offset + placement.length)
        centre = slice(placement.offset + 924, placement.offset + 1_124)
        for output, prefix, tracks in (("DNASE", "dnase", 1), ("CAGE", "cage", 2), ("RNA_SEQ", "rna", 2)):
            matrix = np.stack([track_values(padded, output, i, K562) for i in range(tracks)], axis=1)
            assert features.loc[sha, f"{prefix}_mean"] == pytest.approx(matrix[own].mean(), rel=FLOAT16_REL)
            assert features.loc[sha, f"{prefix}_max"] == pytest.approx(matrix[own].max(), rel=FLOAT16_REL)
            assert features.loc[sha, f"{prefix}_center"] == pytest.approx(matrix[centre].mean(), rel=FLOAT16_REL)


def test_one_and_four_workers_give_identical_predictions(run_in, server):
    setup = run_in(count=8, overrides=["predictor.max_workers=1"])
    setup.run(store="store1")
    one = setup.features()
    setup.overrides = ["predictor.max_workers=4"]
    setup.write()
    setup.run(store="store4")
    pd.testing.assert_frame_equal(one, setup.features())


def test_thirty_percent_transient_faults_still_complete(run_in, server):
    setup = run_in(count=10, overrides=["predictor.max_retries=12"])
    server.set_failure_rate(0.3, [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED], seed=3)
    metrics = setup.run()
    counters = server.counters()
    assert metrics["failed"] == 0 and len(setup.features()) == 10
    assert metrics["retries"] > 0
    assert counters.predict_calls == 10 + metrics["retries"]
    assert set(counters.completed_calls_by_sequence.values()) == {1}


def test_a_hang_ends_at_the_deadline_and_is_retried(run_in, server):
    setup = run_in(count=2, overrides=["predictor.timeout_s=0.5"])
    server.hang_next(1, seconds=600)
    metrics = setup.run()
    assert metrics["retries"] == 1 and metrics["failed"] == 0
    counters = server.counters()
    assert counters.predict_calls == 3 and counters.completed_calls == 2  # the hung call was cut


def test_permanent_faults_fail_the_stage_listing_inputs_and_keep_successes(run_in, server):
    setup = run_in(count=5)
    bad = sorted(setup.inputs)[:2]
    bad_keys = {setup.server_key(sha) for sha in bad}
    server.reject_sequences(lambda sequence: sequence_key(sequence) in bad_keys)
    with pytest.raises(PredictionsFailed) as raised:
        setup.run()
    message = str(raised.value)
    assert "2 of 5 model inputs failed" in message
    for sha in bad:
        assert sha in message
    assert "INVALID_ARGUMENT" in message and "oligo_" in message, "failures name rows and the status"
    store = ProfileStore(setup.directory / "store", _store_key_fields(setup))
    assert store.stored(list(setup.inputs)) == set(setup.inputs) - set(bad)
    assert pd.read_json(setup.directory / "predict.json", typ="series")["failed"] == 2

    server.reject_sequences(None)
    metrics = setup.run()
    assert metrics["requested"] == 2 and metrics["served_from_store"] == 3


def test_unauthenticated_is_a_clear_error(run_in, server):
    server.expected_api_key = "another-key"
    setup = run_in(count=2)
    with pytest.raises(BenchmarkError, match="UNAUTHENTICATED.*ALPHAGENOME_API_KEY"):
        setup.run()
    assert server.counters().predict_calls == 0


def test_missing_key_stops_before_any_request(run_in, server, monkeypatch):
    setup = run_in(count=2)
    monkeypatch.delenv("ALPHAGENOME_API_KEY")
    with pytest.raises(MissingApiKey) as raised:
        setup.run()
    message = str(raised.value)
    assert "ALPHAGENOME_API_KEY is not set" in message
    assert "https://deepmind.google.com/science/alphagenome" in message
    assert "-S predictor=gc" in message and ".env" in message
    counters = server.counters()
    assert counters.predict_calls == 0 and counters.metadata_calls == 0


def test_key_from_a_dotenv_file(run_in, server, monkeypatch):
    setup = run_in(count=1)
    monkeypatch.delenv("ALPHAGENOME_API_KEY")
    (setup.directory / ".env").write_text(f"ALPHAGENOME_API_KEY={KEY}\n")
    setup.run()
    assert server.counters().api_keys_seen == {KEY}


def test_ontology_term_without_tracks_is_refused(run_in, server):
    setup = run_in(count=1, overrides=["predictor.ontology_terms=[EFO:0001084]"])  # a mouse term
    with pytest.raises(ConfigError, match=r"no DNASE track for HOMO_SAPIENS .*EFO:0001084.*Available terms"):
        setup.run()
    assert server.counters().predict_calls == 0


def test_mouse_outputs_for_adipocyte_terms(run_in, server):
    setup = run_in(count=1, overrides=[
        "predictor.organism=MUS_MUSCULUS", "predictor.outputs=[DNASE,RNA_SEQ]",
        "predictor.ontology_terms=[EFO:0001084,UBERON:0001013]"])
    setup.run()
    assert set(setup.features().columns) == {"dnase_mean", "dnase_max", "dnase_center", "rna_mean", "rna_max",
                                             "rna_center"}


def test_sentinel_key_is_sent_but_never_written(run_in, server, capfd, monkeypatch):
    sentinel = "SENTINEL-KEY-7f3a9c"
    setup = run_in(count=2)
    monkeypatch.setenv("ALPHAGENOME_API_KEY", sentinel)
    setup.run()
    assert server.counters().api_keys_seen == {sentinel}
    output = capfd.readouterr()
    written = [p for p in setup.directory.rglob("*") if p.is_file()]
    assert all(sentinel.encode() not in p.read_bytes() for p in written)
    assert sentinel not in output.out + output.err


def test_killed_mid_run_then_rerun_requests_no_answered_input_again(run_in, server, tmp_path):
    setup = run_in(count=8)
    server.set_latency(0.3)
    records = setup.directory / "store"
    env = {**os.environ, "ALPHAGENOME_API_KEY": KEY}
    process = subprocess.Popen([sys.executable, "-m", "mprabench.stages.predict", *setup.argv()], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while len(list(records.rglob("profiles/*/*.zst"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    server.wait_until_idle()
    first = server.counters()
    answered_first = {k for k, n in first.completed_calls_by_sequence.items() if n}
    assert 3 <= len(answered_first) < 8, "killed mid-run"

    server.set_latency(0.0)
    server.reset_counters()
    metrics = setup.run()
    second = server.counters()
    assert set(second.predict_calls_by_sequence).isdisjoint(answered_first), "an answered input was requested again"
    assert metrics["served_from_store"] >= len(answered_first) and metrics["failed"] == 0
    assert len(setup.features()) == 8


def _store_key_fields(setup: PredictRun) -> dict:
    from mprabench.config import load_params
    from mprabench.predictors.alphagenome import AlphaGenomePredictor
    from mprabench.predictors.resolve import configured_predictor

    path = setup.directory / "params.yaml"
    return AlphaGenomePredictor(configured_predictor(load_params(path), path).settings).store_key_fields()


def test_transient_metadata_failure_is_retried_and_the_tracks_used_are_recorded(run_in, server):
    setup = run_in(count=1)
    server.fail_metadata_next(2, grpc.StatusCode.UNAVAILABLE)
    setup.run()
    assert server.counters().metadata_calls == 3
    provenance = pd.read_json(setup.directory / "provenance.json", typ="series")
    assert provenance["tracks"] == {"DNASE": 1, "CAGE": 2, "RNA_SEQ": 2}


FAST_BREAKER = ["predictor.breaker_failures=3", "predictor.breaker_seconds=0.3", "predictor.max_retries=50"]


def stored_profiles(directory: Path) -> list[Path]:
    return list(directory.rglob("profiles/*/*.zst"))


def test_a_dead_backend_opens_the_breaker_before_one_input_exhausts_its_retries(run_in, server):
    setup = run_in(count=4, overrides=FAST_BREAKER)
    server.set_outage(grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(ServiceDown) as raised:
        setup.run()
    message = str(raised.value)
    assert "circuit breaker" in message and "UNAVAILABLE" in message
    assert "Stored: 0 of the 4 inputs" in message and "Left: 4" in message and "run the same command" in message
    assert server.counters().predict_calls < 51, "stopped before even one input used its 50 retries"


def test_an_unreachable_server_stops_the_run_and_a_rerun_requests_only_what_is_left(run_in, server):
    setup = run_in(count=6, overrides=[*FAST_BREAKER, "predictor.max_workers=1"])
    server.set_latency(0.2)
    stopper = threading.Thread(target=_stop_after_answers, args=(server, 2))
    stopper.start()
    with pytest.raises(ServiceDown) as raised:
        setup.run()
    stopper.join()
    stored = len(stored_profiles(setup.directory / "store"))
    assert 2 <= stored < 6
    assert f"Stored: {stored} of the 6 inputs" in str(raised.value) and f"Left: {6 - stored}" in str(raised.value)

    with LocalAlphaGenomeServer() as revived:  # the service is back, on another port
        setup.server = revived
        setup.write()
        metrics = setup.run()
        assert metrics["requested"] == 6 - stored and metrics["served_from_store"] == stored
        assert revived.counters().predict_calls == 6 - stored


def _stop_after_answers(server: LocalAlphaGenomeServer, answers: int) -> None:
    deadline = time.monotonic() + 30
    while server.counters().completed_calls < answers and time.monotonic() < deadline:
        time.sleep(0.01)
    server.stop(grace=0)


@pytest.mark.parametrize("carrier", ["retry_info", "pushback"])
def test_quota_answers_slow_the_run_down_and_it_completes(run_in, server, carrier):
    delay = 0.2
    # A breaker that would open at the first dead-service failure: quota answers must not count.
    setup = run_in(count=10, overrides=["predictor.max_workers=4", "predictor.max_quota_retries=100",
                                        "predictor.breaker_failures=1", "predictor.breaker_seconds=0"])
    server.set_quota(3, per_seconds=0.3, retry_delay_s=delay, retry_info=carrier == "retry_info",
                     pushback=carrier == "pushback")
    metrics = setup.run()
    counters = server.counters()
    assert metrics["failed"] == 0 and len(setup.features()) == 10
    assert counters.quota_rejections > 0 and metrics["retries"] == counters.quota_rejections
    assert counters.predict_calls == 10 + counters.quota_rejections
    assert counters.early_quota_retries == 0  # no retry came sooner than the refusal asked


def test_quota_answers_halve_the_requests_in_flight_and_successes_restore_them():
    limit = AdaptiveLimit(4)
    stopping = threading.Event()
    for _ in range(4):
        assert limit.acquire(stopping)
    limit.release("quota")
    assert limit.limit == 2
    for _ in range(3):
        limit.release("ok")
    assert limit.limit == 3, "two successes in a row at limit 2 allow one more in flight"
    stopping.set()
    for _ in range(3):
        assert limit.acquire(stopping)
    assert not limit.acquire(stopping), "full, and stopping: no wait"


def test_ctrl_c_stops_within_seconds_keeps_every_answer_and_prints_no_traceback(run_in, server):
    setup = run_in(count=10, overrides=["predictor.max_workers=2"])
    server.set_latency(0.3)
    env = {**os.environ, "ALPHAGENOME_API_KEY": KEY}
    process = subprocess.Popen([sys.executable, "-m", "mprabench.stages.predict", *setup.argv()], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(stored_profiles(setup.directory)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=10)  # raises if the run did not stop
    assert process.returncode != 0
    assert "Traceback" not in stderr and "interrupted (Ctrl-C)" in stderr, stderr
    stored = len(stored_profiles(setup.directory))
    assert 2 <= stored < 10 and f"Stored: {stored} of the 10" in stderr

    server.set_latency(0.0)
    server.reset_counters()
    metrics = setup.run()
    assert metrics["requested"] == 10 - stored and server.counters().predict_calls == 10 - stored


def test_two_runs_sharing_a_store_request_each_input_once(run_in, server):
    setup = run_in(count=6, overrides=["predictor.max_workers=2"])
    server.set_latency(0.15)
    env = {**os.environ, "ALPHAGENOME_API_KEY": KEY}
    runs = [subprocess.Popen([sys.executable, "-m", "mprabench.stages.predict", *setup.argv()], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for process in runs:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
    assert server.counters().predict_calls == 6
    assert set(server.counters().predict_calls_by_sequence.values()) == {1}


def test_a_new_feature_window_costs_no_request(run_in, server):
    setup = run_in(count=3)
    setup.run()
    before = setup.features()
    setup.overrides = ["predictor.features.center_width=500"]
    setup.write()
    metrics = setup.run()
    assert server.counters().predict_calls == 3 and metrics["requested"] == 0 and metrics["served_from_store"] == 3
    after = setup.features()
    assert not np.allclose(before["dnase_center"], after["dnase_center"])
    pd.testing.assert_series_equal(before["dnase_mean"], after["dnase_mean"])


def test_provenance_names_the_source_and_the_biosamples_from_the_service_metadata(run_in, server):
    setup = run_in(count=1)
    setup.run()
    provenance = pd.read_json(setup.directory / "provenance.json", typ="series").to_dict()
    assert provenance["source"] == "local test server (synthetic tracks)"
    assert provenance["predictor"] == "alphagenome" and len(provenance["store_key"]) == 16
    assert (provenance["model_version"], provenance["organism"]) == ("ALL_FOLDS", "HOMO_SAPIENS")
    assert provenance["biosamples"] == [{"ontology_term": K562, "biosample_name": "K562",
                                         "biosample_type": "cell_line", "organism": "HOMO_SAPIENS"}]
