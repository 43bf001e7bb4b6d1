"""report.md: valid GitHub-flavoured Markdown, links that resolve in the repository and in the
MLflow artifacts, honest provenance, and a reason for every "n.e."."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from mprabench.plots.style import NOT_ESTIMABLE
from mprabench.report.format import fmt, plural
from tests.report_fixtures import MISMATCHED_ELEMENT, PRIMARY, make_report_fixture

GFM = MarkdownIt("commonmark").enable("table")


def run_report(tmp_path: Path, monkeypatch, **fixture_options) -> tuple[Path, str]:
    """Run the report stage on contract-shaped inputs; returns (report path, tracking URI)."""
    fixture = make_report_fixture(tmp_path, **fixture_options)
    uri = fixture.run_report(monkeypatch)
    return tmp_path / "metrics" / "report.md", uri


@pytest.fixture(scope="module")
def default_report(tmp_path_factory) -> tuple[Path, str]:
    """The report stage run once on the default fixture, for the tests that only read what it wrote
    (report.md, the MLflow run): one run instead of one per test."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        return run_report(tmp_path_factory.mktemp("default_report"), monkeypatch)


def table_blocks(text: str) -> list[list[str]]:
    """Runs of consecutive lines that start with '|' (what a writer meant as tables)."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    return blocks + ([current] if current else [])


def assert_valid_gfm(text: str, base: Path) -> None:
    """Every intended table parses as a table with a constant number of cells; every link resolves."""
    tokens = GFM.parse(text)
    tables = [i for i, t in enumerate(tokens) if t.type == "table_open"]
    assert len(tables) == len(table_blocks(text)), "a '|' block did not parse as a table"
    for start in tables:
        cells_per_row, count = [], 0
        for token in tokens[start:]:
            if token.type in ("th_open", "td_open"):
                count += 1
            elif token.type == "tr_close":
                cells_per_row.append(count)
                count = 0
            elif token.type == "table_close":
                break
        assert len(set(cells_per_row)) == 1, f"rows with different cell counts: {cells_per_row}"
    targets = [child.attrs.get("src") or child.attrs.get("href")
               for token in tokens if token.children for child in token.children
               if child.type in ("image", "link_open")]
    assert any(t.endswith(".png") for t in targets)
    for target in targets:
        assert (base / target).is_file(), f"link {target} does not resolve from {base}"


def test_numbers_are_formatted_for_reading():
    assert fmt(None) == NOT_ESTIMABLE
    assert fmt(True) == "yes" and fmt(False) == "no"
    assert fmt(6963) == "6,963"
    assert fmt(0.04712) == "0.047"
    assert fmt(1.2e-5) == "1.20e-05"
    assert plural(1, "feature") == "1 feature" and plural(6, "feature") == "6 features"


def test_report_is_valid_gfm_and_links_resolve_in_repository_and_artifacts(default_report, tmp_path):
    import mlflow

    path, uri = default_report
    text = path.read_text()
    assert_valid_gfm(text, path.parent)
    client = mlflow.MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("mprabench-GSE84888").experiment_id])
    downloaded = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path / "downloaded")))
    artifact_text = (downloaded / "report.md").read_text()
    assert_valid_gfm(artifact_text, downloaded)
    assert "figures/forest.png" in artifact_text and "../plots/forest.png" in text


def test_every_not_estimable_cell_has_its_reason(default_report):
    path, _ = default_report
    text = path.read_text()
    letters = re.findall(r"n\.e\. \(([a-z])\)", text)
    assert letters, "the fixture has a not-estimable feature and no within-element effect"
    assert text.count(NOT_ESTIMABLE) == len(letters), "an n.e. without its reason letter"
    for letter in set(letters):
        assert re.search(rf"^- n\.e\. \({letter}\) — \S", text, re.MULTILINE), f"reason ({letter}) missing"
    assert "the feature is constant across elements" in text
    assert "model inputs do not vary within any element" in text
    assert "(1 features" not in text
    assert "Not estimable: model inputs do not vary within any element" in text
    assert "a TF label's perturbation is not in the model input" in text, "V2: TF strata are not estimable"


def test_provenance_is_honest_about_the_local_test_server_and_the_biosample(default_report):
    path, _ = default_report
    text = path.read_text()
    title = text.splitlines()[0]
    assert "local test server (synthetic tracks)" in title
    assert "EFO:0002067 K562" in text
    assert re.search(r"Biosample mismatch.*K562.*mouse 3T3-L1 adipocytes", text)
    assert "K562 (cell line), chosen by experiment.tracks of experiment v2" in text
    assert re.search(rf"Warning — the motif .* `{re.escape(MISMATCHED_ELEMENT)}`", text)


def test_report_cites_calibration_sensitivity_and_out_of_fold_fit(default_report):
    path, _ = default_report
    text = path.read_text()
    assert "p-values and intervals calibrated for this design" in text
    assert "`element_p` type I 0.049 ± 0.007 (worst: null `het_0`)" in text
    assert "dropouts kept" in text and "0.042" in text
    details = json.loads((path.parent / "details.json").read_text())
    kept = details["sensitivity"]["with_zero_rna_dropouts"]["per_feature"]["dnase_center"]
    row = next(line for line in text.splitlines() if line.startswith("| DNase, central 200 bp (mean) |")
               and "dropouts" not in line and line.count("|") == 6)
    assert f"{kept['element_pearson_r']:.3f}" in row.split("|")[4], row
    assert text.index("## Headline") < text.index("calibrated for this design") < text.index("## What this")


def test_missing_provenance_and_optional_files_say_unknown(tmp_path, monkeypatch):
    fixture = make_report_fixture(tmp_path, address=None)
    fixture.run_report(monkeypatch, with_optional=False)
    text = (tmp_path / "metrics" / "report.md").read_text()
    assert "Provenance unknown" in text and "(provenance unknown)" in text.splitlines()[0]
    assert "not simulated for this run" in text
    assert "local test server" not in text
    assert_valid_gfm(text, tmp_path / "metrics")


def test_headline_gives_spearman_leave_one_out_and_the_element_that_changes_the_verdict(default_report):
    path, _ = default_report
    text = path.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| RNA-seq, whole input (mean)"))
    assert "0.310 [-0.190, 0.680] (0.200)" in row and "0.050 to 0.400" in row
    assert "One element changes the verdict: RNA-seq, whole input (mean): without `E07`" in text
    # a trained baseline's p is its refit null, which this calibration.json does not simulate
    dnase = next(line for line in text.splitlines() if line.startswith("| DNase, central 200 bp (mean) (`"))
    assert "(refit null; not simulated)" in dnase
    # the fixture's calibration.json simulated element_p and pearson_r_ci only: the Spearman p, its interval and the
    # refit-null p it prints are not
    assert ("Not simulated for this design, so not called calibrated: `element_spearman_p`, `spearman_rho_ci`, "
            "`refit_element_p`."
            in text)


def test_a_simulated_refit_null_is_reported_with_its_calibration(tmp_path, monkeypatch):
    path, _ = run_report(tmp_path, monkeypatch, refit_simulated=True)
    text = path.read_text()
    dnase = next(line for line in text.splitlines() if line.startswith("| DNase, central 200 bp (mean) (`"))
    assert "(refit null; calibration: `refit_element_p`)" in dnase and "not simulated" not in dnase
    assert "`refit_element_p` type I 0.053 ± 0.005 (worst: null `refit_noise_only`)" in text
    assert "Not simulated for this design, so not called calibrated: `element_spearman_p`, `spearman_rho_ci`." in text


def test_within_element_estimable_shows_numbers(tmp_path, monkeypatch):
    path, _ = run_report(tmp_path, monkeypatch, within=True)
    text = path.read_text()
    headline = text[text.index("## Headline"):text.index("calibrated for this design")]
    rows = [line for line in headline.splitlines() if line.startswith("| DNase")]
    assert len(rows) == 2 and all(NOT_ESTIMABLE not in row for row in rows)
    assert "a TF label's perturbation is not in the model input" not in text
    assert "Per-element correlations: [tables/within_element.csv](tables/within_element.csv)" in text


def test_every_primary_feature_has_a_human_label_in_the_headline(default_report):
    path, _ = default_report
    text = path.read_text()
    assert "| DNase, central 200 bp (mean) (`dnase_center`) |" in text
    headline = text[text.index("## Headline"):text.index("calibrated for this design")]
    assert all(f"(`{feature}`)" in headline for feature in PRIMARY)


def test_a_missing_p_of_a_trained_baseline_cites_its_p_reason_not_the_interval_reason():
    import dataclasses

    import numpy as np

    from mprabench.config import EvaluateConfig
    from mprabench.evaluation import REASON_TRAINED_CI, evaluate
    from mprabench.report.inputs import not_estimable_reason
    from tests.conftest import configured
    from tests.support.null_rows import gse84888_like_rows

    rows = gse84888_like_rows(np.random.default_rng(5), within=False)
    rows["kmer_ridge_oof"] = np.random.default_rng(6).normal(size=len(rows))
    config = configured(EvaluateConfig, "evaluate", primary_features=["kmer_ridge_oof"], n_permutations=99,
                        strata=[])
    training = {"kmer_ridge_oof": {"element_p": 0.01, "target": "activity"}}
    details = evaluate(rows, ["kmer_ridge_oof"], dataclasses.replace(config), training).details()
    p_reason = not_estimable_reason(details, "kmer_ridge_oof", "p")
    assert "predictor.target=log2_ratio" in p_reason
    assert not_estimable_reason(details, "kmer_ridge_oof", "ci") == REASON_TRAINED_CI.rstrip(".")
    assert "within" in not_estimable_reason(details, "kmer_ridge_oof", "within")
    assert "gives no reason" in not_estimable_reason({}, "kmer_ridge_oof", "p")


def _rewrite_details(tmp_path: Path, change) -> None:
    path = tmp_path / "metrics" / "details.json"
    details = json.loads(path.read_text())
    change(details)
    path.write_text(json.dumps(details))


def _report_text(tmp_path: Path, monkeypatch, change) -> str:
    fixture = make_report_fixture(tmp_path)
    _rewrite_details(tmp_path, change)
    fixture.run_report(monkeypatch)
    return (tmp_path / "metrics" / "report.md").read_text()


def _sensitivity_section(text: str) -> str:
    start = text.index("## Headline with and without zero-RNA dropouts")
    return text[start:text.index("\n## ", start + 5)]


def test_sensitivity_states_its_rows_and_target_and_says_so_when_nothing_was_dropped(tmp_path, monkeypatch):
    def no_dropouts(details):
        details["sensitivity"]["with_zero_rna_dropouts"]["n_dropout_rows"] = 0

    section = _sensitivity_section(_report_text(tmp_path, monkeypatch, no_dropouts))
    assert "0 of them flagged as zero-RNA dropouts" in section and "`log2_ratio`" in section
    assert "nothing to compare" in section and "dropouts kept |" not in section


def test_sensitivity_with_dropouts_prints_the_count_target_and_the_reason_of_a_missing_p(tmp_path, monkeypatch):
    def trained_without_p(details):
        kept = details["sensitivity"]["with_zero_rna_dropouts"]
        kept["target"] = "log2_ratio_with_dropouts"
        kept["per_feature"]["dnase_center"] |= {"element_p": None, "p_reason": "the refit null was run on the "
                                                "headline rows only"}

    text = _report_text(tmp_path, monkeypatch, trained_without_p)
    section = _sensitivity_section(text)
    assert "175 of them flagged as zero-RNA dropouts" in section and "`log2_ratio_with_dropouts`" in section
    assert "element p, dropouts kept" in section
    assert re.search(r"^- n\.e\. \([a-z]\) — the refit null was run on the headline rows only", text, re.MULTILINE)


CALIBRATED = {"alpha": 0.05, "ci_level": 0.95,
              "tests": {"element_p": {"type_I": 0.049, "mcse": 0.005},
                        "within_element_p": {"type_I": 0.064, "mcse": 0.005}},
              "intervals": {"pearson_r_ci": {"coverage": 0.931, "mcse": 0.006}},
              "flags": {"element_bonferroni_significant": {"familywise_rate": 0.06, "mcse": 0.005}},
              "worst_nulls": "tests.element_p=het_0; tests.within_element_p=het_0.05; intervals.pearson_r_ci=t2_noise; "
                             "flags.element_bonferroni_significant=het_0"}


def tolerances():
    """evaluate.calibration of the real conf/: type I within 0.015 of alpha, coverage within 0.02 of the level."""
    from mprabench.config import CalibrationConfig
    from tests.conftest import configured

    return configured(CalibrationConfig, "evaluate.calibration")


def test_calibration_sentence_says_calibrated_only_within_the_tolerances():
    from mprabench.report.results import calibration_sentence

    text = calibration_sentence(CALIBRATED, tolerances())  # 0.064 is within 0.05 ± 0.015, 0.931 within 0.95 ± 0.02
    assert text.startswith("p-values and intervals calibrated for this design") and "fails" not in text
    assert "`element_p` type I 0.049 ± 0.005 (worst: null `het_0`)" in text


def test_calibration_sentence_names_each_rate_outside_its_tolerance():
    from mprabench.report.results import calibration_sentence

    liberal = CALIBRATED | {
        "tests": CALIBRATED["tests"] | {"within_element_p": {"type_I": 0.081, "mcse": 0.006}},
        "intervals": {"pearson_r_ci": {"coverage": 0.91, "mcse": 0.006}},
        "flags": {"element_bonferroni_significant": {"familywise_rate": 0.07, "mcse": 0.005}},
        "worst_nulls": "tests.element_p=het_0; tests.within_element_p=size_linked; "
                       "intervals.pearson_r_ci=leverage_smallest; flags.element_bonferroni_significant=leverage"}
    text = calibration_sentence(liberal, tolerances())
    assert text.startswith("**Not calibrated for this design**")
    assert "p-values and intervals calibrated for this design" not in text
    # the headline's failing checks are withheld (evaluate), a strata check is read as a description
    assert ("The headline's `within_element_p`, `pearson_r_ci`, `element_bonferroni_significant` are withheld: "
            "summary.json gives the reason beside each") in text
    strata = calibration_sentence(CALIBRATED | {"tests": CALIBRATED["tests"] | {
        "strata_between_p": {"type_I": 0.029, "mcse": 0.002}}}, tolerances())
    assert "withheld" not in strata and "Where `strata_between_p` is printed (not in the headline), read it as a " \
                                       "description" in strata
    assert "`within_element_p` type I 0.081 ± 0.006 under the null `size_linked` (nominal 0.050)" in text
    assert "`pearson_r_ci` coverage 0.910 ± 0.006 under the null `leverage_smallest` (nominal 0.950)" in text
    assert "`element_bonferroni_significant` flag rate 0.070 ± 0.005 under the null `leverage` (nominal at most" in text
    assert "`element_p` type I" not in text.split("Within tolerance")[0]


def test_calibration_tolerances_come_from_the_settings():
    from mprabench.stats.calibration import calibration_misses

    settings = tolerances()
    type_i, coverage = settings.type_i_tolerance, settings.coverage_tolerance
    assert (type_i, coverage) == (0.015, 0.02)
    assert not calibration_misses(CALIBRATED, type_i, coverage)
    too_liberal = CALIBRATED | {"tests": {"element_p": {"type_I": 0.066, "mcse": 0.005}}}
    assert calibration_misses(too_liberal, type_i, coverage)
    assert not calibration_misses(too_liberal, 0.02, coverage)  # a wider tolerance accepts it


def test_provenance_of_an_offline_predictor_says_not_applicable_not_none():
    from mprabench.report.run import provenance_value

    offline = {"predictor": "gc", "model_version": None, "store_key": None}
    assert provenance_value(offline, "model_version") == "not applicable"
    assert provenance_value(offline, "store_key", code=True) == "not applicable"
    assert provenance_value({}, "model_version") == "unknown"
    assert provenance_value({"store_key": "ab12"}, "store_key", code=True) == "`ab12`"


def test_report_of_an_offline_predictor_prints_no_none(tmp_path, monkeypatch):
    fixture = make_report_fixture(tmp_path)
    path = tmp_path / "data" / "provenance.json"
    provenance = json.loads(path.read_text()) | {"model_version": None, "store_key": None}
    path.write_text(json.dumps(provenance))
    fixture.run_report(monkeypatch)
    text = (tmp_path / "metrics" / "report.md").read_text()
    section = text[text.index("## Provenance"):]
    assert "| model version | not applicable |" in section and "| store key | not applicable |" in section
    assert "None" not in section


def test_the_headline_marks_what_failed_its_null_and_keeps_the_calibrated_spearman_interval(tmp_path, monkeypatch):
    path, _ = run_report(tmp_path, monkeypatch, leverage_fails=True)
    text = path.read_text()
    header = next(line for line in text.splitlines() if line.startswith("| feature |"))
    assert "element r [95% CI] (not calibrated: `leverage_smallest`)" in header
    assert "element p (not calibrated: `leverage_smallest`)" in header
    assert "Spearman ρ [95% CI] (p) |" in header  # within tolerance: no mark
    row = next(line for line in text.splitlines() if line.startswith("| RNA-seq, whole input (mean)"))
    assert "0.310 [-0.190, 0.680] (0.200)" in row
    assert "**Not calibrated for this design**" in text and "`element_p` type I 0.268" in text
    assert "`spearman_rho_ci` coverage 0.945 ± 0.005 (worst: null `leverage_largest`)" in text
