"""MLflow tracking: the report stage logs one run, read back through MLflow's client.

One test runs against a real `mlflow server` started here on 127.0.0.1; another checks the
local default (sqlite under DVC_ROOT, where temporary experiment copies also log).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from mprabench.stages import report
from mprabench.tracking import (
    EXPERIMENT_KIND_TAG,
    NOTE_TAG,
    as_metrics,
    as_params,
    flatten,
    headline_metrics,
    tracking_uri,
)
from tests.conftest import compose_config
from tests.report_fixtures import make_report_fixture


def test_flatten_and_conversions():
    nested = {"a": {"b": [1, {"c": None}]}, "d": True, "e": "x"}
    assert flatten(nested) == {"a.b.0": 1, "a.b.1.c": None, "d": True, "e": "x"}
    assert as_params(nested) == {"a.b.0": "1", "a.b.1.c": "null", "d": "true", "e": "x"}
    assert as_metrics({"f": {"r": 0.5, "p": None, "sig": False, "name": "x"}}) == {"f.r": 0.5, "f.sig": 0.0}


def test_tracking_uri_prefers_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(tmp_path, "mlflow.db") == f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri(tmp_path, "mlflow.db") == "http://127.0.0.1:5000"


def run_report(directory: Path) -> Path:
    """The report stage on contract-shaped inputs (tests/report_fixtures.py); returns report.md."""
    fixture = make_report_fixture(directory)
    report.main(fixture.argv())
    return directory / "metrics" / "report.md"


def test_headline_metrics_come_first_and_stop_at_the_limit():
    groups = [("headline", {"design": {"n_rows": 10}, "f": {"r": 0.1, "p": None, "flag": True}}),
              ("qc", {"a": 1, "b": 2, "c": 3})]
    selected, omitted = headline_metrics(groups, limit=4)
    assert list(selected) == ["headline.design.n_rows", "headline.f.r", "headline.f.flag", "qc.a"]
    assert omitted == 2


# MLflow 3's server starts 7 Huey job consumers (GenAI jobs) that poll while it runs: about 90 CPU seconds
# over this module's tests on 2 cores, for a feature no test uses.
NO_SERVER_JOBS = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{directory / 'server.db'}",
         "--artifacts-destination", str(directory / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **NO_SERVER_JOBS},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/health", timeout=5).ok:
                    break
            except requests.RequestException:  # not listening yet, or too busy to answer
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not start within 120 s")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_report_logs_one_focused_run_to_a_real_mlflow_server(mlflow_server, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("DVC_EXP_NAME", "v2-test")
    monkeypatch.chdir(tmp_path)
    report_path = run_report(tmp_path)

    composed = compose_config()
    tracking = composed["tracking"]
    assert tracking["experiment_name"] is None  # derived from the dataset's name
    client = mlflow.MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name(f"mprabench-{composed['dataset']['name']}")
    assert experiment.tags[EXPERIMENT_KIND_TAG] == tracking["experiment_kind"]
    (run,) = client.search_runs([experiment.experiment_id])
    summary = json.loads((tmp_path / "metrics" / "summary.json").read_text())
    assert run.info.run_name == "v2-test"
    assert run.data.params["experiment.name"] == "v2" and run.data.params["predictor.name"] == "alphagenome"
    metrics = run.data.metrics
    assert len(metrics) <= tracking["max_metrics"]
    assert metrics["headline.dnase_center.element_pearson_r"] == pytest.approx(
        summary["dnase_center"]["element_pearson_r"])
    assert metrics["headline.design.n_elements"] == 18
    assert metrics["headline.calibration.type_I.element_p"] == pytest.approx(0.049)
    tags = run.data.tags
    assert tags["predictor"] == "local test server (synthetic tracks)"
    assert tags["biosample"].startswith("EFO:0002067 K562") and tags["dataset"] == "GSE84888"
    assert tags["experiment"] == "v2" and tags["dvc_exp_name"] == "v2-test"
    assert tags["dataset.sha256.GSE84888_Pool6_MPRA.txt"].startswith("e32e2837")
    note = tags[NOTE_TAG].splitlines()
    assert 3 <= len(note) <= 5 and "local test server" in note[0] and "type I 0.049" in tags[NOTE_TAG]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"figures", "tables", "params.yaml", "dvc.lock", "report.md", "details.json"} <= artifacts
    figures = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert "figures/forest.png" in figures
    assert run.info.run_id in report_path.read_text(), "the report points at its run"


def test_local_store_lives_under_dvc_root(tmp_path, monkeypatch):
    import mlflow

    root, work = tmp_path / "repository", tmp_path / "temporary-copy"
    root.mkdir()
    work.mkdir()
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(root))
    monkeypatch.chdir(work)
    run_report(work)
    assert (root / "mlflow.db").exists() and not (work / "mlflow.db").exists()
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("mprabench-GSE84888").experiment_id])
    assert run.info.artifact_uri.startswith((root / "mlartifacts").as_uri())
    assert (root / "mlartifacts").is_dir()


@pytest.mark.parametrize("uri, shown", [
    ("https://alice:s3cret@mlflow.example.org/", "https://mlflow.example.org/"),
    ("http://token@10.0.0.1:5000", "http://10.0.0.1:5000"),
    ("sqlite:////repo/mlflow.db", "sqlite:////repo/mlflow.db"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
])
def test_a_tracking_uri_is_shown_without_credentials(uri, shown):
    from mprabench.tracking import displayed_uri

    assert displayed_uri(uri) == shown
