"""A failing MLflow never loses the report, never hangs, never leaks a credential (issue 22).

The report stage runs as its own process (as DVC runs it) against tracking locations that fail:
a refused port, a server that accepts connections and never answers, a garbage or immutable mlflow.db, and
a run left RUNNING by a report process that was killed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, write_params
from tests.report_fixtures import LOCAL_ADDRESS, make_report_fixture
from tests.support.mlflow_store import empty_store

PASSWORD = "s3cret-PW-91d2"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def report_process(directory: Path, uri: str, overrides: list[str] = ()) -> tuple[subprocess.CompletedProcess, float]:
    """Run the report stage in a subprocess (300 s at most: a hang fails the test); (result, seconds)."""
    fixture = make_report_fixture(directory)
    write_params(fixture.params, [f"predictor.address={LOCAL_ADDRESS}", "predictor.insecure=true", *overrides])
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(REPO / "src")}
    env.pop("DVC_ROOT", None)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "mprabench.stages.report", *fixture.argv()], cwd=directory,
                            env=env, capture_output=True, text=True, timeout=300)
    return result, time.monotonic() - started


def assert_report_written_without_run(directory: Path) -> str:
    text = (directory / "metrics" / "report.md").read_text()
    assert "not tracked: MLflow failed while" in text
    assert (directory / "plots" / "forest.png").stat().st_size > 0
    return text


def test_a_refused_tracking_server_with_a_password_leaks_nothing_and_keeps_the_report(tmp_path):
    port = free_port()  # nothing listens: every connection is refused
    result, _ = report_process(tmp_path, f"http://alice:{PASSWORD}@127.0.0.1:{port}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "tracking skipped" in output and f"http://127.0.0.1:{port}" in output
    assert PASSWORD not in output and "Traceback" not in output
    text = assert_report_written_without_run(tmp_path)
    assert PASSWORD not in text


def test_tracking_required_makes_a_tracking_failure_the_exit_code_and_still_writes_the_report(tmp_path):
    port = free_port()
    result, _ = report_process(tmp_path, f"http://bob:{PASSWORD}@127.0.0.1:{port}", ["tracking.required=true"])
    assert result.returncode == 1
    assert "error: MLflow at http://127.0.0.1" in result.stderr and "tracking.required=true" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr and "Traceback" not in result.stderr
    assert_report_written_without_run(tmp_path)


def test_a_tracking_server_that_never_answers_is_bounded_by_the_settings(tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # connections complete in the kernel's backlog; nothing ever answers
    try:
        timeout_s, retries, backoff = 1, 1, 1
        result, _ = report_process(
            tmp_path, f"http://127.0.0.1:{silent.getsockname()[1]}",
            [f"tracking.request_timeout_s={timeout_s}", f"tracking.max_retries={retries}",
             f"tracking.backoff_factor={backoff}"])
    finally:
        silent.close()
    # MLflow's own defaults wait 8 x 120 s here: the subprocess's 300 s timeout fails the test then.
    # How long the bounded wait takes is measured by benchmarks/bench_tracking.py, not asserted here.
    assert result.returncode == 0 and "tracking skipped" in result.stderr, result.stderr
    assert_report_written_without_run(tmp_path)


@pytest.mark.parametrize("content", [b"this is not a sqlite database" * 100, b""])
def test_a_garbage_local_store_is_a_clear_message_not_a_traceback(tmp_path, content):
    database = tmp_path / "garbage.db"
    database.write_bytes(content or b"\x00" * 4096)
    result, _ = report_process(tmp_path, f"sqlite:///{database}")
    assert result.returncode == 0 and "tracking skipped" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert_report_written_without_run(tmp_path)


def test_an_immutable_local_store_is_a_clear_message_not_a_traceback(tmp_path):
    """The audit's immutable mlflow.db (`chattr +i`: not even root may write it) ends like a garbage one."""
    import shutil

    import mlflow

    database = tmp_path / "immutable.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{database}").create_experiment("made-before")  # a valid store
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(database)]).returncode != 0:
        pytest.skip("chattr +i is not available here (needs root on a file system with the immutable flag)")
    try:
        result, _ = report_process(tmp_path, f"sqlite:///{database}")
    finally:
        subprocess.run(["chattr", "-i", str(database)], check=True)
    assert result.returncode == 0 and "tracking skipped" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert_report_written_without_run(tmp_path)


def test_a_run_left_running_by_a_killed_report_is_marked_failed_by_the_next_report(tmp_path):
    import mlflow

    from mprabench.tracking import HOST_TAG, PID_TAG

    uri = empty_store(tmp_path / "mlflow.db")
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("mprabench-GSE84888")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process id that existed and is gone, like a report killed with kill -9
    orphan = client.create_run(experiment, tags={HOST_TAG: socket.gethostname(), PID_TAG: str(dead.pid)})
    foreign = client.create_run(experiment, tags={HOST_TAG: "another-host", PID_TAG: str(dead.pid)})
    result, _ = report_process(tmp_path, uri)
    assert result.returncode == 0, result.stderr
    assert client.get_run(orphan.info.run_id).info.status == "FAILED"
    assert client.get_run(foreign.info.run_id).info.status == "RUNNING", "another machine's run is not judged"
    finished = [r for r in client.search_runs([experiment]) if r.info.run_id not in (orphan.info.run_id,
                                                                                       foreign.info.run_id)]
    assert [r.info.status for r in finished] == ["FINISHED"]


def test_sigterm_during_the_run_ends_it_failed_not_running(tmp_path):
    """A report stopped with SIGTERM (as `kill` or a stopped DVC run does) ends its run FAILED."""
    import mlflow

    uri = empty_store(tmp_path / "mlflow.db")
    fixture = make_report_fixture(tmp_path)
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(REPO / "src")}
    # The stage itself, paused inside its open run (where a kill lands in a real run) so the
    # signal arrives at a known moment.
    code = ("import sys, time\n"
            "import mprabench.tracking as t\n"
            "def log(self, *a, **k):\n"
            "    print('RUNNING', flush=True); time.sleep(60)\n"
            "t.TrackedRun.log = log\n"
            "from mprabench.stages import report, _cli\n"
            f"sys.argv = ['report', *{fixture.argv()!r}]\n"
            "_cli.run(report.main)\n")
    process = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "RUNNING"
    process.terminate()
    process.wait(timeout=60)
    client = mlflow.MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("mprabench-GSE84888").experiment_id])
    assert run.info.status == "FAILED"
