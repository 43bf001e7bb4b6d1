"""The forest comparison of several experiments (plots/comparison.py, scripts/compare_forest.py): one row per
experiment from its `headline` block, a title naming what is compared, and no "n.e." for a feature an
experiment's predictor does not make (the DVC side is tests/test_compare_predictors_e2e.py)."""

from __future__ import annotations

import matplotlib as mpl
import pytest

from mprabench.errors import InputDataError
from mprabench.plots.comparison import (
    Compared,
    comparison_subtitle,
    headline_table,
    per_feature_table,
    shared_ci_level,
)
from mprabench.plots.forest import forest_figure
from mprabench.plots.style import NOT_ESTIMABLE, RC_PARAMS
from tests.conftest import compose_config


def block(r: float, p: float | None = 0.2) -> dict:
    return {"element_pearson_r": r, "pearson_r_ci_low": r - 0.3, "pearson_r_ci_high": r + 0.2, "element_p": p,
            "element_neglog10_p": 0.7, "element_bonferroni_significant": False}


def compared(name: str, predictor: str, features: dict[str, float], headline: str | None) -> Compared:
    summary = {"design": {"n_elements": 18}} | ({"headline": {"feature": headline, **block(features[headline])}}
                                                if headline else {}) | {f: block(r) for f, r in features.items()}
    return Compared(name, compose_config(["experiment=v2", f"predictor={predictor}"]), summary)


RUNS = [compared("demo-v2-gc", "gc", {"gc_fraction": 0.17}, "gc_fraction"),
        compared("demo-v2-motif", "motif", {"motif_MA0065_3_Pparg_Rxra": 0.25, "motif_MA0102_5_CEBPA": 0.39},
                 "motif_MA0065_3_Pparg_Rxra"),
        compared("v2-ag", "alphagenome", {"dnase_center": 0.1, "cage_center": 0.3}, "dnase_center")]


def test_one_row_per_experiment_from_its_headline_block():
    frame = headline_table(RUNS)
    assert list(frame["feature"]) == ["gc_fraction", "motif_MA0065_3_Pparg_Rxra", "dnase_center"]
    assert list(frame["r"]) == [0.17, 0.25, 0.1]
    assert frame["label"][0] == "demo-v2-gc: gc · GC fraction, central window"
    assert frame["label"][2].startswith("v2-ag: alphagenome · DNase, central 200 bp")
    assert shared_ci_level(RUNS) == 0.95


def test_the_title_names_dataset_predictors_and_experiments():
    subtitle = comparison_subtitle(RUNS)
    assert subtitle == ("dataset: GSE84888 · predictors: gc, motif, alphagenome · experiments: demo-v2-gc (v2), "
                        "demo-v2-motif (v2), v2-ag (v2)")


def test_a_summary_from_before_the_headline_block_says_what_to_do():
    old = compared("old", "gc", {"gc_fraction": 0.1}, None)
    with pytest.raises(InputDataError, match=r"old: its metrics/summary.json has no `headline` block.*--per-feature"):
        headline_table([old])


def test_per_feature_rows_leave_a_feature_an_experiment_lacks_blank_not_n_e():
    frame = per_feature_table(RUNS)
    assert len(frame) == 5, "each experiment's own features only"
    with mpl.rc_context(RC_PARAMS):
        figure = forest_figure(frame, comparison_subtitle(RUNS), "18", 0.95)
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert not any(NOT_ESTIMABLE in t for t in texts), texts
    notes = " ".join(" ".join(t.get_text() for t in figure.texts).split())  # the notes are wrapped
    assert "that experiment's predictor has no such feature" in notes


def test_a_value_that_was_not_estimated_is_still_written_n_e():
    lacking = compared("tiny", "gc", {"gc_fraction": 0.2}, "gc_fraction")
    for block in ("gc_fraction", "headline"):  # the feature's block and the shared block that repeats it
        lacking.summary[block]["element_pearson_r"] = None
    frame = per_feature_table([lacking, RUNS[0]])
    with mpl.rc_context(RC_PARAMS):
        figure = forest_figure(frame, "x", "18", 0.95)
    assert sum(NOT_ESTIMABLE in t.get_text() for t in figure.axes[0].texts) == 1
