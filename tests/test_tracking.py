"""MLflow tracking: the report stage logs one run, read back through MLflow's client.

One test runs against a real `mlflow server` started here on 127.0.0.1; another checks the
local default (sqlite under DVC_ROOT, where temporary experiment copies also log).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from mprabench.stages import evaluate, report
from mprabench.tracking import as_metrics, as_params, flatten, tracking_uri
from tests.conftest import write_params


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


def synthetic_evaluation_inputs(directory: Path) -> None:
    """rows.parquet and features.parquet for 12 elements x 10 oligos (features constant per element)."""
    rng = np.random.default_rng(0)
    rows, features = [], []
    for element in range(12):
        sha = f"{element:064x}"
        features.append({"input_sha256": sha, "dnase_center": rng.normal(), "dnase_mean": rng.normal()})
        for oligo in range(10):
            rows.append({"row_id": f"e{element}_o{oligo}", "element_id": f"e{element}", "input_sha256": sha,
                         "strand": "+-"[element % 2], "chrom": f"chr{element % 3 + 1}",
                         "tf_labels": ["wt"] if oligo == 0 else ["cebp", "ap1"][oligo % 2:oligo % 2 + 1],
                         "is_wild_type": oligo == 0, "log2_ratio": rng.normal(), "activity": rng.random()})
    pd.DataFrame(rows).to_parquet(directory / "rows.parquet")
    pd.DataFrame(features).to_parquet(directory / "features.parquet")


def run_evaluate_and_report(directory: Path) -> Path:
    params = write_params(directory / "params.yaml", ["evaluate.n_bootstrap=200", "evaluate.n_permutations=500",
                                                       "evaluate.primary_features=[dnase_center,dnase_mean]"])
    synthetic_evaluation_inputs(directory)
    (directory / "qc.json").write_text(json.dumps({
        "rows_in": 120, "rows_used": 120, "excluded": {"tags_below_min": 0}, "benchmark_rows": 120,
        "elements": 12, "distinct_inputs": 12, "motif_checked": 120, "motif_matches_reference": 120}))
    (directory / "predict.json").write_text(json.dumps({
        "distinct_inputs": 12, "served_from_store": 0, "requested": 12, "failed": 0, "retries": 0,
        "wall_seconds": 1.5}))
    (directory / "dvc.lock").write_text("schema: '2.0'\n")
    d = directory
    evaluate.main(["--params", str(params), "--rows", str(d / "rows.parquet"), "--features",
                   str(d / "features.parquet"), "--summary", str(d / "summary.json"), "--details",
                   str(d / "details.json"), "--tables", str(d / "tables"), "--figures", str(d / "figures"),
                   "--roc", str(d / "roc.csv"), "--scatter", str(d / "scatter.csv")])
    report.main(["--params", str(params), "--qc", str(d / "qc.json"), "--prediction", str(d / "predict.json"),
                 "--summary", str(d / "summary.json"), "--details", str(d / "details.json"), "--tables",
                 str(d / "tables"), "--figures", str(d / "figures"), "--lock", str(d / "dvc.lock"),
                 "--report", str(d / "report.md")])
    return d / "report.md"


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
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not start within 120 s")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_report_logs_one_run_to_a_real_mlflow_server(mlflow_server, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("DVC_EXP_NAME", "v2-test")
    report_path = run_evaluate_and_report(tmp_path)

    client = mlflow.MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("mprabench-GSE84888")
    (run,) = client.search_runs([experiment.experiment_id])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert run.info.run_name == "v2-test"
    assert run.data.params["experiment.name"] == "v2" and run.data.params["predictor.name"] == "alphagenome"
    assert run.data.metrics["summary.dnase_center.element_pearson_r"] == pytest.approx(
        summary["dnase_center"]["element_pearson_r"])
    assert run.data.metrics["qc.distinct_inputs"] == 12
    assert run.data.tags["dvc_exp_name"] == "v2-test"
    assert run.data.tags["dataset.sha256.GSE84888_Pool6_MPRA.txt"].startswith("e32e2837")
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"figures", "tables", "params.yaml", "dvc.lock", "report.md"} <= artifacts
    assert any(a.path.endswith(".png") for a in client.list_artifacts(run.info.run_id, "figures"))
    assert run.info.run_id in report_path.read_text(), "the report points at its run"


def test_local_store_lives_under_dvc_root(tmp_path, monkeypatch):
    import mlflow

    root, work = tmp_path / "repository", tmp_path / "temporary-copy"
    root.mkdir()
    work.mkdir()
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(root))
    monkeypatch.chdir(work)
    run_evaluate_and_report(work)
    assert (root / "mlflow.db").exists() and not (work / "mlflow.db").exists()
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("mprabench-GSE84888").experiment_id])
    assert run.info.artifact_uri.startswith((root / "mlartifacts").as_uri())
    assert (root / "mlartifacts").is_dir()
