"""How long the report stage takes when MLflow cannot be reached, with the configured bounds.

Three tracking locations: a refused port (with a password in the URI, which must not be
printed), a server that accepts connections and never answers, and a garbage mlflow.db.
Target (issue 22): tracking costs each at most about 30 s (`MLflow s`: from the first MLflow
call to the failure; `stage s` adds the stage's start-up and rendering), exit 0 with
`tracking skipped`, report.md written, the password never printed.

    .venv/bin/python -m benchmarks.bench_tracking
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import CONF, REPO
from tests.report_fixtures import make_report_fixture
from tests.support.params import compose_config

PASSWORD = "bench-s3cret"


def run(directory: Path, uri: str) -> tuple[int, float, str]:
    fixture = make_report_fixture(directory)
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(REPO / "src")}
    env.pop("DVC_ROOT", None)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "mprabench.stages.report", *fixture.argv()], cwd=directory,
                            env=env, capture_output=True, text=True)
    return result.returncode, time.monotonic() - started, result.stdout + result.stderr


def tracking_seconds(directory: Path, uri: str) -> float:
    """Seconds from the first MLflow call to the tracking failure, MLflow already imported (the
    cost of tracking alone, without the stage's start-up, which a loaded machine stretches)."""
    tracking = compose_config(CONF)["tracking"]
    code = (
        "import sys, time\nfrom pathlib import Path\nimport mlflow\n"
        "from mprabench.tracking import TrackingError, bound_requests, mlflow_run\n"
        f"bound_requests({tracking['request_timeout_s']}, {tracking['max_retries']}, {tracking['backoff_factor']})\n"
        "started = time.monotonic()\n"
        "try:\n"
        f"    with mlflow_run(Path({str(directory)!r}), 'mlflow.db', 'bench', 'bench'):\n"
        "        pass\n"
        "except TrackingError:\n"
        "    pass\n"
        "print(time.monotonic() - started)\n")
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        refused = probe.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        garbage = Path(tmp) / "garbage.db"
        garbage.write_bytes(b"not sqlite" * 1000)
        cases = [("refused port, password in URI", f"http://u:{PASSWORD}@127.0.0.1:{refused}"),
                 ("accepts, never answers", f"http://127.0.0.1:{silent.getsockname()[1]}"),
                 ("garbage mlflow.db", f"sqlite:///{garbage}")]
        print(f"{'tracking location':32} {'exit':>4} {'stage s':>8} {'MLflow s':>8}  skipped  report.md  password printed")
        for index, (label, uri) in enumerate(cases):
            directory = Path(tmp) / str(index)
            directory.mkdir()
            code, seconds, output = run(directory, uri)
            report = directory / "metrics" / "report.md"
            cost = tracking_seconds(directory, uri)
            print(f"{label:32} {code:>4} {seconds:>8.1f} {cost:>8.1f}  {'tracking skipped' in output!s:7}  "
                  f"{report.is_file()!s:9}  {PASSWORD in output}")
    silent.close()


if __name__ == "__main__":
    main()
