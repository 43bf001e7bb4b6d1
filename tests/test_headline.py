"""The headline contract: one list gives summary.json's keys, their computation, their null simulation
in calibrate, the report's headline columns and the forest plot's columns."""

from __future__ import annotations

import dataclasses
import math

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mprabench import headline as contract
from mprabench.config import load_params
from mprabench.evaluation import evaluate
from mprabench.files import write_json_atomic
from mprabench.headline import (
    HEADLINE,
    FeatureData,
    HeadlineInputs,
    HeadlineStatistic,
    NullCheck,
    bounds,
    headline,
    headline_keys,
    null_checks,
    report_columns,
)
from mprabench.plots.forest import forest_columns, forest_table
from mprabench.report.results import column_label
from mprabench.schema import CALIBRATION_FLAGS, CALIBRATION_INTERVALS, CALIBRATION_TESTS, ELEMENT_PEARSON_R
from mprabench.stages import calibrate as calibrate_stage
from mprabench.stats.calibration import (
    ElementNullBatch,
    SimulationSettings,
    calibrate,
    design_structure,
    require_headline_nulls,
)
from mprabench.stats.null_family import NullScenario
from mprabench.stats.within_element import WithinElementSummary
from tests.conftest import write_params
from tests.report_fixtures import PRIMARY, make_report_fixture
from tests.support.null_rows import gse84888_like_rows

# Not used by the statistics here: the element means a statistic of the contract may be computed from.
DATA = FeatureData("f", np.array(["E1", "E2", "E3"]), np.array([0.1, 0.5, 0.2]), np.array([1.0, 2.0, 1.5]),
                   n_permutations=99, ci_level=0.95, alpha=0.05, seed=0, trained=False)


def within(pooled_r: float | None, p: float | None) -> WithinElementSummary:
    return WithinElementSummary(method="m", level=0.95, n_elements_used=5, pooled_r=pooled_r, ci_low=None,
                                ci_high=None, p=p, tau2=None, reason=None)


@dataclasses.dataclass
class Spearman:
    spearman_rho: float | None
    spearman_p: float | None
    spearman_ci: tuple[float, float] | None


def test_every_statistic_is_computed_from_the_inputs_in_the_listed_order():
    values = HeadlineInputs(r=0.4, ci_low=0.1, ci_high=0.6, p=0.001, within=within(0.2, 0.01), significant=True,
                            data=DATA, spearman=Spearman(0.3, 0.01, (0.05, 0.5)))
    block = headline(values)
    assert list(block) == list(headline_keys()) == [s.key for s in HEADLINE]
    assert block == {"element_pearson_r": 0.4, "pearson_r_ci_low": 0.1, "pearson_r_ci_high": 0.6, "element_p": 0.001,
                     "element_neglog10_p": pytest.approx(3.0), "spearman_rho": 0.3, "spearman_ci_low": 0.05,
                     "spearman_ci_high": 0.5, "element_spearman_p": 0.01,
                     "spearman_neglog10_p": pytest.approx(2.0), "within_element_r": 0.2, "within_element_p": 0.01,
                     "within_element_neglog10_p": pytest.approx(2.0), "element_bonferroni_significant": True}


def test_a_statistic_whose_check_fails_is_withheld_with_its_reason_and_a_description_is_kept():
    values = HeadlineInputs(r=0.4, ci_low=0.1, ci_high=0.6, p=0.001, within=None, significant=True, data=DATA,
                            spearman=Spearman(0.3, 0.01, (0.05, 0.5)))
    block = headline(values, {"pearson_r_ci": "coverage 0.81", "element_p": "type I 0.18"})
    assert block["element_pearson_r"] == 0.4  # a description: kept
    assert block["pearson_r_ci_low"] is None and block["pearson_r_ci_high"] is None
    assert block["element_p"] is None and block["element_neglog10_p"] is None
    assert block["pearson_r_ci_reason"] == "coverage 0.81" and block["element_p_reason"] == "type I 0.18"
    assert list(block)[-2:] == ["pearson_r_ci_reason", "element_p_reason"]  # after the statistics
    assert block["spearman_ci_low"] == 0.05 and block["element_spearman_p"] == 0.01
    # a trained baseline's element p is its refit null: only `refit_element_p` withholds it
    trained = dataclasses.replace(values, data=dataclasses.replace(DATA, trained=True))
    assert headline(trained, {"element_p": "type I 0.18"})["element_p"] == 0.001
    assert headline(trained, {"refit_element_p": "type I 0.1"})["element_p_reason"] == "type I 0.1"
    # a value not estimable anyway keeps its own reason (details.json), not the calibration's
    assert "within_element_p_reason" not in headline(values, {"within_element_p": "type I 0.1"})


