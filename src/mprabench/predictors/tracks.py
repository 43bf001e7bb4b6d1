"""The tracks a track model answered with, as the store and provenance.json keep them.

The AlphaGenome API and a local AlphaGenome checkpoint both describe their tracks with one
metadata table per output (a row per track, with `ontology_curie`, `biosample_name`, ...);
which rows are used is chosen in predictors/biosample.py, one rule for both routes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only annotations (see biosample.py)
    import pandas as pd

TERM_COLUMN = "ontology_curie"


def track_records(chosen: Mapping[str, pd.DataFrame]) -> dict[str, list[dict[str, Any]]]:
    """The chosen tracks' metadata rows as plain JSON records (what the store's tracks.json keeps)."""
    return {output: json.loads(rows.to_json(orient="records")) for output, rows in chosen.items()}


def biosamples(tracks: Mapping[str, list[dict[str, Any]]], organism: str) -> list[dict[str, Any]]:
    """One entry per ontology term, from the model's own track metadata."""
    found: dict[str, dict[str, Any]] = {}
    for rows in tracks.values():
        for row in rows:
            term = row.get(TERM_COLUMN)
            if term and term not in found:
                found[term] = {"ontology_term": term, "biosample_name": row.get("biosample_name"),
                               "biosample_type": row.get("biosample_type"), "organism": organism}
    return [found[term] for term in sorted(found)]
