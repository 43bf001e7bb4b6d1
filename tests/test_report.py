"""Report rendering: number formatting and how not-estimable results are written."""

from __future__ import annotations

from mprabench.report import NOT_ESTIMABLE, _within_element, fmt


def test_numbers_are_formatted_for_reading():
    assert fmt(None) == NOT_ESTIMABLE
    assert fmt(True) == "yes" and fmt(False) == "no"
    assert fmt(6963) == "6,963"
    assert fmt(0.04712) == "0.047"
    assert fmt(1.2e-5) == "1.20e-05"
    assert fmt(0.0) == "0.000"


def within(estimable: bool, summary: dict | None, reason: str | None) -> dict:
    return {"within_element": {"estimable": estimable, "summary": summary, "reason": reason}}


def test_within_element_not_estimable_gives_the_reason_and_no_numbers():
    reason = "model inputs do not vary within any element"
    text = _within_element({"per_feature": {"dnase_center": within(False, None, reason)}})
    assert f"Not estimable: {reason}." in text
    assert "|" not in text, "no table of numbers"


def test_within_element_estimable_gives_the_fisher_z_table():
    summary = {"method": "fixed-effect Fisher-z", "n_elements_used": 8, "pooled_r": 0.91, "ci_low": 0.85,
               "ci_high": 0.95, "p": 1e-12, "tau2": 0.75, "reason": None}
    text = _within_element({"per_feature": {"dnase_center": within(True, summary, None)}})
    assert "| `dnase_center` | 8 | 0.910 | [0.850, 0.950] | 1.00e-12 | 0.750 |" in text
