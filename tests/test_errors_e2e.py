"""Two faults of tests/test_errors.py run through `dvc exp run` in a temporary git copy, as a user meets them."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.support.alphagenome.server import LocalAlphaGenomeServer
from tests.support.repo_copy import RepoCopy
from tests.conftest import tiny_repo

pytestmark = pytest.mark.e2e

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.fixture
def repo(tmp_path, tiny_library) -> RepoCopy:
    return tiny_repo(tmp_path, tiny_library)


def exp_run_fails(repo: RepoCopy, overrides: list[str]) -> str:
    args = ["exp", "run", "-S", "genome=tiny", "-S", "predictor=gc"]
    result = repo.dvc(*args, *[a for o in overrides for a in ("-S", o)], check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    return output


def test_odd_window_stops_the_first_stage_naming_the_key(repo):
    output = exp_run_fails(repo, ["dataset=tiny", "experiment.window=2047"])
    assert "`experiment.window` = 2047 is out of range: allowed >= 1 and even" in output
    # The first stage (local_inputs) loads the settings: stopped before any download or file was read.
    assert "failed to reproduce 'local_inputs'" in output


def test_empty_counts_file_with_overridden_checksum_names_the_file(repo, tiny_library, tmp_path):
    counts = tmp_path / "damaged"
    shutil.copytree(tiny_library.counts_dir, counts)
    files = [dict(spec) for spec in tiny_library.files]
    (counts / files[0]["name"]).write_text("")
    files[0]["sha256"] = EMPTY_SHA256
    repo.add_config("dataset", "damaged", {**tiny_library.dataset_section(str(counts)), "files": files})
    output = exp_run_fails(repo, ["dataset=damaged"])
    assert f"{files[0]['name']}, line 1: the file is empty" in output
    assert "failed to reproduce 'prepare'" in output


def test_a_run_over_its_request_budget_stops_at_predict_before_the_first_request(repo):
    with LocalAlphaGenomeServer() as server:
        repo.env["ALPHAGENOME_API_KEY"] = "local"
        result = repo.dvc("exp", "run", "-S", "dataset=tiny", "-S", "genome=tiny", "-S",
                          f"predictor.address={server.address}", "-S", "predictor.insecure=true",
                          "-S", "predictor.max_new_requests=1", check=False)
        counters = server.counters()
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output, output
    found = re.search(r"this run would send (\d+) new requests", output)
    assert found and int(found.group(1)) > 1, output
    assert f"-S predictor.max_new_requests={found.group(1)}" in output and "dataset.subset.n_elements" in output
    assert "failed to reproduce 'predict'" in output
    assert (counters.predict_calls, counters.metadata_calls) == (0, 0)
