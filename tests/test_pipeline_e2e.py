"""End to end: the whole DVC pipeline in a temporary git copy of the repo, on fixtures.

The default predictor (AlphaGenome) runs against the local gRPC server implementing the
SDK's DnaModelService, started here; the stages reach it over 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import secrets

import mlflow
import pandas as pd
import pytest
import yaml

from mprabench.fasta import read_fasta
from tests.support import params as testing_params
from tests.support.alphagenome.server import LocalAlphaGenomeServer
from tests.conftest import tiny_repo
from tests.support.repo_copy import RepoCopy

pytestmark = pytest.mark.e2e

SENTINEL = f"SENTINEL-{secrets.token_hex(16)}"  # made at run time, so no copied source file holds it
# Keys whose value is a number in both v1 and v2 of the tiny library (4 elements: p and CI are not estimable).
HEADLINE = ["element_pearson_r"]
FAST_EVALUATION = ["evaluate.n_permutations=500"]


@pytest.fixture
def server():
    with LocalAlphaGenomeServer(expected_api_key=SENTINEL) as running:
        yield running


@pytest.fixture
def repo(tmp_path, tiny_library, server):
    copy = tiny_repo(tmp_path, tiny_library)
    copy.env["ALPHAGENOME_API_KEY"] = SENTINEL
    return copy


def local_server_overrides(server: LocalAlphaGenomeServer) -> list[str]:
    return [f"predictor.address={server.address}", "predictor.insecure=true", "predictor.initial_backoff_s=0.05"]


def exp_run(repo: RepoCopy, name: str, overrides: list[str]) -> str:
    args = ["exp", "run", "-n", name, "-S", "dataset=tiny", "-S", "genome=tiny"]
    result = repo.dvc(*args, *[a for o in overrides for a in ("-S", o)])
    return result.stdout + result.stderr


def test_v1_and_v2_experiments_diff_and_log_one_mlflow_run_each_and_the_api_key_reaches_no_file(repo, server):
    logs = exp_run(repo, "v1", ["experiment=v1", *local_server_overrides(server), *FAST_EVALUATION])
    qc = repo.json("metrics/qc.json")
    assert (qc["rows_in"], qc["benchmark_rows"], qc["elements"], qc["distinct_inputs"]) == (48, 4, 4, 4)
    assert server.counters().predict_calls == 4

    logs += exp_run(repo, "v2", ["experiment=v2", *local_server_overrides(server), *FAST_EVALUATION])
    qc = repo.json("metrics/qc.json")
    assert (qc["rows_in"], qc["benchmark_rows"], qc["elements"], qc["distinct_inputs"]) == (48, 48, 4, 4)
    assert (qc["motif_checked"], qc["motif_matches_reference"]) == (48, 48)
    assert server.counters().predict_calls == 8, "v2 requests its 4 distinct inputs once"
    rows = pd.read_parquet(repo.root / "data/prepared/rows.parquet")
    assert set(rows["input_sha256"]) == set(read_fasta(repo.root / "data/prepared/inputs.fa"))

    summary = repo.json("metrics/summary.json")
    assert summary["design"]["n_rows"] == 48 and summary["design"]["n_unique_inputs"] == 4
    report = (repo.root / "metrics/report.md").read_text()
    assert "48 rows carry **4 distinct model inputs** from **4 elements**" in report
    assert "Within-element effects" in report and "Not estimable: model inputs do not vary" in report

    diff = json.loads(repo.dvc("metrics", "diff", "v1", "v2", "--all", "--json").stdout)
    keys = set(diff["metrics/summary.json"])
    for feature in ("dnase_center", "dnase_mean", "cage_center", "cage_mean", "rna_center", "rna_mean"):
        for metric in HEADLINE:
            assert f"{feature}.{metric}" in keys, f"{feature}.{metric} missing from dvc metrics diff"
    assert diff["metrics/summary.json"]["design.n_rows"] == {"old": 4, "new": 48, "diff": 44}
    rows = sum(len(metrics) for metrics in diff.values())
    assert rows <= 100, f"`dvc metrics diff --all v1 v2` prints {rows} rows: keep it within 100 (details.json)"

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{repo.root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mprabench-GSE84888")
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"v1", "v2"}, "exactly one MLflow run per experiment"
    assert runs["v1"].data.params["experiment.inputs"] == "aggregated"
    assert runs["v2"].data.params["experiment.inputs"] == "individual"
    assert runs["v2"].info.run_id in report
    tags = runs["v2"].data.tags
    experiment_commit = repo.git("rev-parse", tags["dvc_exp_ref"]).stdout.strip()  # v2's own commit
    assert tags["git_baseline_commit"] == repo.git("rev-parse", "HEAD").stdout.strip()
    assert repo.git("rev-parse", f"{experiment_commit}^").stdout.strip() == tags["git_baseline_commit"]
    assert experiment_commit != tags["git_baseline_commit"]
    assert "git_commit" not in tags, "the baseline is never recorded as the experiment's commit"
    assert tags["predictor.store_key"] == repo.json("data/predictions/provenance.json")["store_key"]
    assert SENTINEL not in logs
    assert server.counters().api_keys_seen == {SENTINEL}, "the key was sent to the server"

    # The API key reaches no file (merged here from its own test, which ran the same v2 experiment again):
    # every file the two runs left (copy, DVC cache and experiment refs, mlflow.db) is scanned.
    leaks = [p for p in repo.root.rglob("*") if p.is_file() and SENTINEL.encode() in p.read_bytes()]
    assert leaks == [], f"API key written to {leaks}"
    for name in ("params.yaml", "dvc.lock", "mlflow.db"):
        assert (repo.root / name).is_file(), f"{name} should exist and was scanned"


def test_dvc_repro_default_chain_then_nothing_then_only_evaluate(repo, server):
    overrides = ["dataset=tiny", "genome=tiny", *local_server_overrides(server), *FAST_EVALUATION]
    params = testing_params.compose_config(repo.root / "conf", overrides)
    (repo.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    first = repo.dvc("repro").stdout
    assert all(f"Running stage '{stage}'" in first
               for stage in ("fetch", "prepare", "calibrate", "predict", "evaluate", "report"))
    assert server.counters().predict_calls == 4

    again = repo.dvc("repro").stdout
    assert re.findall(r"Running stage '(\w+)'", again) == ["local_inputs"], "only the always-run fingerprints"
    assert server.counters().predict_calls == 4

    params["evaluate"]["strata"] = [kind for kind in params["evaluate"]["strata"] if kind != "element"]
    (repo.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = repo.dvc("repro").stdout
    # calibrate depends only on the evaluate settings its simulated statistics use (not the strata list).
    assert set(re.findall(r"Running stage '(\w+)'", changed)) == {"local_inputs", "evaluate", "report"}
    assert server.counters().predict_calls == 4
