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
from tests.support.alphagenome.server import LocalAlphaGenomeServer
from tests.support.repo_copy import RepoCopy
from tests.conftest import tiny_repo

pytestmark = pytest.mark.e2e

KEY = "route-test-key"
FAST = ["evaluate.n_permutations=200"]


@pytest.fixture
def server():
    with LocalAlphaGenomeServer(expected_api_key=KEY) as running:
        yield running


@pytest.fixture
def repo(tmp_path, tiny_library):
    copy = tiny_repo(tmp_path, tiny_library)
    copy.env["ALPHAGENOME_API_KEY"] = KEY
    copy.env.pop(STORE_ENV, None)  # the default store: <main worktree of the copy>/prediction_store
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
    return len(list((repo.root / "prediction_store").rglob("profiles/*/*.rec")))


def test_every_dvc_route_requests_only_inputs_missing_from_the_one_store(repo, server):
    """kill -9 mid-predict, `dvc exp run`, a new feature window, a `--queue` pair run with
    `-j 2`, and `--temp`: one store serves them all (dvc.lock is never committed)."""
    # 1. `dvc exp run` killed with kill -9 while predicting: the answers stored so far stay.
    server.set_latency(0.5)
    v2 = settings(server, "experiment=v2", "predictor.max_workers=1")
    log = (repo.root.parent / "killed-run.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "dvc", "exp", "run", *v2], cwd=repo.root, env=repo.env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    while stored_profiles(repo) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, (f"`dvc exp run` ended ({process.returncode}) before it could be killed:\n"
                                    f"{(repo.root.parent / 'killed-run.log').read_text()}")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    server.wait_until_idle()
    stored = stored_profiles(repo)
    first = server.counters()
    in_flight = first.predict_calls - stored  # requests sent but not stored when the run died
    assert 2 <= stored < 4 and in_flight <= 1

    # 2. `dvc exp run` again: only what was not stored (plus at most the request in flight).
    server.set_latency(0.0)
    repeated = requests_during(server, lambda: repo.dvc("exp", "run", *v2))
    assert 4 - stored <= repeated <= 4 - stored + in_flight
    assert stored_profiles(repo) == 4
    assert not (repo.root / "prediction_store").is_relative_to(repo.root / "data"), "not inside a DVC output"
    assert "!! prediction_store/" in repo.git("status", "--porcelain", "--ignored").stdout, "ignored by git"

    # 3. A new feature definition: features are recomputed from the stored answers.
    window = settings(server, "experiment=v2", "predictor.features.center_width=500")
    assert requests_during(server, lambda: repo.dvc("exp", "run", *window)) == 0

    # 4. v1 and v2 queued and run two at a time: only v1's 4 inputs are new.
    for name, extra in (("q-v1", ["experiment=v1"]), ("q-v2", ["experiment=v2", "predictor.max_workers=2"])):
        repo.dvc("exp", "run", "--queue", "-n", name, *settings(server, *extra))
    assert requests_during(server, lambda: run_queue(repo, jobs=2, expected=2)) == 4
    assert stored_profiles(repo) == 8

    # 5. `--temp`: what the queued runs stored is served to it.
    temp = settings(server, "experiment=v1", "predictor.features.center_width=300")
    assert requests_during(server, lambda: repo.dvc("exp", "run", "--temp", *temp)) == 0

    # 6. The key only in the repository's .env: `--temp` (a copy under .dvc/tmp/exps) finds it
    #    (DNASE alone is a new store key, so its 4 inputs are requested with that key).
    repo.env.pop("ALPHAGENOME_API_KEY")
    (repo.root / ".env").write_text(f"ALPHAGENOME_API_KEY={KEY}\n")
    dnase = settings(server, "experiment=v1", "predictor.outputs=[DNASE]",
                     "evaluate.primary_features=[dnase_center,dnase_mean]")
    assert requests_during(server, lambda: repo.dvc("exp", "run", "--temp", *dnase)) == 4
    assert server.counters().api_keys_seen == {KEY}


def run_queue(repo: RepoCopy, jobs: int, expected: int) -> None:
    """`dvc queue start`, then wait until the queue is empty and check that `expected` experiments succeeded.

    Until the experiments' refs appear, the wait asks git (milliseconds) and `dvc queue status` only
    every 10 s: each status call starts DVC (a CPU-second or more), which the queued runs would wait for."""
    before = experiment_refs(repo)
    repo.dvc("queue", "start", "-j", str(jobs))
    deadline = time.monotonic() + 400
    status, asked = "", time.monotonic()
    while time.monotonic() < deadline:
        settled = len(experiment_refs(repo) - before) >= expected or failed_runs(repo)
        if settled or time.monotonic() - asked > 10:
            status, asked = repo.dvc("queue", "status").stdout, time.monotonic()
            if not re.search(r"\b(Queued|Running)\b", status):
                break
        time.sleep(1 if settled else 0.2)
    assert status.count("Success") == expected, status


def experiment_refs(repo: RepoCopy) -> set[str]:
    """The experiments' own refs (refs/exps/<baseline>/<name>), not the queue's (refs/exps/celery/...)."""
    refs = repo.git("for-each-ref", "--format=%(refname)", "refs/exps").stdout.split()
    return {ref for ref in refs if re.fullmatch(r"refs/exps/[0-9a-f]{2}/[0-9a-f]{38}/[^/]+", ref)}


def failed_runs(repo: RepoCopy) -> bool:
    return bool(repo.git("for-each-ref", "refs/exps/celery/failed").stdout.strip())
