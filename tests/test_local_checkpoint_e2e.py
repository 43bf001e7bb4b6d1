"""`dvc exp run -S predictor=alphagenome_local -S predictor.checkpoint=...` end to end.

A tiny AlphaGenome checkpoint is built with alphagenome-pt alone (its `small_alphagenome`,
`AlphaGenome.save`, plus the track table a conversion ships), outside the repository copy.
Inputs computed are read from the predict stage's metrics (`requested`: inputs run through
the model), as the API routes' tests count requests: a rerun, a new feature window, `--temp`
and a `--queue` run started by `dvc queue start` each compute 0 once the store holds the inputs.
"""

from __future__ import annotations

import json
import time

import pytest

from mprabench.predictors.store import STORE_ENV
from tests.conftest import tiny_repo
from tests.support.repo_copy import RepoCopy
from tests.support.local_models import save_tiny_alphagenome
from tests.test_store_routes_e2e import experiment_refs, run_queue

pytestmark = pytest.mark.e2e


def experiment_metrics(repo: RepoCopy, name: str) -> dict:
    """The predict stage's metrics as experiment `name` committed them (its git ref under refs/exps)."""
    refs = experiment_refs(repo)
    found = [ref for ref in refs if ref.rsplit("/", 1)[-1] == name]
    assert len(found) == 1, f"experiment {name}: refs {refs}"
    return json.loads(repo.git("show", f"{found[0]}:metrics/predict.json").stdout)


def test_a_checkpoint_on_disk_runs_through_dvc_reruns_free_and_rekeys_on_new_bytes(tmp_path, tiny_library):
    checkpoint = save_tiny_alphagenome(tmp_path / "checkpoint", seed=0)
    repo = tiny_repo(tmp_path, tiny_library)
    repo.env.pop(STORE_ENV, None)
    overrides = ["dataset=tiny", "genome=tiny", "experiment=v2", "predictor=alphagenome_local",
                 f"predictor.checkpoint={checkpoint}", "predictor.supported_lengths=[2048,16384]",
                 "predictor.batch_size=8"]

    def target(*more: str) -> list[str]:
        return ["predict", *[arg for o in (*overrides, *more) for arg in ("-S", o)]]

    def run(*more: str) -> list[str]:
        return ["exp", "run", *target(*more)]

    repo.dvc(*run())
    first = repo.json("metrics/predict.json")
    key = repo.json("data/predictions/provenance.json")["store_key"]
    assert first["requested"] == first["distinct_inputs"] > 0 and first["failed"] == 0

    repo.dvc(*run("predictor.features.center_width=100"))  # predict reruns: features from the store
    rerun = repo.json("metrics/predict.json")
    assert (rerun["requested"], rerun["served_from_store"]) == (0, first["distinct_inputs"])

    time.sleep(0.01)  # new bytes of the same size, under a new modification time
    other = save_tiny_alphagenome(tmp_path / "other", seed=1)
    (checkpoint / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    repo.dvc(*run())
    again = repo.json("metrics/predict.json")
    assert repo.json("data/predictions/provenance.json")["store_key"] != key
    assert again["requested"] == first["distinct_inputs"], "new weights: a new store key, every input computed"

    # `--temp` and `--queue` + `dvc queue start` run in copies under .dvc/tmp/exps and find the same
    # store: 0 inputs computed (new feature windows, so the stage runs; metrics read from each experiment's commit)
    repo.dvc("exp", "run", "--temp", "-n", "temp-window", *target("predictor.features.center_width=150"))
    temp = experiment_metrics(repo, "temp-window")
    assert (temp["requested"], temp["served_from_store"]) == (0, first["distinct_inputs"])
    repo.dvc("exp", "run", "--queue", "-n", "queued-window", *target("predictor.features.center_width=120"))
    run_queue(repo, jobs=1, expected=1)
    queued = experiment_metrics(repo, "queued-window")
    assert (queued["requested"], queued["served_from_store"]) == (0, first["distinct_inputs"])

    config = checkpoint / "config.json"
    config.write_text(config.read_text().replace('"num_channels": 32', '"num_channels": 48'))
    failed = repo.dvc(*run(), check=False)
    assert failed.returncode != 0
    assert "wrong architecture" in failed.stdout + failed.stderr
