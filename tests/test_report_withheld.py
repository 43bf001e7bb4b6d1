"""report.md and the MLflow note print a p or interval this design's calibration shows failing as its reason
('withheld'), with Spearman's interval beside it, and print the Pearson ones where the calibration passes. The
calibration is the calibrate stage's on the design's own rows; summary.json and details.json are evaluate's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mprabench.config import load_params
from mprabench.evaluation import evaluate
from mprabench.plots.labels import RunContext
from mprabench.report.note import headline_note
from tests.report_fixtures import PRIMARY, make_report_fixture, write_json
from tests.support.calibrated import BALANCED_SIZES, calibrated, with_features
from tests.support.null_rows import gse84888_like_rows


def run_report(tmp_path, monkeypatch, sizes=None) -> tuple[str, dict, dict]:
    """The report of evaluate's summary and details for null features on these rows, with their calibration."""
    fixture = make_report_fixture(tmp_path)  # the report's other inputs (qc, provenance, figures)
    extra = {} if sizes is None else {"sizes": sizes}
    rows = gse84888_like_rows(np.random.default_rng(0), within=False, **extra)
    calibration, params = calibrated(tmp_path / "calibrate", rows, PRIMARY)
    config = load_params(params).evaluate
    evaluation = evaluate(with_features(rows, 1, PRIMARY), PRIMARY, config, calibration=calibration)
    summary = evaluation.summary(PRIMARY[0])
    write_json(fixture.path("metrics/summary.json"), summary)
    write_json(fixture.path("metrics/details.json"), evaluation.details())
    write_json(fixture.path("metrics/calibration.json"), calibration)
    fixture.run_report(monkeypatch)
    return fixture.path("metrics/report.md").read_text(), summary, calibration


def headline_rows(text: str) -> list[str]:
    section = text.split("## Headline", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| feature |")]


def test_on_gse84888s_elements_the_report_prints_the_pearson_p_and_interval_as_withheld(tmp_path, monkeypatch):
    text, summary, calibration = run_report(tmp_path, monkeypatch)
    rows = headline_rows(text)
    assert len(rows) == len(PRIMARY)
    for row in rows:
        cells = [c.strip() for c in row.split("|")[1:-1]]
        # element r [withheld (x)] | withheld (y) | withheld (y) | Spearman ρ [its interval] (p) | ...
        assert cells[1].split(" ", 1)[1].startswith("[withheld (") and cells[2].startswith("withheld (")
        assert cells[3] == cells[2], "the −log10 p shares the p's reason"
        rho, interval = cells[4].split(" [", 1)
        element = json.loads(Path("metrics/details.json").read_text())["per_feature"][PRIMARY[rows.index(row)]]
        assert float(rho) == pytest.approx(element["element_level"]["spearman_rho"], abs=5e-4)
        assert interval[0] in "-0123456789" and "withheld" not in cells[4]
    legend = text[text.index("Why each not-estimable or withheld cell is empty"):]
    coverage = calibration["intervals"]["pearson_r_ci"]
    assert (f"withheld (a) — not calibrated: pearson_r_ci coverage {coverage['coverage']:.3f} ± "
            f"{coverage['mcse']:.3f} under the null leverage_") in legend
    assert "The headline's `element_p`, `pearson_r_ci`" in text and "are withheld" in text
    assert "Spearman's ρ, its interval and p stand in their place" in text
    headline = text.split("## Headline", 1)[1].split("## Headline with and without", 1)[0]
    assert "unknown" not in headline.lower() and "nan" not in headline.split()

    # the MLflow note: the Pearson values as their reason, Spearman's interval in their place
    details = json.loads((tmp_path / "metrics" / "details.json").read_text())
    # the forest plot: every feature's Spearman interval (summary.json has the headline feature's; details the rest)
    forest = pd.read_csv(tmp_path / "plots" / "forest.csv")
    assert forest["withheld"].notna().all() and forest["ci_low"].isna().all()
    for row in forest.itertuples():
        element = details["per_feature"][row.feature]["element_level"]
        assert (row.rho, row.rho_ci_low, row.rho_ci_high) == pytest.approx(
            (element["spearman_rho"], element["spearman_ci_low"], element["spearman_ci_high"]), abs=1e-5)
    context = RunContext("GSE84888", "v2", "alphagenome", "local test server", "HOMO_SAPIENS", ())
    note = headline_note(context, summary, calibration, load_params(tmp_path / "params.yaml").evaluate.calibration,
                         details)
    strongest = next(line for line in note.splitlines() if line.startswith("Strongest"))
    assert "CI withheld, not calibrated: pearson_r_ci coverage" in strongest
    assert "p withheld, not calibrated: element_p type I" in strongest and "Spearman ρ = " in strongest
    assert "unknown" not in strongest and "nan" not in strongest.split()


def test_where_the_calibration_passes_the_report_prints_the_pearson_interval_and_p(tmp_path, monkeypatch):
    text, summary, _ = run_report(tmp_path, monkeypatch, sizes=BALANCED_SIZES)
    headline = text.split("## Headline", 1)[1].split("## Headline with and without", 1)[0]
    assert "not calibrated: pearson_r_ci" not in headline and "not calibrated: element_p" not in headline
    for row in headline_rows(text):
        feature = row.split("`")[1]
        block = summary[feature]
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert cells[1] == f"{block['element_pearson_r']:.3f} [{block['pearson_r_ci_low']:.3f}, " \
                           f"{block['pearson_r_ci_high']:.3f}]"
        assert float(cells[2]) == pytest.approx(block["element_p"], abs=5e-4)