def test_missing_inputs_give_missing_statistics_and_a_within_r_needs_its_p():
    values = HeadlineInputs(r=None, ci_low=None, ci_high=None, p=None, within=within(0.2, None), significant=None,
                            data=DATA)
    assert all(v is None for v in headline(values).values())
    assert headline(dataclasses.replace(values, within=None))["within_element_p"] is None


def test_keys_are_unique_and_every_statistic_has_a_label_a_method_and_a_null():
    assert len(set(headline_keys())) == len(HEADLINE)
    for statistic in HEADLINE:
        assert statistic.label and statistic.method
        assert statistic.null.kind in (CALIBRATION_TESTS, CALIBRATION_INTERVALS, CALIBRATION_FLAGS)
    assert [s.key for s in bounds(next(s for s in HEADLINE if s.key == ELEMENT_PEARSON_R))] == [
        "pearson_r_ci_low", "pearson_r_ci_high"]


def settings(**changes) -> SimulationSettings:
    heterogeneous = NullScenario(name="het_0.15", slope_sd=0.15, size_linked_slope=0.0, noise="gaussian",
                                 deviation_noise=0.0, size_variance=0.0, outlier="none", outlier_sd=6.0)
    values = dict(n_replicates=50, n_permutations=99, alpha=0.05, ci_level=0.95, nulls=(heterogeneous,),
                  min_elements_ci=10, n_primary_features=6, seed=1, min_within_inputs=4,
                  normal_above_elements=20_000)
    return SimulationSettings(**(values | changes))


@pytest.mark.parametrize("within_inputs", [False, True], ids=["v2-like", "v3-like"])
def test_calibrate_simulates_the_null_of_every_headline_statistic(within_inputs):
    rows = gse84888_like_rows(np.random.default_rng(0), within_inputs)
    result = calibrate(design_structure(rows, "log2_ratio"), settings(), null_checks())
    written = result.to_dict("test")
    for check in null_checks():
        simulated = check.key in written[check.kind]
        assert simulated or check.key in result.not_estimable, check
        assert simulated or not within_inputs, f"{check} is estimable on a design whose inputs vary"


def test_a_headline_statistic_without_a_null_simulation_is_an_error():
    rows = gse84888_like_rows(np.random.default_rng(0), True)
    result = calibrate(design_structure(rows, "log2_ratio"), settings(), null_checks())
    for outcome in result.outcomes.values():  # the interval simulated under no null of the family
        outcome.covered.pop("pearson_r_ci", None)
    with pytest.raises(RuntimeError, match="intervals.pearson_r_ci"):
        require_headline_nulls(result, null_checks())


def test_the_report_and_the_forest_plot_take_their_columns_from_the_contract():
    assert [column_label(s, 0.9) for s in report_columns()] == [
        "element r [90% CI]", "element p", "−log10 p", "within-element r", "within-element p",
        "verdict (Bonferroni)"]
    values = HeadlineInputs(r=0.4, ci_low=0.1, ci_high=0.6, p=0.001, within=None, significant=False, data=DATA)
    frame = forest_table({"v2": {"design": {"n_elements": 18}, "f": headline(values)}}, str)
    assert list(frame.columns) == forest_columns()
    row = frame.iloc[0]
    assert (row["r"], row["ci_low"], row["ci_high"], row["p"]) == (0.4, 0.1, 0.6, 0.001)
    assert math.isclose(row["neglog10_p"], 3.0) and row["significant"] == "no"


