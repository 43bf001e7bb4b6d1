"""Requests = distinct inputs not already in the store, on every DVC route.

Each test runs DVC in a temporary git copy of the repository against the local AlphaGenome
server, which counts requests. Experiments target the `predict` stage (fetch, prepare,
predict): the later stages never request anything. The store is the default one of the copy (resolved from its
main worktree, outside every DVC output), and dvc.lock is never committed in between.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from mprabench.predictors.store import STORE_ENV
from mprabench.testing.alphagenome_server import LocalAlphaGenomeServer
from mprabench.testing.repo_copy import RepoCopy, make_repo_copy
from tests.conftest import REPO, compose_config

pytestmark = pytest.mark.e2e

KEY = "route-test-key"
FAST = ["evaluate.n_bootstrap=100", "evaluate.n_permutations=200"]


@pytest.fixture
def server():
    with LocalAlphaGenomeServer(expected_api_key=KEY) as running:
        yield running


@pytest.fixture
def repo(tmp_path, tiny_library):
    copy = make_repo_copy(REPO, tmp_path / "repo")
    copy.env["ALPHAGENOME_API_KEY"] = KEY
    copy.env.pop(STORE_ENV, None)  # the default store: <main worktree of the copy>/prediction_store
    fasta = tmp_path / "genome.fa"
    tiny_library.genome.write_chromosome_fasta(fasta)
    copy.add_config("dataset", "tiny", tiny_library.dataset_section())
    copy.add_config("genome", "tiny", {**compose_config()["genome"], "fasta": str(fasta)})
    return copy


def settings(server: LocalAlphaGenomeServer, *more: str) -> list[str]:
    """The `predict` target and its overrides."""
    overrides = ["dataset=tiny", "genome=tiny", f"predictor.address={server.address}", "predictor.insecure=true",
                 "predictor.initial_backoff_s=0.05", *FAST, *more]
    return ["predict", *[arg for o in overrides for arg in ("-S", o)]]


def requests_during(server: LocalAlphaGenomeServer, action) -> int:
    before = server.counters().predict_calls
    action()
    return server.counters().predict_calls - before


def stored_profiles(repo: RepoCopy) -> int:
    return len(list((repo.root / "prediction_store").rglob("profiles/*/*.zst")))


def test_exp_run_feature_change_and_temp_request_only_new_inputs(repo, server):
    assert requests_during(server, lambda: repo.dvc("exp", "run", *settings(server, "experiment=v2"))) == 4
    assert stored_profiles(repo) == 4
    assert not (repo.root / "prediction_store").is_relative_to(repo.root / "data"), "not inside a DVC output"
    status = repo.git("status", "--porcelain", "--ignored").stdout
    assert "prediction_store" in status and "!! prediction_store/" in status, "ignored by git"

    new_window = settings(server, "experiment=v2", "predictor.features.center_width=500")
    assert requests_during(server, lambda: repo.dvc("exp", "run", *new_window)) == 0
    temp = settings(server, "experiment=v2", "predictor.max_workers=2")
    assert requests_during(server, lambda: repo.dvc("exp", "run", "--temp", *temp)) == 0
    assert requests_during(server, lambda: repo.dvc("exp", "run", "--temp", *settings(server, "experiment=v1"))) == 4
    assert stored_profiles(repo) == 8


def test_queued_experiments_run_two_at_a_time_request_each_distinct_input_once(repo, server):
    server.set_latency(0.2)  # the two v2 runs overlap: the per-input claims make them share answers
    for name, extra in (("v1", ["experiment=v1"]), ("v2a", ["experiment=v2"]),
                        ("v2b", ["experiment=v2", "predictor.features.center_width=300"])):
        repo.dvc("exp", "run", "--queue", "-n", name, *settings(server, *extra))
    repo.dvc("queue", "start", "-j", "2")
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        status = repo.dvc("queue", "status").stdout
        if not re.search(r"\b(Queued|Running)\b", status):
            break
        time.sleep(2)
    assert status.count("Success") == 3, status
    assert server.counters().predict_calls == 8, "4 v1 inputs + 4 v2 inputs, each requested once"
    assert stored_profiles(repo) == 8


def test_kill_9_mid_predict_then_exp_run_repeats_at_most_the_requests_in_flight(repo, server):
    server.set_latency(0.5)
    args = [sys.executable, "-m", "dvc", "exp", "run", *settings(server, "experiment=v2", "predictor.max_workers=1")]
    process = subprocess.Popen(args, cwd=repo.root, env=repo.env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while stored_profiles(repo) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    server.wait_until_idle()
    stored = stored_profiles(repo)
    first = server.counters()
    answered = {k for k, n in first.completed_calls_by_sequence.items() if n}
    in_flight = first.predict_calls - sum(first.completed_calls_by_sequence.values())
    assert 2 <= stored < 4

    server.set_latency(0.0)
    server.reset_counters()
    repo.dvc("exp", "run", *settings(server, "experiment=v2", "predictor.max_workers=1"))
    second = server.counters()
    assert second.predict_calls <= 4 - stored + in_flight + (len(answered) - stored)
    assert second.predict_calls >= 4 - stored
    assert stored_profiles(repo) == 4
