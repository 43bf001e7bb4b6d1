"""The calibrate stage end to end on a GSE84888-shaped rows file, for every predictor's settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mprabench.stages import calibrate
from mprabench.stats.calibration import worst_nulls
from tests.conftest import write_params
from tests.support.null_rows import gse84888_like_rows

FAST = ["evaluate.calibration.n_replicates=200", "evaluate.calibration.n_permutations=199", "evaluate.n_permutations=199"]


@pytest.mark.parametrize("predictor", ["alphagenome", "gc"])  # gc leaves primary_features null (every feature)
def test_calibrate_writes_numbers_only_for_each_predictor_setting(tmp_path, predictor):
    rows = gse84888_like_rows(np.random.default_rng(0), within=False)
    rows.to_parquet(tmp_path / "rows.parquet")
    params = write_params(tmp_path / "params.yaml", [f"predictor={predictor}", *FAST])
    calibrate.main(["--params", str(params), "--rows", str(tmp_path / "rows.parquet"),
                    "--calibration", str(tmp_path / "calibration.json"), "--details", str(tmp_path / "details.json"),
                    "--qq", str(tmp_path / "qq.png")])
    result = json.loads((tmp_path / "calibration.json").read_text())
    details = json.loads((tmp_path / "details.json").read_text())
    assert details["n_replicates"] == 200 and "element_p" in result["tests"]
    # Every null of conf/evaluate's family was simulated, and each worst case names one of them.
    names = {n["name"] for n in details["nulls"]}
    assert len(names) == details["n_nulls"] >= 10 and set(details["type_I"]["element_p"]) == names
    named = worst_nulls(result)  # one string names every worst case's null
    assert set(named) == {f"{section}.{key}" for section in ("tests", "intervals", "flags") for key in result[section]}
    assert set(named.values()) <= names
    # The verdict flag as a family: any of the family's independent null features flagged (family of 6,
    # or of 1 when primary_features is null); alpha plus 3 MC SE at 200 replicates.
    assert result["flags"]["element_bonferroni_significant"]["familywise_rate"] <= 0.05 + 0.047
    assert details["family_size"] == (6 if predictor == "alphagenome" else 1)
    leaves = [v for test in result["tests"].values() for v in test.values()]
    assert all(isinstance(v, float) for v in leaves), "rates and MC SEs are numbers"
    # `dvc metrics diff` budget: calibration.json stays small (every null's rate is in the detail file).
    assert count_leaves(result) <= MAX_CALIBRATION_LEAVES
    assert (tmp_path / "qq.png").stat().st_size > 0


# summary.json 57, qc.json 11, predict.json 5: calibration.json keeps `dvc metrics diff --all` within 100 rows
MAX_CALIBRATION_LEAVES = 27


def count_leaves(node) -> int:
    return sum(count_leaves(v) for v in node.values()) if isinstance(node, dict) else 1


def test_calibrate_simulates_the_within_element_minimum_evaluate_uses(tmp_path):
    """One rule (within_element.min_within_inputs) for both stages: an element needs
    max(evaluate.min_unique_inputs, 4) distinct inputs for its within-element r."""
    from mprabench.config import load_params
    from mprabench.evaluation import evaluate
    from mprabench.stats.within_element import min_within_inputs

    rows = gse84888_like_rows(np.random.default_rng(2), within=True)  # 40 to 1,081 distinct inputs per element
    rows.to_parquet(tmp_path / "rows.parquet")
    results = {}
    for minimum in (3, 1100):
        params = write_params(tmp_path / f"params_{minimum}.yaml",
                              [*FAST, f"evaluate.min_unique_inputs={minimum}", "evaluate.strata=[]"])
        config = load_params(params).evaluate
        config.primary_features = ["feat"]
        assert calibrate.simulation_settings(config).min_within_inputs == min_within_inputs(minimum) == max(minimum, 4)
        calibrate.main(["--params", str(params), "--rows", str(tmp_path / "rows.parquet"),
                        "--calibration", str(tmp_path / f"calibration_{minimum}.json"),
                        "--details", str(tmp_path / f"details_{minimum}.json"),
                        "--qq", str(tmp_path / f"qq_{minimum}.png")])
        results[minimum] = json.loads((tmp_path / f"calibration_{minimum}.json").read_text())
        features = rows.assign(feat=np.random.default_rng(1).normal(size=len(rows)))
        summary = evaluate(features, ["feat"], config).summary()["feat"]
        # evaluate has a within-element p exactly where calibrate simulates one
        assert (summary["within_element_p"] is not None) == ("within_element_p" in results[minimum]["tests"])
    assert "within_element_p" in results[3]["tests"]
    assert count_leaves(results[3]) <= MAX_CALIBRATION_LEAVES  # the V3-like design reports the most statistics
    # no element keeps >= 1,100 inputs: nothing to pool, as evaluate finds
    assert "within_element_p" not in results[1100]["tests"]


def test_calibrate_reports_the_refit_null_predict_simulated_for_the_kmer_baseline(tmp_path):
    """The k-mer's refit-null p: predict simulates it with the fit itself (training.json), calibrate
    reports its worst type-I rate over the two refit nulls like every other statistic."""
    from mprabench.config import load_params
    from mprabench.predictors.kmer import KmerPredictor
    from mprabench.predictors.resolve import configured_predictor
    from mprabench.stats.refit_calibration import REFIT_ELEMENT_P, REFIT_NULLS

    rng = np.random.default_rng(1)
    rows = gse84888_like_rows(rng, within=False)
    rows.to_parquet(tmp_path / "rows.parquet")
    params = write_params(tmp_path / "params.yaml",
                          ["predictor=kmer", "predictor.calibration_replicates=1000", "predictor.n_permutations=199", *FAST])
    settings = configured_predictor(load_params(params), params).settings
    inputs = {sha: "".join(rng.choice(list("ACGT"), 300)) for sha in rows["input_sha256"].unique()}
    training = KmerPredictor(settings, tmp_path / "rows.parquet").training_statistics(inputs)
    (tmp_path / "training.json").write_text(json.dumps({"features": training}))
    calibrate.main(["--params", str(params), "--rows", str(tmp_path / "rows.parquet"),
                    "--calibration", str(tmp_path / "calibration.json"), "--details", str(tmp_path / "details.json"),
                    "--qq", str(tmp_path / "qq.png"), "--training", str(tmp_path / "training.json")])
    result = json.loads((tmp_path / "calibration.json").read_text())
    details = json.loads((tmp_path / "details.json").read_text())
    refit = result["tests"][REFIT_ELEMENT_P]
    assert worst_nulls(result)[f"tests.{REFIT_ELEMENT_P}"] in REFIT_NULLS
    assert set(details["type_I"][REFIT_ELEMENT_P]) == set(REFIT_NULLS)
    # the worst of two nulls at 1,000 replicates: within alpha ± 3.5 MC SE
    assert abs(refit["type_I"] - 0.05) <= 3.5 * np.sqrt(0.05 * 0.95 / 1000)
    assert count_leaves(result) <= MAX_CALIBRATION_LEAVES


def test_an_untrained_predictor_adds_no_refit_null(tmp_path):
    rows = gse84888_like_rows(np.random.default_rng(0), within=False)
    rows.to_parquet(tmp_path / "rows.parquet")
    params = write_params(tmp_path / "params.yaml", FAST)
    (tmp_path / "training.json").write_text(json.dumps({"features": {}}))
    calibrate.main(["--params", str(params), "--rows", str(tmp_path / "rows.parquet"),
                    "--calibration", str(tmp_path / "calibration.json"), "--details", str(tmp_path / "details.json"),
                    "--qq", str(tmp_path / "qq.png"), "--training", str(tmp_path / "training.json")])
    assert "refit_element_p" not in json.loads((tmp_path / "calibration.json").read_text())["tests"]


def test_calibrate_draws_its_own_number_of_permutations(tmp_path):
    """evaluate.calibration.n_permutations, not evaluate's: the p's simulated are (1 + k) / (B + 1)."""
    rows = gse84888_like_rows(np.random.default_rng(0), within=False)
    rows.to_parquet(tmp_path / "rows.parquet")
    from mprabench.config import load_params
    from mprabench.stats.calibration import calibrate as simulate, design_structure
    from mprabench.headline import null_checks

    params = write_params(tmp_path / "params.yaml", ["evaluate.calibration.n_replicates=100",
                                                     "evaluate.calibration.n_permutations=99"])
    config = load_params(params).evaluate
    result = simulate(design_structure(calibrate.read_headline_rows(tmp_path / "rows.parquet", config.target),
                                       config.target), calibrate.simulation_settings(config), null_checks())
    p = next(iter(result.outcomes.values())).pvalues["element_p"]
    assert config.n_permutations == 10_000 and np.allclose(p * 100, np.round(p * 100))  # steps of 1/100, not 1/10,001
