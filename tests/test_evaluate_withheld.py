"""evaluate withholds every p and interval this design's calibration shows failing, with the reason; where
the calibration passes it prints them. Both branches rest on a real calibrate output (the calibrate stage
on the design's own rows), not on a hand-written calibration.json."""

from __future__ import annotations

import numpy as np
import pytest

from mprabench.config import load_params
from mprabench.evaluation import evaluate
from mprabench.headline import HEADLINE, calibration_key, headline_keys, reason_key, withheld_reason
from mprabench.stats.calibration import calibration_misses
from tests.support.calibrated import BALANCED_SIZES, calibrated, with_features
from tests.support.null_rows import gse84888_like_rows

def follows_the_calibration(block: dict, plain: dict, failing: set[str]) -> None:
    """Every statistic of a summary.json block is withheld (None, with its reason) exactly where calibrate shows its
    check failing, unless it is a description or was not estimable anyway; the rest is as without a calibration."""
    for s in HEADLINE:
        if calibration_key(s, trained=False) in failing and not s.description and plain[s.key] is not None:
            assert block[s.key] is None and withheld_reason(block, s.key), s.key
        else:
            assert block[s.key] == plain[s.key], s.key
    assert {k for k in block if k.endswith("_reason")} == {
        reason_key(s) for s in HEADLINE if not s.description and s.null.key in failing and plain[s.key] is not None}


@pytest.fixture(scope="module")
def gse84888_like(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("gse84888_like")
    rows = gse84888_like_rows(np.random.default_rng(0), within=False)
    calibration, params = calibrated(tmp_path, rows, ["a", "b"])
    config = load_params(params).evaluate
    return with_features(rows, 1, ["a", "b"]), calibration, config


def test_on_gse84888s_elements_the_pearson_p_and_interval_fail_and_are_withheld_with_the_reason(gse84888_like):
    table, calibration, config = gse84888_like
    failing = {m.key: m for m in calibration_misses(calibration, config.calibration.type_i_tolerance,
                                                      config.calibration.coverage_tolerance)}
    # the simulation itself: one high-leverage element breaks the Pearson p and interval, not Spearman's
    assert {"element_p", "pearson_r_ci"} <= set(failing)
    assert failing["element_p"].null.startswith("leverage") and failing["element_p"].rate > 0.05 + 0.015

    evaluation = evaluate(table, ["a", "b"], config, calibration=calibration)
    summary, details = evaluation.summary("a"), evaluation.details()
    plain = evaluate(table, ["a", "b"], config).summary("a")  # without a calibration: nothing withheld
    for feature in ("a", "b", "headline"):
        block = summary[feature]
        # withheld: the Pearson p, its −log10 and both bounds of the interval
        for key in ("element_p", "element_neglog10_p", "pearson_r_ci_low", "pearson_r_ci_high"):
            assert block[key] is None and plain[feature][key] is not None
        # the reason names the statistic, its worst rate ± MC SE and the null it failed under
        miss = failing["pearson_r_ci"]
        assert block["pearson_r_ci_reason"] == withheld_reason(block, "pearson_r_ci_low")
        assert block["pearson_r_ci_reason"].startswith("not calibrated: pearson_r_ci coverage ")
        assert f"{miss.rate:.3f} ± {miss.mcse:.3f} under the null {miss.null}" in block["pearson_r_ci_reason"]
        assert f"element_p type I {failing['element_p'].rate:.3f}" in block["element_p_reason"]
        # kept: the element r (a description) and Spearman's rho; the rest as the simulation says
        assert block["element_pearson_r"] == plain[feature]["element_pearson_r"] is not None
        assert block["spearman_rho"] == plain[feature]["spearman_rho"] is not None
        follows_the_calibration(block, plain[feature], set(failing))
        assert list(block)[:len(headline_keys()) + (feature == "headline")] == (
            ["feature"] if feature == "headline" else []) + list(headline_keys())
    # details.json: the same values withheld, with the long reason the report prints
    element = details["per_feature"]["a"]["element_level"]
    assert element["p"] is None and element["ci_low"] is None and element["ci_high"] is None
    assert "not calibrated for this design: pearson_r_ci coverage" in element["ci_reason"]
    assert "Spearman's rho" in element["ci_reason"] and "element_p type I" in element["p_reason"]
    assert element["element_spearman_p"] == summary["a"]["element_spearman_p"]
    assert element["spearman_rho"] == summary["a"]["spearman_rho"]


def test_on_a_large_balanced_design_the_calibration_passes_and_the_pearson_p_and_interval_are_printed(tmp_path):
    rows = gse84888_like_rows(np.random.default_rng(4), within=False, sizes=BALANCED_SIZES)
    calibration, params = calibrated(tmp_path, rows, ["a", "b"])
    config = load_params(params).evaluate
    failing = {m.key for m in calibration_misses(calibration, config.calibration.type_i_tolerance,
                                                 config.calibration.coverage_tolerance)}
    assert not {"element_p", "pearson_r_ci"} & failing, calibration

    table = with_features(rows, 1, ["a", "b"])
    summary = evaluate(table, ["a", "b"], config, calibration=calibration).summary("a")
    plain = evaluate(table, ["a", "b"], config).summary("a")
    for feature in ("a", "b", "headline"):
        block = summary[feature]
        assert block["pearson_r_ci_low"] < block["element_pearson_r"] < block["pearson_r_ci_high"]
        assert 0 < block["element_p"] <= 1 and block["element_p"] == plain[feature]["element_p"]
        assert "pearson_r_ci_reason" not in block and "element_p_reason" not in block
        follows_the_calibration(block, plain[feature], failing)


def test_a_description_is_never_withheld_and_each_check_has_one_reason_key():
    descriptions = {s.key for s in HEADLINE if s.description}
    assert {"element_pearson_r", "within_element_r", "spearman_rho"} == descriptions
    keys = {reason_key(s) for s in HEADLINE}
    assert {"element_p_reason", "pearson_r_ci_reason", "element_spearman_p_reason", "spearman_rho_ci_reason"} <= keys
    assert not any("." in k for k in keys | set(headline_keys())), "DVC reads a dot in a metric key as a path"
