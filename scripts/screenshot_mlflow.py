"""Screenshot the MLflow UI as a user sees it: the experiment page, a run page and its report.

Starts `mlflow server` on 127.0.0.1 (a free port) over the project's tracking store, then
drives headless Chromium (Debian: `apt-get install chromium`) to PNG files. Not part of CI:
run it by hand after `dvc exp run`, and look at the pictures.

    python scripts/screenshot_mlflow.py                      # sqlite:///<repo>/mlflow.db
    python scripts/screenshot_mlflow.py --tracking-uri sqlite:////path/mlflow.db --out shots/
    python scripts/screenshot_mlflow.py --run-id <id>         # a given run instead of the newest

Prints the URL and PNG of each page. The experiment name and the local store come from
params.yaml (`tracking.experiment_name`, `tracking.local_store`) unless given.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

REPOSITORY = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# MLflow 3.17's UI keeps a per-browser "GenAI | Model training" switch (default GenAI) that wins
# over the experiment's `mlflow.experimentKind` tag; this query parameter selects the runs view.
WORKFLOW = "workflowType=machine_learning"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    params = yaml.safe_load((REPOSITORY / "params.yaml").read_text())
    tracking = params["tracking"]
    experiment = tracking["experiment_name"] or f"mprabench-{params['dataset']['name']}"  # config.experiment_name_for
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracking-uri", default=f"sqlite:///{REPOSITORY / tracking['local_store']}")
    parser.add_argument("--experiment", default=experiment)
    parser.add_argument("--run-id", default=None, help="default: the newest run of the experiment")
    parser.add_argument("--out", type=Path, default=REPOSITORY / "screenshots")
    parser.add_argument("--width", type=int, default=1600, help="browser window width in pixels")
    parser.add_argument("--wait-ms", type=int, default=60000, help="virtual time for the page's scripts")
    return parser.parse_args(argv)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(tracking_uri: str, port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1", "--backend-store-uri", tracking_uri]
    # No GenAI job runners: MLflow 3 starts 7 polling Huey consumers for them, which a screenshot never needs.
    environment = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=environment)


def wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"mlflow server exited with code {process.returncode}; see its log")
        try:
            if requests.get(f"{url}/health", timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise SystemExit(f"mlflow server at {url} did not answer within {timeout_s:.0f} s")


def browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("no headless browser found: install Debian's `chromium` package (apt-get install chromium)")


def screenshot(binary: str, url: str, path: Path, window: str, wait_ms: int) -> None:
    # Without --run-all-compositor-stages-before-draw the shot can be taken before an artifact's
    # iframe (report.html) is painted: the pane comes out blank although the page renders.
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--run-all-compositor-stages-before-draw",
               f"--window-size={window}", f"--virtual-time-budget={wait_ms}", f"--screenshot={path}", url]
    subprocess.run(command, check=True, capture_output=True, timeout=180)


def main(argv: list[str] | None = None) -> None:
    import mlflow

    args = parse_args(argv)
    client = mlflow.MlflowClient(tracking_uri=args.tracking_uri)
    experiment = client.get_experiment_by_name(args.experiment)
    if experiment is None:
        raise SystemExit(f"no MLflow experiment {args.experiment!r} in {args.tracking_uri}; run the pipeline first")
    run_id = args.run_id or client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"],
                                               max_results=1)[0].info.run_id
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_server(args.tracking_uri, port, args.out / "mlflow-server.log")
    try:
        wait_healthy(url, process)
        binary = browser()
        base = f"{url}/#/experiments/{experiment.experiment_id}"
        # page name -> (URL, window height): the run and report pages are long.
        pages = {"experiment.png": (f"{base}?{WORKFLOW}", 1000),
                 "run.png": (f"{base}/runs/{run_id}?{WORKFLOW}", 2400),
                 "run_report.png": (f"{base}/runs/{run_id}/artifacts/report.html?{WORKFLOW}", 4000)}
        for name, (page, height) in pages.items():
            screenshot(binary, page, args.out / name, f"{args.width},{height}", args.wait_ms)
            print(f"{page}\n  -> {args.out / name}")
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
