"""The predict stage with the AlphaGenome predictor against a real local gRPC server.

The server implements the SDK's DnaModelService; the stage uses the SDK's real DnaClient.
"""

from __future__ import annotations

import os
import re
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
from mprabench.predictors.alphagenome import AdaptiveLimit, MissingApiKey, ServiceDown, supported_lengths
from mprabench.predictors.base import TooManyRequests
from mprabench.predictors.features import pad_for_model
from mprabench.predictors.runner import PredictionsFailed
from mprabench.predictors.store import STORE_ENV, ProfileStore, last_catalogue
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
        return sequence_key(pad_for_model(self.inputs[sha], supported_lengths())[0])


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


def test_the_catalogue_check_and_the_requests_of_a_run_share_one_connection(run_in, server):
    run_in(count=3).run()
    counters = server.counters()
    assert (counters.metadata_calls, counters.predict_calls, counters.connections) == (1, 3, 1)


# The store keeps float16: each value is rounded to within 2**-11 of itself (relative), so a
# mean or max of non-negative values is within 2**-11 (relative) of the exact one.
FLOAT16_REL = 2**-11 + 1e-6


def test_a_run_over_its_request_budget_stops_before_the_first_request(run_in, server):
    setup = run_in(count=6, overrides=["predictor.max_new_requests=5"])
    with pytest.raises(TooManyRequests) as stopped:
        setup.run()
    message = str(stopped.value)
    assert "6 new requests" in message and "predictor.max_new_requests = 5" in message
    assert "-S predictor.max_new_requests=6" in message and "dataset.subset" in message
    assert (server.counters().predict_calls, server.counters().metadata_calls) == (0, 0)
    assert not (setup.directory / "features.parquet").exists()

    setup.overrides = ["predictor.max_new_requests=6"]
    setup.write()
    assert setup.run()["requested"] == 6 and server.counters().predict_calls == 6
    setup.overrides = ["predictor.max_new_requests=0"]  # everything is stored: 0 new requests are allowed
    setup.write()
    assert setup.run()["served_from_store"] == 6 and server.counters().predict_calls == 6


def test_the_budget_counts_only_inputs_missing_from_the_store(run_in, server):
    first = run_in(count=4, seed=1)
    first.run()
    assert server.counters().predict_calls == 4
    setup = PredictRun(first.directory, server, first.inputs | random_sequences(2, seed=2),
                       ["predictor.max_new_requests=2"])
    setup.write()
    assert setup.run()["requested"] == 2 and server.counters().predict_calls == 6


def test_features_are_read_from_the_original_positions_of_every_track(run_in, server):
    setup = run_in(count=2)
    setup.run()
    features = setup.features()
    for sha, sequence in setup.inputs.items():
        padded, placement = pad_for_model(sequence, supported_lengths())
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
    store = stored_store(setup)
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
    with pytest.raises(ConfigError, match=r"no tracks for HOMO_SAPIENS biosample EFO:0001084 .*Closest biosamples"):
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
    while len(list(records.rglob("profiles/*/*.rec"))) < 3 and time.monotonic() < deadline:
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


def stored_store(setup: PredictRun, store: str = "store") -> ProfileStore:
    """The store under the tracks the last run chose (as the next run finds it)."""
    fields = _store_key_fields(setup)
    tracks = last_catalogue(setup.directory / store, fields)
    assert tracks is not None, "the run left its tracks in the store"
    return ProfileStore(setup.directory / store, fields, tracks)


def _store_key_fields(setup: PredictRun) -> dict:
    from mprabench.config import load_params
    from mprabench.predictors.alphagenome import AlphaGenomePredictor
    from mprabench.predictors.biosample import BiosampleDefaults
    from mprabench.predictors.resolve import configured_predictor

    path = setup.directory / "params.yaml"
    params = load_params(path)
    return AlphaGenomePredictor(configured_predictor(params, path).settings,
                                biosample=BiosampleDefaults.of(params)).store_key_fields()


def test_transient_metadata_failure_is_retried_and_the_tracks_used_are_recorded(run_in, server):
    setup = run_in(count=1)
    server.fail_metadata_next(2, grpc.StatusCode.UNAVAILABLE)
    setup.run()
    assert server.counters().metadata_calls == 3
    provenance = pd.read_json(setup.directory / "provenance.json", typ="series")
    assert provenance["tracks"] == {"DNASE": 1, "CAGE": 2, "RNA_SEQ": 2}


FAST_BREAKER = ["predictor.breaker_failures=3", "predictor.breaker_seconds=0.3", "predictor.max_retries=50"]


def stored_profiles(directory: Path) -> list[Path]:
    return list(directory.rglob("profiles/*/*.rec"))


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
    assert provenance["predictor"] == "alphagenome" and provenance["store_key"] == stored_store(setup).full_key
    assert (provenance["model_version"], provenance["organism"]) == ("ALL_FOLDS", "HOMO_SAPIENS")
    assert provenance["biosamples"] == [{"ontology_term": K562, "biosample_name": "K562",
                                         "biosample_type": "cell_line", "organism": "HOMO_SAPIENS"}]


