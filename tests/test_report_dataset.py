"""report.md of a sequence-table dataset (Agarwal 2025 layout): the orientation analysis with its
calibration and a sentence a reader can act on, and wording that is the dataset's, not GSE84888's."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mprabench.readers.registry import layout_of
from tests.conftest import write_params
from tests.report_fixtures import LOCAL_ADDRESS, make_report_fixture, write_json

ORIENTATION = {
    "dnase_center": {"n_elements": 6149, "r": 0.3, "p": 0.0001, "ci_low": 0.277, "ci_high": 0.323, "reason": None},
    "dnase_mean": {"n_elements": 6149, "r": -0.2, "p": 0.0001, "ci_low": -0.224, "ci_high": -0.176, "reason": None},
    "cage_center": {"n_elements": 6149, "r": 0.01, "p": 0.43, "ci_low": -0.015, "ci_high": 0.035, "reason": None},
    "cage_mean": {"n_elements": 6149, "r": None, "p": None, "ci_low": None, "ci_high": None,
                  "reason": "the model forward − reverse difference is the same for every element"},
}


def agarwal_report(tmp_path: Path, monkeypatch, *, orientation_type_i: float | None = 0.052,
                   orientation: dict | None = None) -> str:
    """The report fixture's run as if on the HepG2 test fold: its params, qc details, orientation block."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    fixture = make_report_fixture(tmp_path)
    write_params(fixture.params, ["dataset=agarwal2025_hepg2_test", f"predictor.address={LOCAL_ADDRESS}",
                                  "predictor.insecure=true"])
    details_path = tmp_path / "metrics" / "details.json"
    details = json.loads(details_path.read_text())
    details["orientation"] = ORIENTATION if orientation is None else orientation
    write_json(details_path, details)
    calibration_path = tmp_path / "metrics" / "calibration.json"
    calibration = json.loads(calibration_path.read_text())
    if orientation_type_i is not None:
        calibration["tests"]["orientation_p"] = {"type_I": orientation_type_i, "mcse": 0.005}
        calibration["intervals"]["orientation_r_ci"] = {"coverage": 0.948, "mcse": 0.005}
        calibration["worst_nulls"] += "; tests.orientation_p=orientation_shift; intervals.orientation_r_ci=orientation_shift"
    write_json(calibration_path, calibration)
    write_json(tmp_path / "metrics" / "qc_details.json", {  # the shape the sequence_table reader writes
        "activity": {"reader": "sequence_table", "files": ["test_HepG2.tsv"], "insert_length": 230},
        "motif_mismatches": [], "motif_mismatch_rows": {}, "elements_without_target": [], "design": {}})
    fixture.run_report(monkeypatch)
    return (tmp_path / "metrics" / "report.md").read_text()


def section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}.*?(?=^## |\Z)", text, re.S | re.M)
    assert match, f"no section {heading!r}"
    return match.group(0)


def test_orientation_section_gives_r_ci_p_its_calibration_and_a_reading(tmp_path, monkeypatch):
    text = agarwal_report(tmp_path, monkeypatch)
    orientation = section(text, "Orientation")
    assert "6,149 elements in both orientations" in orientation
    assert "| DNase, central 200 bp (mean) | 6,149 | 0.300 [0.277, 0.323] | 1.00e-04 |" in orientation
    assert "follows the measured one (r = 0.300 [0.277, 0.323], p = 1.00e-04)" in orientation
    assert "runs against the measured one (r = -0.200" in orientation
    assert "no detectable relation between the model's orientation effect and the measured one (r = 0.010" in orientation
    # a feature without an estimate: n.e. with its reason, in the table and in the legend
    assert "not estimable (the model forward − reverse difference is the same for every element)" in orientation
    legend = text[text.index("Why each not-estimable cell is empty"):]
    assert "the model forward − reverse difference is the same for every element (`cage_mean` (orientation))" in legend
    assert ("type-I rate 0.052 ± 0.005 at α = 0.050; CI coverage 0.948 ± 0.005 (nominal 0.950): calibrated"
            in orientation)
    assert text.index("## Within-element effects") < text.index("## Orientation")


def test_orientation_outside_its_tolerance_or_not_simulated_says_so(tmp_path, monkeypatch):
    failing = section(agarwal_report(tmp_path / "a", monkeypatch, orientation_type_i=0.09), "Orientation")
    assert "**not calibrated** (outside the tolerance: `orientation_p`)" in failing
    missing = section(agarwal_report(tmp_path / "b", monkeypatch, orientation_type_i=None), "Orientation")
    assert "not simulated (calibration.json has no `orientation_p`)" in missing


def test_a_dataset_without_orientations_has_no_orientation_section(tmp_path, monkeypatch):
    text = agarwal_report(tmp_path, monkeypatch, orientation={})
    assert "## Orientation" not in text


def test_a_sequence_table_report_speaks_of_its_own_rows_not_of_gse84888(tmp_path, monkeypatch):
    text = agarwal_report(tmp_path, monkeypatch)
    for phrase in ("wild type", "base element", "inputs mode", "mm9 context",
                   "flagged as zero-RNA dropouts"):
        assert phrase not in text, phrase
    assert "Experiment v2 on agarwal2025_hepg2_test: each row's measured sequence, centred in N padding" in text
    assert "the model input is that sequence itself (centred in N padding up to the model window)" in text
    assert "Not applicable: agarwal2025_hepg2_test gives activity as measured" in text
    assert "| genome | not read (the model inputs are the measured sequences; configured: mm9" in text
    assert "orientation analysis below is this dataset's within-element test" in text


def test_each_reader_declares_what_its_rows_are():
    assert layout_of({"reader": "sequence_table"}).measured_inserts
    gse = layout_of({"reader": "gse84888_counts"})
    assert gse.read_counts and gse.motif_sites and not gse.measured_inserts
    element = layout_of({"reader": "mpra_element"})
    assert not (element.measured_inserts or element.read_counts or element.motif_sites)
