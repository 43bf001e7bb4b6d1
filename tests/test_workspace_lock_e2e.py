"""Two real `dvc exp run` at once in one workspace (issue 22): the second stops at once, the first keeps its settings.

The audit's case: the second run rewrote params.yaml and the first ran with seed 12 instead of 11.
Here the first run (seed 11, 199 permutations) is under way in a temporary git copy when the
second (seed 12, 299 permutations) starts; DVC refuses the second before it stashes anything
(workspace_lock.hold_dvc_workspace), and the first completes with its own settings.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest
import yaml

from mprabench.workspace_lock import LOCK_FILE
from tests.conftest import tiny_repo

pytestmark = pytest.mark.e2e

# Up to evaluate (what the checks read); the report stage adds nothing to what the lock is tested for.
RUN = ["exp", "run", "evaluate", "-S", "dataset=tiny", "-S", "genome=tiny", "-S", "predictor=gc"]


def test_a_second_exp_run_stops_at_once_and_the_first_keeps_its_own_settings(tmp_path, tiny_library):
    repo = tiny_repo(tmp_path, tiny_library)
    first = subprocess.Popen(
        [sys.executable, "-m", "dvc", *RUN, "-S", "evaluate.seed=11", "-S", "evaluate.n_permutations=199"],
        cwd=repo.root, env=repo.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (repo.root / LOCK_FILE).exists():  # the first run's first stage has claimed the workspace
            assert first.poll() is None, first.communicate()[0]
            assert time.monotonic() < deadline, "the first run never reached its first stage"
            time.sleep(0.2)
        params_of_first = (repo.root / "params.yaml").read_bytes()
        started = time.monotonic()
        second = repo.dvc(*RUN, "-S", "evaluate.seed=12", "-S", "evaluate.n_permutations=299", check=False)
        refused_after = time.monotonic() - started
        assert first.poll() is None, "the first run ended before the second started: nothing was tested"
        assert (repo.root / "params.yaml").read_bytes() == params_of_first  # not even for a moment rewritten
        output = second.stdout + second.stderr
        assert second.returncode != 0, output
        assert "'workspace' is busy" in output and "one DVC run per workspace at a time" in output, output
        assert "exp run" in output and "Traceback" not in output, output
        assert refused_after < 60, refused_after  # a dvc start-up, not a wait for the first run
        out, _ = first.communicate(timeout=900)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, out
    assert "is busy" not in out and "changed while this run was running" not in out, out
    assert yaml.safe_load((repo.root / "params.yaml").read_text())["evaluate"]["seed"] == 11
    assert "199 permutations" in repo.json("metrics/details.json")["methods"]["element_p"]
    shown = evaluate_seeds(json.loads(repo.dvc("exp", "show", "--json").stdout))
    assert 11 in shown and 12 not in shown, shown  # the experiment DVC recorded ran with seed 11; none with 12
    # the workspace is free again: a third run goes through (its stages are up to date except evaluate)
    third = repo.dvc(*RUN, "-S", "evaluate.seed=12", "-S", "evaluate.n_permutations=299", check=False)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "had been killed" not in third.stderr  # the mark was removed, not left for DVC to clean up
    assert "299 permutations" in repo.json("metrics/details.json")["methods"]["element_p"]


def evaluate_seeds(shown: Any) -> set[int]:
    """Every evaluate.seed in `dvc exp show --json` output (workspace, baseline and experiments)."""
    if isinstance(shown, list):
        return set().union(*(evaluate_seeds(item) for item in shown))
    if not isinstance(shown, dict):
        return set()
    found = {shown["evaluate"]["seed"]} if isinstance(shown.get("evaluate"), dict) and "seed" in shown["evaluate"] else set()
    return found.union(*(evaluate_seeds(value) for value in shown.values()))
