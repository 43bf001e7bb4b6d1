"""The report claims no check that did not run: V1's unchecked motifs, an offline predictor's requests."""

from __future__ import annotations

import json

from mprabench.provenance import SOURCE_OFFLINE
from mprabench.report.qc import motif_check
from mprabench.report.run import prediction_section as _prediction

COUNTS = {"distinct_inputs": 18, "served_from_store": 0, "requested": 18, "failed": 0, "retries": 0}


def test_no_motif_checked_is_said_not_claimed_as_matching():
    text = motif_check([], 0)
    assert "not run" in text and "matches the reference" not in text
    assert "all 6,963 checked rows matches the reference" in motif_check([], 6963)
    assert "Warning" in motif_check([{"element_id": "MAC"}], 48)


def test_an_offline_predictor_reports_no_requests():
    offline = _prediction(COUNTS, SOURCE_OFFLINE)
    assert "18 distinct inputs" in offline and "requested" not in offline and "sends no request" in offline
    remote = _prediction(COUNTS, "AlphaGenome API")
    assert "| requested | 18 |" in remote


def test_the_report_opens_with_the_verdict_the_mlflow_description_carries(tmp_path, monkeypatch):
    import mlflow

    from mprabench.tracking import NOTE_TAG
    from tests.report_fixtures import make_report_fixture

    fixture = make_report_fixture(tmp_path)
    uri = fixture.run_report(monkeypatch)
    text = (tmp_path / "metrics" / "report.md").read_text()
    client = mlflow.MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("mprabench-GSE84888").experiment_id])
    summary = json.loads((tmp_path / "metrics" / "summary.json").read_text())
    flags = [v.get("element_bonferroni_significant") for k, v in summary.items() if k != "design"]

    first_paragraph = text.split("\n\n")[1]
    assert first_paragraph.startswith("**Verdict: ") and first_paragraph.endswith(".**")
    verdict = first_paragraph.strip("*")
    assert verdict in run.data.tags[NOTE_TAG].splitlines()[1]
    significant = sum(f is True for f in flags)
    assert (f"Verdict: {significant} of " in verdict) if significant else ("Verdict: no primary feature" in verdict)


def test_a_dropout_sensitivity_beyond_the_ci_half_width_is_called_out(tmp_path, monkeypatch):
    from tests.test_report import _report_text, _sensitivity_section

    def summary_of(tmp_path):
        return json.loads((tmp_path / "metrics" / "summary.json").read_text())

    def move(details):
        headline = summary_of(tmp_path)["dnase_center"]
        half = (headline["pearson_r_ci_high"] - headline["pearson_r_ci_low"]) / 2
        kept = details["sensitivity"]["with_zero_rna_dropouts"]["per_feature"]
        kept["dnase_center"]["element_pearson_r"] = headline["element_pearson_r"] + 1.01 * half
        for feature, block in kept.items():  # every other feature stays within its half-width
            if feature != "dnase_center" and feature in summary_of(tmp_path):
                block["element_pearson_r"] = summary_of(tmp_path)[feature]["element_pearson_r"]

    section = _sensitivity_section(_report_text(tmp_path, monkeypatch, move))
    callout = section[section.index("> **The headline depends on excluding the dropouts:**"):]
    assert callout.count("> - ") == 1 and "DNase" in callout


def test_the_shared_headline_block_is_marked_once_and_never_counted_as_a_feature(tmp_path, monkeypatch):
    import mlflow

    from tests.report_fixtures import make_report_fixture

    fixture = make_report_fixture(tmp_path)
    path = tmp_path / "metrics" / "summary.json"
    summary = json.loads(path.read_text())
    features = [k for k in summary if k != "design"]
    path.write_text(json.dumps({"design": summary["design"], "headline": {"feature": "dnase_center",
                                                                          **summary["dnase_center"]},
                                **{f: summary[f] for f in features}}))
    uri = fixture.run_report(monkeypatch)
    text = (tmp_path / "metrics" / "report.md").read_text()
    assert text.count("(`dnase_center`, headline)") == 1 and "(`headline`)" not in text
    assert "The predictor's headline feature, the one it is compared by across predictors, is `dnase_center`" in text
    assert f"over the {len(features)} primary features" in text, "the headline block is no seventh feature"
    client = mlflow.MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("mprabench-GSE84888").experiment_id])
    r = summary["dnase_center"]["element_pearson_r"]
    assert run.data.metrics["headline.headline.element_pearson_r"] == r, "MLflow compares runs by one key"
    forest = (tmp_path / "plots" / "forest.csv").read_text()
    assert forest.count("dnase_center") == 1, "the forest plot draws each feature once"
