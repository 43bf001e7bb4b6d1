"""scripts/export_results: one tidy row per DVC experiment and feature, from real `dvc exp save` experiments
(read by `dvc exp show`, or by revision when named)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mprabench.results_table import COLUMNS
from scripts.export_results import main
from tests.conftest import compose_config
from tests.support.repo_copy import GIT_IDENTITY


def block(r: float, low: float | None, high: float | None, p: float) -> dict:
    return {"element_pearson_r": r, "pearson_r_ci_low": low, "pearson_r_ci_high": high, "element_p": p,
            "element_neglog10_p": 1.0, "element_bonferroni_significant": p < 0.025}


@pytest.fixture(scope="module")
def saved_repo(tmp_path_factory) -> Path:
    """A DVC repository with two experiments saved from the workspace (gc on v1, kmer on v2); built once
    (six git and DVC commands), read by every test but the one that removes the experiments from a copy."""
    root = tmp_path_factory.mktemp("export") / "repo"
    root.mkdir()

    def run(*args: str) -> None:
        subprocess.run(args, cwd=root, check=True, capture_output=True, env={**GIT_IDENTITY, "PATH": "/usr/bin:/bin",
                                                                            "DVC_NO_ANALYTICS": "1"})

    def workspace(configuration: str, predictor: str, summary: dict) -> None:
        params = compose_config([f"experiment={configuration}", f"predictor={predictor}"])
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        (root / "metrics" / "summary.json").write_text(json.dumps(summary))

    (root / "metrics").mkdir()
    run("git", "init", "-q", "-b", "main")
    run(sys.executable, "-m", "dvc", "init", "-q")
    (root / "dvc.yaml").write_text("metrics:\n  - metrics/summary.json\n")  # as the pipeline's dvc.yaml declares it
    workspace("v2", "alphagenome", {"design": {"n_elements": 18}})
    run("git", "add", "-A")
    run("git", "commit", "-q", "-m", "baseline")
    workspace("v1", "gc", {"design": {"n_elements": 18}, "gc_fraction": block(0.02, -0.45, 0.49, 0.92)})
    run(sys.executable, "-m", "dvc", "exp", "save", "-n", "first")
    kmer = block(0.38, None, None, 0.004)
    workspace("v2", "kmer", {"design": {"n_elements": 17}, "headline": {"feature": "kmer_ridge_oof", **kmer},
                             "kmer_ridge_oof": kmer})
    run(sys.executable, "-m", "dvc", "exp", "save", "-n", "second")
    return root


@pytest.fixture
def dvc_repo(saved_repo, monkeypatch) -> Path:
    monkeypatch.setenv("PATH", f"{sys.executable.rsplit('/', 1)[0]}:/usr/bin:/bin")
    return saved_repo


def test_one_row_per_experiment_and_feature_in_csv_and_xlsx(dvc_repo, tmp_path):
    csv, xlsx = tmp_path / "out" / "results.csv", tmp_path / "out" / "results.xlsx"
    assert main(["--repo", str(dvc_repo), "--out", str(csv), "--xlsx", str(xlsx)]) == 0

    table = pd.read_csv(csv)
    assert list(table.columns) == list(COLUMNS)
    rows = table.set_index("experiment")
    assert sorted(rows.index) == ["first", "second"]
    assert rows.loc["first", ["dataset", "configuration", "predictor", "feature"]].tolist() == [
        "GSE84888", "v1", "gc", "gc_fraction"]
    assert rows.loc["first", ["element_r", "ci_low", "ci_high", "p", "n_elements"]].tolist() == [
        0.02, -0.45, 0.49, 0.92, 18]
    assert rows.loc["second", "predictor"] == "kmer" and rows.loc["second", "n_elements"] == 17
    assert len(rows.loc[["second"]]) == 1, "the shared headline block is no feature row of its own"
    assert bool(rows.loc["second", "headline"]) is True and bool(rows.loc["first", "headline"]) is False
    assert pd.isna(rows.loc["second", "ci_low"]), "a CI that does not exist stays empty"
    assert bool(rows.loc["second", "bonferroni_significant"]) is True
    pd.testing.assert_frame_equal(pd.read_excel(xlsx, sheet_name="results"), table)


def test_no_experiment_says_what_to_run(dvc_repo, tmp_path, capsys):
    emptied = shutil.copytree(dvc_repo, tmp_path / "repo")  # the other tests read the shared one
    subprocess.run([sys.executable, "-m", "dvc", "exp", "remove", "first", "second"], cwd=emptied, check=True,
                   capture_output=True)
    assert main(["--repo", str(emptied), "--out", str(tmp_path / "r.csv")]) == 1
    assert "no DVC experiments on this commit" in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()


def test_named_experiments_are_read_at_their_revision_with_the_same_rows(dvc_repo, tmp_path):
    every, named = tmp_path / "every.csv", tmp_path / "named.csv"
    assert main(["--repo", str(dvc_repo), "--out", str(every)]) == 0
    assert main(["second", "first", "--repo", str(dvc_repo), "--out", str(named)]) == 0
    by_name = pd.read_csv(named).set_index("experiment")
    pd.testing.assert_frame_equal(by_name.loc[["first", "second"]], pd.read_csv(every).set_index("experiment")
                                  .loc[["first", "second"]])


def test_leaderboard_rows_are_the_paper_rows_of_the_feature_shown(dvc_repo):
    """One reader and one row model (mprabench.results_table): the leaderboard picks rows of the paper table."""
    from mprabench.leaderboard import leaderboard_table
    from mprabench.results_table import entries_from_dvc, results_table

    entries = entries_from_dvc(dvc_repo)
    paper = results_table(entries).set_index("experiment")
    board = leaderboard_table(entries).set_index("experiment")
    shared = ["dataset", "configuration", "predictor", "feature", "element_r", "ci_low", "ci_high", "p", "n_elements"]
    pd.testing.assert_frame_equal(board.loc[paper.index, shared], paper[shared], check_dtype=False)