# ---- a self-checking store, answers tied to their tracks, rejected keys (issue 22)


def test_a_damaged_record_is_moved_aside_counted_named_and_requested_again(run_in, server, caplog):
    setup = run_in(count=4)
    setup.run()
    first = setup.features()
    victim = sorted(setup.inputs)[1]
    record = stored_store(setup).profile_path(victim)
    data = bytearray(record.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit in the middle of the values
    record.write_bytes(bytes(data))
    server.reset_counters()
    with caplog.at_level("WARNING"):
        metrics = setup.run()
    assert server.counters().predict_calls == 1 and server.calls_for(setup.inputs[victim]) == 0
    assert server.counters().predict_calls_by_sequence == {setup.server_key(victim): 1}
    assert (metrics["store_damaged"], metrics["requested"], metrics["served_from_store"]) == (1, 1, 3)
    assert victim in caplog.text and "checksum mismatch" in caplog.text and "moved to" in caplog.text
    moved = list((stored_store(setup).base / "damaged").rglob(f"{victim}.rec.*"))
    assert len(moved) == 1 and moved[0].read_bytes() == bytes(data), "kept, never deleted"
    pd.testing.assert_frame_equal(setup.features(), first)


def test_a_response_with_other_tracks_than_chosen_is_rejected_naming_the_difference(run_in, server):
    setup = run_in(count=3)
    server.ignore_ontology_filter()  # the service answers with K562 and HepG2 tracks
    with pytest.raises(PredictionsFailed) as raised:
        setup.run()
    message = str(raised.value)
    assert "3 of 3 model inputs failed" in message and "not the chosen ones" in message
    assert "2 tracks received, 1 chosen" in message and "not chosen: EFO:0001187" in message  # HepG2
    assert server.counters().predict_calls == 3
    assert stored_profiles(setup.directory / "store") == [], "a mismatching answer is never stored"

    server.ignore_ontology_filter(False)
    server.reset_counters()
    metrics = setup.run()
    assert server.counters().predict_calls == 3 and metrics["requested"] == 3
    provenance = pd.read_json(setup.directory / "provenance.json", typ="series")
    assert provenance["tracks"] == {"DNASE": 1, "CAGE": 2, "RNA_SEQ": 2}


def _catalogue_with_an_extra_k562_dnase_track() -> dict:
    from tests.support.alphagenome.tracks import default_catalogue

    catalogue = default_catalogue()
    human = catalogue["ORGANISM_HOMO_SAPIENS"]
    extra = dict(next(t for t in human["DNASE"] if t.get("ontology_curie") == K562))
    human["DNASE"].append({**extra, "name": extra["name"] + " (second lab)"})
    return catalogue


def test_a_changed_catalogue_gets_a_new_key_not_a_mix(run_in, server):
    setup = run_in(count=3)
    setup.run()
    before = pd.read_json(setup.directory / "provenance.json", typ="series")
    server.set_catalogue(_catalogue_with_an_extra_k562_dnase_track())
    setup.inputs |= random_sequences(1, seed=7)  # one new input makes the run ask the service
    setup.write()
    server.reset_counters()
    metrics = setup.run()
    after = pd.read_json(setup.directory / "provenance.json", typ="series")
    assert server.counters().predict_calls == 4, "every input is requested again under the new tracks"
    assert (metrics["requested"], metrics["served_from_store"]) == (4, 0)
    assert after["tracks"] == {"DNASE": 2, "CAGE": 2, "RNA_SEQ": 2} and before["tracks"]["DNASE"] == 1
    assert after["store_key"] != before["store_key"]
    assert after["store_key"].split("/")[0] == before["store_key"].split("/")[0], "same model settings"
    tracks = last_catalogue(setup.directory / "store", _store_key_fields(setup))
    assert len(tracks["DNASE"]) == 2


def test_all_stored_inputs_are_served_without_key_network_or_tracks_json(run_in, server, monkeypatch):
    setup = run_in(count=3)
    setup.run()
    expected = setup.features()
    store = stored_store(setup)
    (store.directory / "tracks.json").unlink()
    server.stop()
    monkeypatch.delenv("ALPHAGENOME_API_KEY")
    metrics = setup.run()
    assert (metrics["requested"], metrics["served_from_store"], metrics["failed"]) == (0, 3, 0)
    pd.testing.assert_frame_equal(setup.features(), expected)
    provenance = pd.read_json(setup.directory / "provenance.json", typ="series")
    assert provenance["tracks"] == {"DNASE": 1, "CAGE": 2, "RNA_SEQ": 2} and provenance["biosamples"]
    assert server.counters().predict_calls == 3 and server.counters().metadata_calls == 1, "the first run's only"


def test_garbage_tracks_json_is_detected_counted_and_rewritten_from_the_service(run_in, server):
    setup = run_in(count=2)
    setup.run()
    store = stored_store(setup)
    for name in ("tracks.json",):
        (store.directory / name).write_text("{not json")
    for record in stored_profiles(setup.directory / "store"):
        record.write_bytes(b"garbage")  # and no record to restore the tracks from
    server.reset_counters()
    metrics = setup.run()
    assert metrics["store_damaged"] == 3 and metrics["requested"] == 2
    assert server.counters().metadata_calls == 1 and server.counters().predict_calls == 2
    assert stored_store(setup).tracks()["CAGE"], "tracks.json rewritten from the service's catalogue"


def test_a_key_rejected_for_predictions_stops_the_run_at_the_first_rejection(run_in, server):
    setup = run_in(count=12, overrides=["predictor.max_workers=2"])
    server.reject_key_for_predictions()  # metadata still answers: the key is accepted there
    with pytest.raises(BenchmarkError) as raised:
        setup.run()
    message = str(raised.value)
    assert "UNAUTHENTICATED" in message and "ALPHAGENOME_API_KEY" in message and ".env" in message
    assert "Stored: 0 of the 12" in message
    assert server.counters().predict_calls <= 2, "only the requests already in flight"


def test_quota_and_transient_errors_do_not_stop_the_run(run_in, server):
    setup = run_in(count=4)
    server.fail_next(2, grpc.StatusCode.UNAVAILABLE)
    metrics = setup.run()
    assert metrics["failed"] == 0 and server.counters().predict_calls == 6


@pytest.mark.parametrize("route", ["temp_copy", "linked_worktree"])
def test_dotenv_is_found_from_every_route(run_in, server, monkeypatch, tmp_path, route):
    """`--dotenv .env` (as dvc.yaml passes it) from a `--temp`/`--queue` copy under .dvc/tmp/exps
    (DVC_ROOT is the user's repository) and from a linked worktree (the .env is in the main one)."""
    setup = run_in(count=1)
    monkeypatch.delenv("ALPHAGENOME_API_KEY")
    repository = tmp_path / "repository"
    repository.mkdir()
    (repository / ".env").write_text(f"ALPHAGENOME_API_KEY={KEY}\n")
    if route == "temp_copy":
        workdir = repository / ".dvc" / "tmp" / "exps" / "tmpabc123"
        workdir.mkdir(parents=True)
        monkeypatch.setenv("DVC_ROOT", str(repository))
    else:
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
        subprocess.run([*git, "init", "-q"], cwd=repository, check=True)
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], cwd=repository, check=True)
        workdir = tmp_path / "linked"
        subprocess.run([*git, "worktree", "add", "-q", str(workdir)], cwd=repository, check=True)
        monkeypatch.setenv("DVC_ROOT", str(workdir))
    monkeypatch.chdir(workdir)
    argv = setup.argv()
    argv[argv.index("--dotenv") + 1] = ".env"
    predict.main(argv)
    assert server.counters().api_keys_seen == {KEY} and server.counters().predict_calls == 1


