"""One DVC run per workspace: a second run's stage stops at once, naming the first (issue 22).

A real `dvc` process is stood in for by an executable named `dvc` (a shell script) that runs
stage processes through the stages' own entry point (`_cli.run`), as DVC runs them: the lock
finds its `dvc` ancestor through /proc, like under `dvc exp run`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

STAGE = "from mprabench.stages._cli import run; run(lambda: print('stage ran', flush=True))"


@pytest.fixture
def workspace(tmp_path):
    (tmp_path / "params.yaml").write_text("seed: 11\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dvc = bin_dir / "dvc"
    # Runs one stage, optionally edits params.yaml and runs another, then holds the run open.
    dvc.write_text('#!/bin/sh\n"$PY" -c "$STAGE" || exit $?\n'
                   'if [ -n "$EDIT" ]; then echo "$EDIT" > params.yaml; "$PY" -c "$STAGE" || exit $?; fi\n'
                   'sleep "${HOLD:-0}"\n')
    dvc.chmod(0o755)
    return tmp_path


def start_dvc(workspace: Path, hold: float = 0, edit: str = "") -> subprocess.Popen:
    env = {**os.environ, "PY": sys.executable, "STAGE": STAGE, "HOLD": str(hold), "EDIT": edit,
           "DVC_ROOT": str(workspace), "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen([str(workspace / "bin" / "dvc"), "exp", "run"], cwd=workspace, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_second_run_in_the_same_workspace_stops_at_once_naming_the_first(workspace):
    first = start_dvc(workspace, hold=60)
    try:
        assert first.stdout.readline().strip() == "stage ran"
        started = time.monotonic()
        second = start_dvc(workspace)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 1 and "stage ran" not in out
        assert f"another DVC run (pid {first.pid}" in err and "dvc exp run --queue" in err and "Traceback" not in err
        assert time.monotonic() - started < 30
    finally:
        first.kill()
        first.wait()
    third = start_dvc(workspace)  # the holder is gone: the workspace is free again
    out, _ = third.communicate(timeout=60)
    assert third.returncode == 0 and "stage ran" in out


def test_params_changed_under_a_running_run_stops_its_next_stage(workspace):
    run = start_dvc(workspace, edit="seed: 12")
    out, err = run.communicate(timeout=60)
    assert out.count("stage ran") == 1 and run.returncode == 1
    assert "params.yaml changed while this run was running" in err


def test_stages_not_run_by_dvc_take_no_lock(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    env.pop("DVC_ROOT", None)
    result = subprocess.run([sys.executable, "-c", STAGE], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0 and not (tmp_path / ".dvc").exists()
