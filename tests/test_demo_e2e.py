"""`make demo` end to end, in a repo copy, with GEO and UCSC played by the local HTTP server."""

from __future__ import annotations

import gzip
import sys

import mlflow
import pytest

from scripts.demo import demo_overrides, network_plan, composed, parse_args
from tests.conftest import tiny_repo
from tests.support.http_server import LocalHttpServer

pytestmark = pytest.mark.e2e

SUPPL = "/geo/series/GSE84nnn/GSE84888/suppl"


@pytest.mark.timeout(900)  # two whole pipeline runs; 2.8 min measured on a loaded 2-core machine
def test_demo_fetches_once_runs_v1_and_v2_and_logs_one_mlflow_run_each(tmp_path, tiny_library):
    repo = tiny_repo(tmp_path, tiny_library)
    with LocalHttpServer(genome=tiny_library.genome) as server:
        for spec in tiny_library.files:
            server.add_file(f"{SUPPL}/{spec['name']}.gz",
                            gzip.compress((tiny_library.counts_dir / spec["name"]).read_bytes()))
        overrides = ["dataset=tiny", f"dataset.source={server.url}{SUPPL}", "genome=tiny", "genome.fasta=null",
                     f"genome.ucsc_api={server.url}", "evaluate.n_permutations=500"]
        result = repo.run(sys.executable, "-m", "scripts.demo", "--experiments", "v1", "v2", "--predictors", "gc",
                          *[a for o in overrides for a in ("--set", o)])
        requests = dict(server.requests)

    out = result.stdout
    assert f"counts files: downloaded from {server.url}{SUPPL}" in out
    assert f"genome: the mm9 windows of v2 from the UCSC API at {server.url}" in out
    assert "no AlphaGenome request, no API key" in out
    # Each counts file once for both experiments (v2 reuses v1's fetch); the genome only for v2.
    assert {path: n for path, n in requests.items() if path.startswith(SUPPL)} == {
        f"{SUPPL}/{spec['name']}.gz": 1 for spec in tiny_library.files}
    assert requests.get("/getData/sequence", 0) > 0
    assert set(repo.dvc("exp", "list", "--name-only").stdout.split()) == {"demo-v1-gc", "demo-v2-gc"}
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{repo.root / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert sorted(r.data.tags["experiment"] for r in runs) == ["v1", "v2"]
    assert {r.data.tags["predictor"] for r in runs} == {"gc baseline (offline)"}
    assert "make demo: 2 experiments in" in out


def test_local_data_and_genome_mean_no_network(tmp_path):
    fasta = tmp_path / "mm9.fa"
    args = parse_args(["--experiments", "v1", "v2", "--predictors", "gc", "--data", str(tmp_path),
                       "--genome", str(fasta)])
    plan = "\n".join(network_plan(composed(demo_overrides(args)), args.experiments))
    assert f"counts files: read from {tmp_path}" in plan
    assert f"genome: read from {fasta} (for v2)" in plan
    assert "http" not in plan.replace("MLflow: sqlite", "")
