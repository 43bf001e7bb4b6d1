"""Which biosample's tracks a model predictor asks for, and the check against the service's metadata.

Precedence (README, "Biosample of the predictions"):

1. `predictor.ontology_terms` when set (an explicit choice always wins);
2. `experiment.tracks` when the experiment pins tracks (v1/v2/v3 pin the original analysis's K562);
3. the dataset's assay biosample: its `ontology_term`, or, when it has none, its `cell_line` as the
   service's own track metadata names it (`biosample_name`).

The organism follows the same order (`predictor.organism`, then the experiment's, then the dataset's).
Whatever is chosen is checked against the model's own track metadata (the API service's, or a local
checkpoint's) before any prediction: a biosample without tracks stops the run naming the closest
biosamples the model has.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only annotations: the always-run local_inputs stage imports this module without pandas
    import pandas as pd

from mprabench.config import AssayBiosampleConfig, Params, TracksConfig
from mprabench.errors import ConfigError
from mprabench.predictors.tracks import track_records

_LISTED_CLOSEST = 5


@dataclass(frozen=True)
class BiosampleDefaults:
    """What a predictor falls back on when `predictor.ontology_terms` is null."""

    assay: AssayBiosampleConfig
    pinned: TracksConfig | None
    experiment: str
    dataset: str

    @classmethod
    def of(cls, params: Params) -> BiosampleDefaults:
        return cls(params.dataset.assay_biosample, params.experiment.tracks, params.experiment.name,
                   params.dataset.name)


@dataclass(frozen=True)
class TrackChoice:
    """The organism and terms to ask for; `ontology_terms` None = look `cell_line` up by name."""

    organism: str
    ontology_terms: tuple[str, ...] | None
    cell_line: str | None
    origin: str  # the setting that chose them, named in messages and provenance.json

    def describe(self) -> str:
        terms = ", ".join(self.ontology_terms) if self.ontology_terms else f"named {self.cell_line!r}"
        return f"{self.cell_line + ' ' if self.cell_line and self.ontology_terms else ''}({terms}; {self.origin})"


def choose_tracks(organism: str | None, ontology_terms: Sequence[str] | None,
                  defaults: BiosampleDefaults | None) -> TrackChoice:
    """The organism and ontology terms by the precedence in this module's docstring."""
    if defaults is None:
        if organism is None or not ontology_terms:
            raise ConfigError("predictor.organism and predictor.ontology_terms are null and no dataset biosample "
                              "was given to take them from; set both, e.g. -S predictor.organism=HOMO_SAPIENS "
                              "-S 'predictor.ontology_terms=[EFO:0002067]'")
        return TrackChoice(organism, tuple(ontology_terms), None, "predictor.ontology_terms")
    assay, pinned = defaults.assay, defaults.pinned
    if ontology_terms:
        chosen = organism or (pinned.organism if pinned else assay.organism)
        return TrackChoice(chosen, tuple(ontology_terms), None, "predictor.ontology_terms")
    if pinned is not None:
        return TrackChoice(organism or pinned.organism, tuple(pinned.ontology_terms), None,
                           f"experiment.tracks of experiment {defaults.experiment}")
    origin = f"dataset.assay_biosample of {defaults.dataset}"
    terms = (assay.ontology_term,) if assay.ontology_term else None
    return TrackChoice(organism or assay.organism, terms, assay.cell_line, origin)


def check_tracks(metadata: Mapping[str, pd.DataFrame | None], outputs: Sequence[str], choice: TrackChoice,
                 model: str = "AlphaGenome") -> tuple[tuple[str, ...], dict[str, list[dict[str, Any]]]]:
    """(the terms to request, the tracks used per output as the model's metadata rows).

    Stops with a ConfigError, before any prediction request, when the biosample has no tracks,
    when a requested output has none for it, or when a listed term matches no track."""
    terms, rows = chosen_tracks(metadata, outputs, choice, model)
    return terms, track_records(rows)


