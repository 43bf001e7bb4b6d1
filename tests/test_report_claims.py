"""The report claims no check that did not run: V1's unchecked motifs, an offline predictor's requests."""

from __future__ import annotations

from mprabench.provenance import SOURCE_OFFLINE
from mprabench.report import _motif_mismatch, _prediction

COUNTS = {"distinct_inputs": 18, "served_from_store": 0, "requested": 18, "failed": 0, "retries": 0}


def test_no_motif_checked_is_said_not_claimed_as_matching():
    text = _motif_mismatch("motif_mismatches", [], 0)
    assert "not checked" in text and "matches the reference" not in text
    assert "all 6,963 checked rows matches the reference" in _motif_mismatch("motif_mismatches", [], 6963)
    assert "Warning" in _motif_mismatch("motif_mismatches", [{"element_id": "MAC"}], 48)


def test_an_offline_predictor_reports_no_requests():
    offline = _prediction(COUNTS, SOURCE_OFFLINE)
    assert "18 distinct inputs" in offline and "requested" not in offline and "sends no request" in offline
    remote = _prediction(COUNTS, "AlphaGenome API")
    assert "| requested | 18 |" in remote
