"""Which tracks of a track model answer for the configured biosample: one rule for every route.

The AlphaGenome API and a local AlphaGenome checkpoint both describe their tracks with one
metadata table per output (a row per track, with `ontology_curie`, `biosample_name`, ...).
The tracks used are the rows whose ontology term is configured; an output or a term with no
track is a configuration error, raised before any input is predicted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from mprabench.errors import ConfigError

TERM_COLUMN = "ontology_curie"


def select_tracks(frame_of: Callable[[str], pd.DataFrame | None], outputs: Iterable[str],
                  ontology_terms: Iterable[str], organism: str, model: str) -> dict[str, pd.DataFrame]:
    """Per output, the metadata rows of its tracks for `ontology_terms` (index = the track's column
    in the model's answer). `model` names the model in the error (e.g. "AlphaGenome", a checkpoint path)."""
    outputs, terms = list(outputs), set(ontology_terms)
    chosen: dict[str, pd.DataFrame] = {}
    covered: set[str] = set()
    for output in outputs:
        frame = frame_of(output)
        curies = frame[TERM_COLUMN] if frame is not None and TERM_COLUMN in frame else None
        rows = frame[curies.isin(terms)] if curies is not None else None
        if rows is None or rows.empty:
            raise ConfigError(
                f"{model} has no {output} track for {organism} and ontology terms {sorted(terms)}. "
                f"Available terms for {output}: {_available(frame)}. "
                "Change predictor.ontology_terms or predictor.outputs."
            )
        chosen[output] = rows
        covered |= set(rows[TERM_COLUMN])
    unused = sorted(terms - covered)
    if unused:
        raise ConfigError(
            f"ontology term(s) {unused} have no track among outputs {outputs} for {organism} in {model}; "
            "remove them from predictor.ontology_terms or add an output that has them."
        )
    return chosen


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


def _available(frame: pd.DataFrame | None) -> str:
    if frame is None or TERM_COLUMN not in frame:
        return "none"
    curies = sorted(set(frame[TERM_COLUMN].dropna()))
    return ", ".join(curies[:12]) + (" ..." if len(curies) > 12 else "")
