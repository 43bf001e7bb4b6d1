"""End to end: `dvc exp run` of the pipeline in a temporary git copy of the repo, on fixtures."""

from __future__ import annotations

import pandas as pd
import pytest

from mprabench.fasta import read_fasta
from tests.conftest import compose_config
from tests.repo_copy import make_repo_copy

pytestmark = pytest.mark.e2e


@pytest.fixture
def repo(tmp_path, tiny_library):
    copy = make_repo_copy(tmp_path / "repo")
    fasta = tmp_path / "genome.fa"
    tiny_library.genome.write_chromosome_fasta(fasta)
    copy.add_config("dataset", "tiny", tiny_library.dataset_section())
    copy.add_config("genome", "tiny", {**compose_config()["genome"], "fasta": str(fasta)})
    return copy


def run_experiment(repo, name: str, *overrides: str) -> None:
    repo.dvc("exp", "run", "-n", name, "-S", "dataset=tiny", "-S", "genome=tiny", "-S", f"experiment={name}",
             *[arg for override in overrides for arg in ("-S", override)])


def test_v1_and_v2_fetch_and_prepare(repo, tiny_library):
    run_experiment(repo, "v1")
    qc = repo.json("metrics/qc.json")
    assert (qc["rows_in"], qc["benchmark_rows"], qc["elements"], qc["distinct_inputs"]) == (48, 4, 4, 4)
    rows = pd.read_parquet(repo.root / "data/prepared/rows.parquet")
    assert rows["n_oligos"].sum() == 48

    run_experiment(repo, "v2")
    qc = repo.json("metrics/qc.json")
    assert (qc["rows_in"], qc["benchmark_rows"], qc["elements"], qc["distinct_inputs"]) == (48, 48, 4, 4)
    assert (qc["motif_checked"], qc["motif_matches_reference"]) == (48, 48)
    rows = pd.read_parquet(repo.root / "data/prepared/rows.parquet")
    inputs = read_fasta(repo.root / "data/prepared/inputs.fa")
    assert set(rows["input_sha256"]) == set(inputs)
    assert all(len(sequence) == 2048 for sequence in inputs.values())

    experiments = repo.dvc("exp", "show", "--no-pager", "--csv").stdout
    assert "v1" in experiments and "v2" in experiments
