"""Three predictors with no feature in common line up: gc, kmer and AlphaGenome (the local stand-in
server) as DVC experiments on the tiny library, shown side by side by the README's `dvc exp show`
recipe, `dvc metrics diff` and scripts/compare_forest.py, through summary.json's `headline` block."""

from __future__ import annotations

import csv
import io
import json
import shlex
import sys

import pandas as pd
import pytest

from scripts.demo import COMPARE_RECIPE
from tests.conftest import REPO, tiny_repo
from tests.support.alphagenome.server import LocalAlphaGenomeServer

pytestmark = pytest.mark.e2e

KEY = "compare-predictors-key"
# min_elements_ci=3: the tiny library's 4 elements get a CI, so the recipe's CI columns have values to show
FAST = ["dataset=tiny", "genome=tiny", "evaluate.n_permutations=199", "evaluate.calibration.n_replicates=100",
        "evaluate.min_elements_ci=3"]
RUNS = {  # experiment -> (its -S list, the headline feature its predictor declares)
    "cmp-gc": (["predictor=gc"], "gc_fraction"),
    "cmp-kmer": (["predictor=kmer", "predictor.n_folds=4", "predictor.n_permutations=99"], "kmer_ridge_oof"),
    "cmp-ag": (["predictor.insecure=true", "predictor.initial_backoff_s=0.05"], "dnase_center"),
}


@pytest.mark.timeout(1200)  # three whole pipeline runs on a loaded 2-core machine
def test_three_predictors_side_by_side_in_exp_show_metrics_diff_and_the_forest_comparison(tmp_path, tiny_library):
    repo = tiny_repo(tmp_path, tiny_library)
    repo.env |= {"ALPHAGENOME_API_KEY": KEY, "COLUMNS": "200"}
    summaries = {}
    with LocalAlphaGenomeServer(expected_api_key=KEY) as server:
        for name, (overrides, _) in RUNS.items():
            address = [f"predictor.address={server.address}"] if name == "cmp-ag" else []
            settings = [*FAST, *overrides, *address]
            # up to evaluate: the comparison reads summary.json (the report: test_pipeline_e2e)
            repo.dvc("exp", "run", "-n", name, *[a for s in settings for a in ("-S", s)], "evaluate")
            summaries[name] = repo.json("metrics/summary.json")
        assert server.counters().predict_calls == 4, "AlphaGenome: the 4 distinct inputs, once each"

    for name, (_, feature) in RUNS.items():
        headline = summaries[name]["headline"]
        own = summaries[name][feature]  # the shared block adds Spearman's numbers (details.json has every feature's)
        assert {k: v for k, v in headline.items() if k == "feature" or k in own} == {"feature": feature, **own}, (
            "the declared feature's own numbers")

    # The README's recipe, as written there (and printed by `make demo`), in a 200-column terminal.
    assert COMPARE_RECIPE in (REPO / "README.md").read_text()
    recipe = shlex.split(COMPARE_RECIPE.replace("\\\n", " "))
    assert recipe[:2] == ["dvc", "exp"]
    table = repo.dvc(*recipe[1:]).stdout
    print(table)  # what a user sees (pytest -s)
    header = next(line for line in table.splitlines() if "Experiment" in line).split()
    # DVC leaves out a column no experiment has a value in: Spearman's rho needs 6 elements (this library has 4;
    # on GSE84888's 18 every one of these columns fits in 200 characters with the demo's experiment names).
    recipe_columns = ["feature", "element_pearson_r", "spearman_rho", "spearman_ci_low", "spearman_ci_high",
                      "spearman_neglog10_p"]
    shown_columns = [c for c in recipe_columns if any(s["headline"][c] is not None for s in summaries.values())]
    assert shown_columns[:2] == ["feature", "element_pearson_r"]
    assert header == ["Experiment", *(f"headline.{c}" for c in shown_columns), "predictor.name"], header
    assert "…" not in table, "every column fits: nothing is elided"
    predictor = {"cmp-gc": "gc", "cmp-kmer": "kmer", "cmp-ag": "alphagenome"}
    for name, (_, feature) in RUNS.items():
        row = next(line for line in table.splitlines() if f"[{name}]" in line).split()
        assert row[-1] == predictor[name] and feature in row, row
        r = summaries[name]["headline"]["element_pearson_r"]
        assert any(abs(float(cell) - r) < 1e-4 for cell in row if _is_number(cell)), (row, r)

    # The same rows as CSV: one column per statistic, filled for every predictor (the baseline commit, run
    # before any headline block existed, shows DVC's "!" there, so the column is read as text).
    shown = pd.read_csv(io.StringIO(repo.dvc(*recipe[1:], "--csv").stdout)).set_index("Experiment")
    for name, (_, feature) in RUNS.items():
        assert shown.loc[name, "headline.feature"] == feature
        assert float(shown.loc[name, "headline.element_pearson_r"]) == pytest.approx(
            summaries[name]["headline"]["element_pearson_r"])

    diff = json.loads(repo.dvc("metrics", "diff", "--all", "cmp-gc", "cmp-ag", "--json").stdout)
    lined_up = diff["metrics/summary.json"]["headline.element_pearson_r"]
    assert (lined_up["old"], lined_up["new"]) == pytest.approx(
        (summaries["cmp-gc"]["headline"]["element_pearson_r"], summaries["cmp-ag"]["headline"]["element_pearson_r"]))
    assert diff["metrics/summary.json"]["headline.feature"] == {"old": "gc_fraction", "new": "dnase_center"}

    out = tmp_path / "compare"
    printed = repo.run(sys.executable, "scripts/compare_forest.py", *RUNS, "--out", str(out / "forest.png"),
                       "--csv", str(out / "forest.csv")).stdout
    assert str(out / "forest.png") in printed and (out / "forest.png").stat().st_size > 10_000
    rows = list(csv.DictReader((out / "forest.csv").open()))
    assert [row["feature"] for row in rows] == [feature for _, feature in RUNS.values()]
    assert [row["label"].split(":")[0] for row in rows] == list(RUNS), "one row per experiment, named"
    assert all(row["r"] for row in rows), "every predictor has an element r: no n.e. for a feature it lacks"


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
