"""MLflow tags naming the code of a run: an experiment's baseline and its ref, or HEAD."""

from __future__ import annotations

import subprocess

from mprabench.tracking import commit_tags, predictor_tags


def test_an_experiment_records_its_baseline_and_its_ref_never_the_baseline_as_its_commit(tmp_path):
    baseline = "0123456789abcdef0123456789abcdef01234567"
    tags = commit_tags(tmp_path, {"DVC_EXP_BASELINE_REV": baseline, "DVC_EXP_NAME": "sweep-1"})
    assert tags == {"git_baseline_commit": baseline, "dvc_exp_name": "sweep-1",
                    "dvc_exp_ref": f"refs/exps/01/{baseline[2:]}/sweep-1"}


def test_a_plain_repro_records_head(tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q",
                    "--allow-empty", "-m", "x"], cwd=tmp_path, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert commit_tags(tmp_path, {}) == {"git_commit": head}


def test_predictor_tags_carry_the_store_key():
    assert predictor_tags({"store_key": "abcd", "source": "AlphaGenome API"}) == {
        "predictor.store_key": "abcd", "predictor.source": "AlphaGenome API"}
    assert predictor_tags({"store_key": None, "source": "offline baseline"})["predictor.store_key"] == "null"
    assert predictor_tags(None) == {}
