"""End to end: local inputs edited in place rerun exactly the stages that read them; relative
local paths work in `dvc exp run --temp` (which runs in a copy under .dvc/tmp/exps/).

Offline: the precomputed predictor reads a CSV made here from the pipeline's own inputs.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mprabench.fasta import read_fasta, write_fasta
from tests.support import params as testing_params
from tests.support.repo_copy import RepoCopy
from tests.conftest import TinyLibrary, tiny_repo

pytestmark = pytest.mark.e2e

TINY = ["dataset=tiny", "genome=tiny", "predictor=precomputed"]
FAST_EVALUATION = ["evaluate.n_permutations=500", "evaluate.primary_features=[dnase_center]"]
FEATURE = "dnase_center"
OUTSIDE_WINDOWS = 4_096  # bp from every element: beyond any experiment's window


@pytest.fixture
def repo(tmp_path: Path, tiny_library: TinyLibrary) -> RepoCopy:
    """A repo copy with `dataset=tiny`, `genome=tiny` options and params.yaml using them with precomputed
    predictions (the file is written once the inputs are known)."""
    copy = tiny_repo(tmp_path, tiny_library)
    overrides = [*TINY, f"predictor.path={tmp_path / 'predictions.csv'}", *FAST_EVALUATION]
    params = testing_params.compose_config(copy.root / "conf", overrides)
    (copy.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return copy


def repro(repo: RepoCopy, target: str = "evaluate") -> set[str]:
    """Stages run by `dvc repro target` (evaluate: everything but the MLflow report, to stay fast)."""
    return set(re.findall(r"Running stage '(\w+)'", repo.dvc("repro", target).stdout))


def write_predictions(repo: RepoCopy, path: Path) -> None:
    """One random prediction per distinct model input of the prepared data."""
    keys = sorted(read_fasta(repo.root / "data/prepared/inputs.fa"))
    values = np.random.default_rng(3).normal(size=len(keys))
    pd.DataFrame({"input_sha256": keys, FEATURE: values}).to_csv(path, index=False)


def element_r(repo: RepoCopy) -> float:
    """The headline r of the feature, in either summary layout (element_pearson_r is the newer one)."""
    entry = repo.json("metrics/summary.json")[FEATURE]
    return entry["element_pearson_r"] if "element_pearson_r" in entry else entry["pearson_r"]


def change_base(fasta: Path, chrom: str, position: int) -> None:
    records = read_fasta(fasta)
    old = records[chrom][position]
    records[chrom] = records[chrom][:position] + ("A" if old != "A" else "C") + records[chrom][position + 1 :]
    write_fasta(fasta, records)


def test_edits_in_place_rerun_exactly_their_readers(repo, tiny_library, tmp_path):
    assert repro(repo, "prepare") == {"local_inputs", "fetch", "prepare"}
    predictions = tmp_path / "predictions.csv"
    write_predictions(repo, predictions)
    # calibrate too: evaluate reads its calibration.json (a p or interval it fails is withheld)
    assert repro(repo) == {"local_inputs", "predict", "calibrate", "evaluate"}
    before = element_r(repo)
    assert before != 0 and np.isfinite(before)

    assert repro(repo) == {"local_inputs"}, "nothing changed: only the fingerprints are taken"

    table = pd.read_csv(predictions)
    table[FEATURE] = -table[FEATURE]
    table.to_csv(predictions, index=False)
    assert repro(repo) == {"local_inputs", "predict", "evaluate"}
    assert element_r(repo) == pytest.approx(-before)

    position = 29_000
    assert all(abs(e.start - position) > OUTSIDE_WINDOWS for e in tiny_library.elements if e.chrom == "chr1")
    change_base(tmp_path / "genome.fa", "chr1", position)
    assert repro(repo) == {"local_inputs", "prepare"}, "prepare's outputs are unchanged, so nothing after it reruns"

    counts = tiny_library.counts_dir / tiny_library.files[0]["name"]
    lines = counts.read_text().split("\n")
    lines[1] += "0"  # the first oligo's plasmid count x 10
    counts.write_text("\n".join(lines), encoding="ascii")
    failed = repo.dvc("repro", "evaluate", check=False)
    assert failed.returncode != 0 and "Running stage 'fetch'" in failed.stdout
    assert "SHA-256 mismatch" in failed.stderr and counts.name in failed.stderr


def test_relative_local_paths_resolve_against_the_repository_in_temp_experiments(repo, tiny_library, tmp_path):
    repro(repo, "prepare")
    write_predictions(repo, tmp_path / "predictions.csv")
    relative = {  # the repo copy is tmp_path/repo; the inputs sit beside it
        "dataset.source": f"../{tiny_library.counts_dir.name}",
        "genome.fasta": "../genome.fa",
        "predictor.path": "../predictions.csv",
    }
    settings = [*TINY, *FAST_EVALUATION, *(f"{key}={value}" for key, value in relative.items())]
    overrides = [a for setting in settings for a in ("-S", setting)]
    repo.dvc("exp", "run", "--temp", "-n", "relative", *overrides, "evaluate")
    repo.dvc("exp", "apply", "relative")
    applied = yaml.safe_load((repo.root / "params.yaml").read_text())
    assert {key: applied[key.split(".")[0]][key.split(".")[1]] for key in relative} == relative
    assert repo.json("metrics/qc.json")["rows_in"] == 48
    assert np.isfinite(element_r(repo))