def test_a_missing_dotenv_names_the_repository_file(run_in, server, monkeypatch, tmp_path):
    setup = run_in(count=1)
    monkeypatch.delenv("ALPHAGENOME_API_KEY")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    argv = setup.argv()
    argv[argv.index("--dotenv") + 1] = ".env"
    with pytest.raises(MissingApiKey, match=re.escape(str(tmp_path / ".env"))):
        predict.main(argv)
    assert server.counters().predict_calls == 0 and server.counters().metadata_calls == 0


def test_a_full_disk_names_the_prediction_store_not_a_file(run_in, server):
    """RLIMIT_FSIZE makes every write past 3 KB fail (EFBIG), as a full disk fails a write (ENOSPC)."""
    setup = run_in(count=2)
    # The limit is set by the stage's own interpreter, not by a preexec_fn: a preexec_fn runs in a fork
    # of this process, and with this process's gRPC server running the fork sometimes crashed (-6, -11).
    limited_stage = (
        "import resource, runpy, signal, sys; "
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "  # the write fails with EFBIG instead of a kill
        "resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000)); "  # tracks.json (1.4 KB) fits, a record (4.8 KB) not
        "sys.argv = sys.argv[1:]; runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)"
    )
    env = {**os.environ, "ALPHAGENOME_API_KEY": KEY}
    result = subprocess.run([sys.executable, "-c", limited_stage, "mprabench.stages.predict", *setup.argv()],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"error: prediction store {setup.directory / 'store'}: cannot write the answer" in result.stderr
    assert "File too large" in result.stderr and "rerun" in result.stderr
    assert server.counters().predict_calls <= 2 + 4, "stopped instead of requesting on and on"