def chosen_tracks(metadata: Mapping[str, pd.DataFrame | None], outputs: Sequence[str], choice: TrackChoice,
                  model: str = "AlphaGenome") -> tuple[tuple[str, ...], dict[str, pd.DataFrame]]:
    """`check_tracks` keeping each output's rows as a frame: its index is the track's column in the
    model's answer (what a local checkpoint reads). `model` names the model in the errors."""
    terms = choice.ontology_terms or _terms_named(metadata, outputs, choice, model)
    offered = _biosamples_offered(metadata, outputs)
    missing = [t for t in terms if t not in offered]
    if missing:
        same_name = sorted(t for t, b in offered.items()
                           if choice.cell_line and _normalise(b["name"]) == _normalise(choice.cell_line))
        named = (f"It names {choice.cell_line} {', '.join(same_name)}: if that is the same biosample, use "
                 f"-S 'predictor.ontology_terms=[{','.join(same_name)}]'. " if same_name else "")
        raise ConfigError(
            f"{model} has no tracks for {choice.organism} biosample {_named(missing, choice)} among outputs "
            f"{list(outputs)}. {named}Closest biosamples it has: {_closest(offered, choice.cell_line, missing)}. "
            + _how_to_choose(choice))
    used: dict[str, pd.DataFrame] = {}
    for output in outputs:
        frame = metadata.get(output)
        chosen = frame[frame["ontology_curie"].isin(terms)] if _has_curies(frame) else None
        if chosen is None or chosen.empty:
            covered = sorted({o for t in terms for o in offered[t]["outputs"]})
            raise ConfigError(
                f"{model} has no {output} track for {choice.organism} and ontology terms {sorted(terms)} "
                f"({choice.origin}); they have {covered}. Available terms for {output}: {_available(frame)}. "
                f"Change predictor.outputs (e.g. -S 'predictor.outputs=[{','.join(covered)}]') or "
                "predictor.ontology_terms.")
        used[output] = chosen
    return tuple(terms), used


def _terms_named(metadata: Mapping[str, pd.DataFrame | None], outputs: Sequence[str],
                 choice: TrackChoice, model: str) -> tuple[str, ...]:
    """The terms whose biosample_name is the cell line's name (case and punctuation ignored)."""
    wanted = _normalise(choice.cell_line or "")
    offered = _biosamples_offered(metadata, outputs)
    found = tuple(sorted(t for t, b in offered.items() if _normalise(b["name"]) == wanted))
    if not found:
        raise ConfigError(
            f"{model}'s track metadata names no {choice.organism} biosample {choice.cell_line!r} "
            f"({choice.origin}) among outputs {list(outputs)}. Closest biosamples it has: "
            f"{_closest(offered, choice.cell_line, [])}. " + _how_to_choose(choice))
    return found


def _biosamples_offered(metadata: Mapping[str, pd.DataFrame | None], outputs: Sequence[str]) -> dict[str, dict]:
    """term -> {name, type, outputs} over the requested outputs' tracks."""
    offered: dict[str, dict] = {}
    for output in outputs:
        frame = metadata.get(output)
        if not _has_curies(frame):
            continue
        for row in frame.drop_duplicates("ontology_curie").itertuples(index=False):
            term = getattr(row, "ontology_curie")
            if not isinstance(term, str) or not term:
                continue
            entry = offered.setdefault(term, {"name": str(getattr(row, "biosample_name", "") or ""),
                                              "type": str(getattr(row, "biosample_type", "") or ""), "outputs": []})
            entry["outputs"].append(output)
    return offered


def _closest(offered: Mapping[str, dict], cell_line: str | None, terms: Sequence[str]) -> str:
    """The offered biosamples most like the wanted one (by name), with their outputs."""
    if not offered:
        return "none"
    wanted = _normalise(cell_line or " ".join(terms))

    def similarity(term: str) -> tuple[float, int]:
        name = _normalise(offered[term]["name"])
        return difflib.SequenceMatcher(None, wanted, name).ratio(), len(offered[term]["outputs"])

    ranked = sorted(offered, key=similarity, reverse=True)[:_LISTED_CLOSEST]
    return "; ".join(f"{t} {offered[t]['name']} ({offered[t]['type'].replace('_', ' ')}: "
                     f"{', '.join(offered[t]['outputs'])})" for t in ranked)


def _how_to_choose(choice: TrackChoice) -> str:
    return ("Choose one with -S 'predictor.ontology_terms=[<term>]' (and -S predictor.organism=<ORGANISM> for "
            "another species), or correct dataset.assay_biosample.ontology_term; a biosample the model "
            f"lacks cannot be matched (this choice came from {choice.origin}).")


def _named(terms: Sequence[str], choice: TrackChoice) -> str:
    return f"{choice.cell_line} ({', '.join(terms)})" if choice.cell_line else ", ".join(terms)


def _has_curies(frame: pd.DataFrame | None) -> bool:
    return frame is not None and "ontology_curie" in frame


def _available(frame: pd.DataFrame | None) -> str:
    if not _has_curies(frame):
        return "none"
    curies = sorted(set(frame["ontology_curie"].dropna()))
    return ", ".join(curies[:12]) + (" ..." if len(curies) > 12 else "")


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())
