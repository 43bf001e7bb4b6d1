"""`make demo`'s lines per feature (scripts/demo.headline_lines) from evaluate's summary.json: a Pearson CI or p this
design's calibration fails prints as 'withheld', its reason once below, with Spearman's rho, interval and p beside."""

from __future__ import annotations

import numpy as np

from mprabench.config import load_params
from mprabench.evaluation import evaluate
from scripts.demo import headline_lines
from tests.support.calibrated import BALANCED_SIZES, calibrated, with_features
from tests.support.null_rows import gse84888_like_rows


def summary_of(tmp_path, **sizes) -> dict:
    rows = gse84888_like_rows(np.random.default_rng(0), within=False, **sizes)
    calibration, params = calibrated(tmp_path, rows, ["a", "b"])
    return evaluate(with_features(rows, 1, ["a", "b"]), ["a", "b"], load_params(params).evaluate,
                    calibration=calibration).summary("a")


def test_withheld_values_print_as_withheld_with_their_reason_and_spearmans_interval(tmp_path):
    summary = summary_of(tmp_path)
    lines = headline_lines(summary)
    first = lines[0]
    rho, low, high = (summary["a"][k] for k in ("spearman_rho", "spearman_ci_low", "spearman_ci_high"))
    assert "[CI withheld]  p withheld" in first and f"ρ {rho:+.3f} [{low:.2f}, {high:.2f}]" in first
    assert first.endswith("(headline)")
    reasons = [line.strip() for line in lines if line.strip().startswith("withheld:")]
    assert reasons == [f"withheld: {summary['a']['pearson_r_ci_reason']}", f"withheld: {summary['a']['element_p_reason']}"]
    assert not any(word in " ".join(lines) for word in ("unknown", "nan", "None"))


def test_where_the_calibration_passes_the_pearson_interval_and_p_are_printed(tmp_path):
    summary = summary_of(tmp_path, sizes=BALANCED_SIZES)
    block = summary["b"]
    line = headline_lines(summary)[1]
    assert f"[{block['pearson_r_ci_low']:.2f}, {block['pearson_r_ci_high']:.2f}]  p {block['element_p']:.3g}" in line
    assert "[CI withheld]" not in line and "p withheld" not in line
    assert not [reason for reason in headline_lines(summary) if "pearson_r_ci" in reason or "element_p " in reason]
