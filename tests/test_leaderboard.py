"""The leaderboard: one row per experiment from its summary.json, as CSV, Markdown and a forest plot;
read from real `dvc exp show --json` output of experiments saved in a small repository."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mprabench import leaderboard
from mprabench.errors import InputDataError
from mprabench.results_table import entries_from_runs
from tests.conftest import compose_config

GIT = ["git", "-c", "user.email=test@example.com", "-c", "user.name=test"]


# as evaluate writes them where this design's calibration fails the Pearson interval and p (GSE84888, V2)
CI_REASON = "not calibrated: pearson_r_ci coverage 0.808 ± 0.009 under the null leverage_smallest (nominal 0.95)"
P_REASON = "not calibrated: element_p type I 0.176 ± 0.009 under the null leverage_smallest (nominal 0.05)"


def summary(r: float, low: float, high: float, p: float, n: int, features=("dnase_center", "dnase_mean"),
            withheld: bool = False) -> dict:
    blocks = {f: {"element_pearson_r": r - 0.1 * i, "pearson_r_ci_low": low, "pearson_r_ci_high": high,
                  "element_p": p, "spearman_rho": r - 0.06, "spearman_ci_low": low - 0.06,
                  "spearman_ci_high": high - 0.06, "element_spearman_p": p,
                  "element_bonferroni_significant": p < 0.05 / len(features)}
              | ({"pearson_r_ci_low": None, "pearson_r_ci_high": None, "element_p": None,
                  "pearson_r_ci_reason": CI_REASON, "element_p_reason": P_REASON} if withheld else {})
              for i, f in enumerate(features)}
    return {"design": {"n_rows": 2 * n, "n_elements": n, "n_unique_inputs": 2 * n}, **blocks}


def params(overrides: list[str]) -> dict:
    return compose_config(overrides)


RUNS = {  # experiment name -> (params overrides, summary)
    "gse-v2-ag": (["experiment=v2"], summary(0.18, -0.31, 0.60, 0.47, 18, withheld=True)),
    "hepg2-ag": (["experiment.tracks=null", "dataset.name=agarwal2025_hepg2_test",
                  "dataset.assay_biosample.ontology_term=EFO:0001187"], summary(0.41, 0.39, 0.43, 1e-4, 6149)),
    "gse-v2-gc": (["experiment=v2", "predictor=gc"], summary(-0.05, -0.50, 0.42, 0.83, 18, ("gc_fraction",))),
}


def write_run(folder: Path, overrides: list[str], values: dict) -> Path:
    (folder / "metrics").mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params(overrides)))
    (folder / "metrics" / "summary.json").write_text(json.dumps(values))
    return folder


@pytest.fixture(scope="module")
def dvc_repo(tmp_path_factory) -> Path:
    """A git + DVC repository with the three runs saved as DVC experiments (`dvc exp save`)."""
    root = tmp_path_factory.mktemp("exps")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    (root / "dvc.yaml").write_text("metrics:\n  - metrics/summary.json\n")
    write_run(root, ["experiment=v2"], summary(0.0, -0.5, 0.5, 1.0, 18))
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "baseline"], cwd=root, check=True)
    for name, (overrides, values) in RUNS.items():
        write_run(root, overrides, values)
        subprocess.run([sys.executable, "-m", "dvc", "exp", "save", "-q", "-n", name], cwd=root, check=True)
    subprocess.run([*GIT, "checkout", "-q", "--", "."], cwd=root, check=True)
    return root


def test_three_dvc_experiments_give_one_row_each_with_element_r_ci_and_p(dvc_repo, tmp_path):
    out = tmp_path / "board"
    leaderboard.main(["--repo", str(dvc_repo), "--out", str(out)])
    table = pd.read_csv(out / "leaderboard.csv")
    assert sorted(table["experiment"]) == sorted(RUNS), "one row per experiment; the baseline commit is no row"
    for name, (_, values) in RUNS.items():
        row = table.set_index("experiment").loc[name]
        first = next(k for k in values if k != "design")  # the first primary feature, not the best one
        assert row["feature"] == first
        expected = [values[first][k] for k in ("element_pearson_r", "pearson_r_ci_low", "pearson_r_ci_high",
                                               "element_p", "spearman_rho", "spearman_ci_low", "spearman_ci_high")]
        assert np.allclose(row[["element_r", "ci_low", "ci_high", "p", "spearman_rho", "spearman_ci_low",
                                "spearman_ci_high"]].to_numpy(float), np.array(expected, dtype=float), equal_nan=True)
        assert row["n_elements"] == values["design"]["n_elements"]
    rows = table.set_index("experiment")
    assert (rows.loc["hepg2-ag", "dataset"], rows.loc["hepg2-ag", "tracks"]) == ("agarwal2025_hepg2_test",
                                                                                 "EFO:0001187")
    assert rows.loc["gse-v2-ag", "tracks"] == "EFO:0002067" and rows.loc["gse-v2-gc", "tracks"] == "-"
    assert list(table["dataset"]) == ["GSE84888", "GSE84888", "agarwal2025_hepg2_test"]
    assert list(table["experiment"][:2]) == ["gse-v2-ag", "gse-v2-gc"], "within a dataset: highest r first"
    text = (out / "leaderboard.md").read_text()
    assert "| agarwal2025_hepg2_test | alphagenome | EFO:0001187 | hepg2-ag | v2 | dnase_center | 6,149 | " \
           "+0.410 [+0.39, +0.43] | 1.0e-04 | +0.350 [+0.33, +0.37] (1.0e-04) | yes |" in text
    # a Pearson interval and p withheld by calibration: short in the Markdown, the reason in the CSV
    assert "| +0.180 [CI withheld: not calibrated] | withheld: not calibrated | +0.120 [-0.37, +0.54] (0.47) | no |" in text
    assert (rows.loc["gse-v2-ag", "ci_reason"], rows.loc["gse-v2-ag", "p_reason"]) == (CI_REASON, P_REASON)
    assert pd.isna(rows.loc["gse-v2-ag", "ci_low"]) and pd.isna(rows.loc["hepg2-ag", "ci_reason"])
    assert "nan" not in text and "unknown" not in text
    assert text.count("\n") == 2 + len(RUNS)
    assert (out / "leaderboard.png").stat().st_size > 10_000


def test_a_named_feature_is_shown_where_an_experiment_has_it(tmp_path):
    runs = [write_run(tmp_path / name, overrides, values) for name, (overrides, values) in RUNS.items()]
    table = leaderboard.leaderboard_table(entries_from_runs(runs), feature="dnase_mean")
    assert dict(zip(table["experiment"], table["feature"])) == {
        "gse-v2-ag": "dnase_mean", "hepg2-ag": "dnase_mean", "gse-v2-gc": "gc_fraction"}


def test_the_headline_block_chooses_the_feature_shown_unless_one_is_named(tmp_path):
    values = summary(0.18, -0.31, 0.60, 0.47, 18, ("dnase_center", "cage_center"))
    values = {"design": values["design"], "headline": {"feature": "cage_center", **values["cage_center"]}, **values}
    run = write_run(tmp_path / "declared", ["experiment=v2"], values)
    shown = leaderboard.leaderboard_table(leaderboard.entries_from_runs([run]))
    assert shown.loc[0, "feature"] == "cage_center"
    assert shown.loc[0, "element_r"] == values["cage_center"]["element_pearson_r"]
    named = leaderboard.leaderboard_table(leaderboard.entries_from_runs([run]), feature="dnase_center")
    assert named.loc[0, "feature"] == "dnase_center", "--feature wins where the experiment has it"


def test_a_run_folder_without_summary_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputDataError, match=r"empty: no params.yaml or metrics/summary.json"):
        entries_from_runs([tmp_path / "empty"])


def test_experiments_with_different_ci_levels_are_not_mixed(tmp_path):
    first = write_run(tmp_path / "a", ["experiment=v2"], RUNS["gse-v2-ag"][1])
    second = write_run(tmp_path / "b", ["experiment=v2", "evaluate.ci_level=0.9"], RUNS["gse-v2-ag"][1])
    with pytest.raises(InputDataError, match="ci_level differ"):
        leaderboard.build(entries_from_runs([first, second]), tmp_path / "out", None, 150)
