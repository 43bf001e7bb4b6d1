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
from dvc.fs import localfs
from dvc.lock import LockError
from dvc.rwlock import rwlock

from mprabench.workspace_lock import DVC_EXPERIMENTS_LOCK_DIR
from tests.conftest import REPO

STAGE = "from mprabench.stages._cli import run; run(lambda: print('stage ran', flush=True))"


@pytest.fixture
def workspace(tmp_path):
    (tmp_path / "params.yaml").write_text("seed: 11\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dvc = bin_dir / "dvc"
    # Optionally rewrites params.yaml first (as `dvc exp run -S` does), runs one stage, optionally edits
    # params.yaml and runs another, then holds the run open.
    dvc.write_text('#!/bin/sh\nif [ -n "$BEFORE" ]; then echo "$BEFORE" > params.yaml; fi\n"$PY" -c "$STAGE" || exit $?\n'
                   'if [ -n "$EDIT" ]; then echo "$EDIT" > params.yaml; "$PY" -c "$STAGE" || exit $?; fi\n'
                   'sleep "${HOLD:-0}"\n')
    dvc.chmod(0o755)
    return tmp_path


def start_dvc(workspace: Path, hold: float = 0, edit: str = "", before: str = "") -> subprocess.Popen:
    env = {**os.environ, "PY": sys.executable, "STAGE": STAGE, "HOLD": str(hold), "EDIT": edit, "BEFORE": before,
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


def dvc_stashes_the_workspace(workspace: Path) -> None:
    """What `dvc exp run` (and --temp / --queue) does before it stashes the workspace: DVC's own lock call."""
    with rwlock(str(workspace / DVC_EXPERIMENTS_LOCK_DIR), localfs, "dvc exp run", [], ["workspace"], False):
        pass


def test_dvc_itself_refuses_a_second_exp_run_while_a_run_holds_the_workspace_and_not_after(workspace):
    first = start_dvc(workspace, hold=60)
    try:
        assert first.stdout.readline().strip() == "stage ran"
        with pytest.raises(LockError, match=rf"'workspace' is busy(.|\n)*PID {first.pid}\): .*dvc exp run"
                                             r".*one DVC run per workspace at a time"):
            dvc_stashes_the_workspace(workspace)
    finally:
        first.kill()
        first.wait()
    deadline = time.monotonic() + 30  # the watcher drops the mark once the dvc process is gone
    while "workspace" in (workspace / DVC_EXPERIMENTS_LOCK_DIR / "rwlock").read_text():
        assert time.monotonic() < deadline, "the mark outlived its dvc process"
        time.sleep(0.1)
    dvc_stashes_the_workspace(workspace)


def test_a_second_run_that_rewrote_params_puts_the_first_runs_back_before_stopping(workspace):
    first = start_dvc(workspace, hold=60)
    try:
        assert first.stdout.readline().strip() == "stage ran"
        second = start_dvc(workspace, before="seed: 12")
        out, err = second.communicate(timeout=60)
        assert second.returncode == 1 and "stage ran" not in out
        assert "params.yaml was put back to that run's settings" in err
        assert (workspace / "params.yaml").read_text() == "seed: 11\n"
    finally:
        first.kill()
        first.wait()