# A statistic added in this test only: Kendall's tau test of the element means (scipy's p), with its own null
# simulation. Nothing but this entry tells evaluate, calibrate, the report and the forest plot about it.
KENDALL_P = "element_kendall_p"


def kendall_p(values: HeadlineInputs) -> float | None:
    data = values.data
    return None if data.trained else float(stats.kendalltau(data.mean_x, data.mean_y).pvalue)


def kendall_null(batch: ElementNullBatch) -> np.ndarray:
    return np.array([stats.kendalltau(means, batch.element_target).pvalue for means in batch.means])


KENDALL = HeadlineStatistic(KENDALL_P, "Kendall p", "Kendall tau test of the element means (scipy)", kendall_p,
                            NullCheck(CALIBRATION_TESTS, KENDALL_P, simulate=kendall_null), "p",
                            forest_column="kendall_p")
FAST = ["evaluate.calibration.n_replicates=200", "evaluate.n_permutations=199"]


def test_a_statistic_added_to_the_contract_reaches_summary_calibration_report_and_forest(tmp_path, monkeypatch):
    monkeypatch.setattr(contract, "HEADLINE", (*contract.HEADLINE, KENDALL))
    fixture = make_report_fixture(tmp_path)  # the report's other inputs (qc, provenance, figures)
    rng = np.random.default_rng(3)
    rows = gse84888_like_rows(rng, within=False)
    per_input = {f: dict(zip(rows["input_sha256"].unique(), rng.normal(size=18))) for f in PRIMARY}
    table = rows.assign(**{f: rows["input_sha256"].map(values) for f, values in per_input.items()})
    params = write_params(tmp_path / "fast_params.yaml", [*FAST, f"evaluate.primary_features=[{','.join(PRIMARY)}]"])
    config = load_params(params).evaluate

    # evaluate: what its stage writes (evaluation.summary() and details())
    evaluation = evaluate(table, PRIMARY, config)
    write_json_atomic(fixture.path("metrics/summary.json"), evaluation.summary())
    write_json_atomic(fixture.path("metrics/details.json"), evaluation.details())
    summary = json.loads(fixture.path("metrics/summary.json").read_text())
    means = table.groupby("element_id")[[*PRIMARY, "log2_ratio"]].mean()
    for feature in PRIMARY:
        assert list(summary[feature])[-1] == KENDALL_P
        assert summary[feature][KENDALL_P] == pytest.approx(
            stats.kendalltau(means[feature], means["log2_ratio"]).pvalue, rel=1e-12)

    # calibrate: its own simulation, under every null of the family
    rows.to_parquet(tmp_path / "rows.parquet")
    calibrate_stage.main(["--params", str(params), "--rows", str(tmp_path / "rows.parquet"),
                          "--calibration", str(fixture.path("metrics/calibration.json")),
                          "--details", str(tmp_path / "calibration_details.json"), "--qq", str(tmp_path / "qq.png")])
    calibration = json.loads(fixture.path("metrics/calibration.json").read_text())
    details = json.loads((tmp_path / "calibration_details.json").read_text())
    assert set(details["type_I"][KENDALL_P]) == {n["name"] for n in details["nulls"]}
    assert 0.0 <= calibration["tests"][KENDALL_P]["type_I"] <= 0.05 + 4 * 0.016  # 4 MC SE at 200 replicates
    assert f"tests.{KENDALL_P}=" in calibration["worst_nulls"]

    # the report's headline table and calibration sentence, and plots/forest.csv
    fixture.run_report(monkeypatch)
    text = fixture.path("metrics/report.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| feature |"))
    assert header.split("|")[-2].strip().startswith("Kendall p")  # the last column (with its calibration mark)
    assert f"`{KENDALL_P}` type I" in text or f"`{KENDALL_P}`" in text.split("Calibration", 1)[1]
    forest = pd.read_csv(fixture.path("plots/forest.csv"))
    assert forest["kendall_p"].tolist() == pytest.approx([summary[f][KENDALL_P] for f in forest["feature"]], rel=1e-5)
