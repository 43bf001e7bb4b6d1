"""Human names for code names, and the run context every figure, report and MLflow run states.

One label table for the whole project: figures, report.md and MLflow descriptions all call
:func:`feature_label` / :func:`target_label`, so a feature is named the same everywhere.
The run context (dataset, experiment, predictor, biosample) comes from the typed settings
(config.load_params) and the predict stage's provenance.json; where provenance is missing it
says "unknown", never guesses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mprabench.config import Params
from mprabench.feature_names import CENTER, GC_FRACTION, KMER_RIDGE_OOF, MAX, MEAN, MOTIF_PREFIX, output_prefix
from mprabench.provenance import SOURCE_LOCAL, SOURCE_OFFLINE
from mprabench.settings import as_plain
from mprabench.sources.locations import is_loopback

UNKNOWN = "unknown"

# Keyed by the names of mprabench.feature_names (where the predictors get them).
OUTPUT_LABELS = {output_prefix(output): label for output, label in (
    ("DNASE", "DNase"), ("CAGE", "CAGE"), ("RNA_SEQ", "RNA-seq"), ("ATAC", "ATAC"), ("PROCAP", "PRO-cap"),
    ("CHIP_HISTONE", "histone ChIP"), ("CHIP_TF", "TF ChIP"))}
# {width} is the configured central window (predictor.features.center_width).
KIND_LABELS = {CENTER: "central {width} (mean)", MEAN: "whole input (mean)", MAX: "whole input (max)"}
# motif_<JASPAR matrix>_<version>[_<name>] (predictors/motif.py writes the version dot as "_")
MOTIF_FEATURE = re.compile(rf"{MOTIF_PREFIX}(MA\d+)_(\d+)(?:_(.+))?")
FEATURE_LABELS = {
    GC_FRACTION: "GC fraction, central window",
    KMER_RIDGE_OOF: "k-mer ridge, out-of-fold prediction",
}
TARGET_LABELS = {
    "log2_ratio": "MPRA activity, log2(RNA/DNA)",
    "activity": "MPRA activity, RNA/(DNA+1)",
}


def feature_label(feature: str, center_width: int | None = None) -> str:
    """e.g. dnase_center -> 'DNase, central 200 bp (mean)'; unknown names come back unchanged."""
    if feature in FEATURE_LABELS:
        return FEATURE_LABELS[feature]
    output, _, kind = feature.rpartition("_")
    if output in OUTPUT_LABELS and kind in KIND_LABELS:
        width = f"{center_width} bp" if center_width else "window"
        return f"{OUTPUT_LABELS[output]}, {KIND_LABELS[kind].format(width=width)}"
    motif = MOTIF_FEATURE.fullmatch(feature)
    if motif:  # motif_MA0065_3_Pparg_Rxra -> the JASPAR ID as JASPAR writes it, MA0065.3
        matrix, version, name = motif.groups()
        return f"motif score, {matrix}.{version}" + (f" {name}" if name else "")
    if feature.startswith(MOTIF_PREFIX):
        return f"motif score, {feature.removeprefix(MOTIF_PREFIX)}"
    return feature


def target_label(target: str) -> str:
    return TARGET_LABELS.get(target, target)


@dataclass(frozen=True)
class Biosample:
    ontology_term: str
    name: str
    biosample_type: str = ""
    named: bool = True  # False: the term came from params only, its name is unknown

    def text(self) -> str:
        kind = f" ({self.biosample_type.replace('_', ' ')})" if self.biosample_type else ""
        return f"{self.ontology_term} {self.name}{kind}"


@dataclass(frozen=True)
class RunContext:
    """What a result is about: dataset, experiment, predictor and biosample, in words."""

    dataset: str
    experiment: str
    predictor: str
    source: str
    organism: str
    biosamples: tuple[Biosample, ...]
    assay: Mapping[str, Any] = field(default_factory=dict)
    center_width: int | None = None
    provenance_found: bool = False
    tracks_chosen_by: str = ""  # the setting that chose a model predictor's tracks (provenance.json)

    @property
    def biosample_text(self) -> str:
        if not self.biosamples:
            return "none (sequence-only predictor)" if self.source == SOURCE_OFFLINE else UNKNOWN
        return ", ".join(b.text() for b in self.biosamples)

    @property
    def subtitle(self) -> str:
        return (f"{self.dataset} · experiment {self.experiment} · predictor: {self.predictor} · "
                f"biosample: {self.biosample_text}")

    @property
    def assay_text(self) -> str:
        if not self.assay:
            return UNKNOWN
        return f"{self.assay.get('species', UNKNOWN)} {self.assay.get('cell_type', UNKNOWN)}"

    def mismatch(self) -> str | None:
        """A sentence when the predicted biosample's species or cell type is not the assay's."""
        if not self.assay or not self.biosamples:
            return None
        problems = []
        organism, assay_organism = self.organism.upper(), str(self.assay.get("organism", "")).upper()
        if organism and assay_organism and organism != assay_organism:
            problems.append(f"species differs (predicted for {self.organism}, assay in "
                            f"{self.assay.get('species', assay_organism)})")
        line = str(self.assay.get("cell_line", "")).lower()
        term = self.assay.get("ontology_term")
        named = [b for b in self.biosamples if b.named]
        same_term = bool(term) and any(b.ontology_term == term for b in self.biosamples)
        if line and named and not same_term and not any(line in b.name.lower() for b in named):
            problems.append(f"cell type differs ({', '.join(b.name for b in named)} vs "
                            f"{self.assay.get('cell_type', line)})")
        if not problems:
            return None
        return (f"Biosample mismatch: predictions are for {self.biosample_text}, but the assay measured "
                f"{self.assay_text}: {'; '.join(problems)}.")

    def feature_label(self, feature: str) -> str:
        return feature_label(feature, self.center_width)


def read_provenance(path: Path | None) -> dict[str, Any] | None:
    """provenance.json as a dict, or None when absent or unreadable (reported as 'unknown')."""
    if path is None or not Path(path).is_file():
        return None
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def predictor_description(predictor: Mapping[str, Any], provenance: Mapping[str, Any] | None) -> tuple[str, str]:
    """(label, source) from provenance.json: the predictor class's label, with the model version if
    any; a loopback address always means the local test server. `predictor`: the plain `predictor`
    section (typed only by the stages that run a predictor)."""
    source = str((provenance or {}).get("source") or "")
    if is_loopback(predictor.get("address")) or source == SOURCE_LOCAL:
        return SOURCE_LOCAL, SOURCE_LOCAL
    if not provenance or not provenance.get("label"):
        return f"{predictor.get('name', UNKNOWN)} (provenance unknown)", UNKNOWN
    version = provenance.get("model_version")
    return f"{provenance['label']} {version}" if version else str(provenance["label"]), source or UNKNOWN


def biosamples(params: Mapping[str, Any], provenance: Mapping[str, Any] | None) -> tuple[Biosample, ...]:
    """Names from provenance.json (the model's own track metadata); terms alone say 'name unknown'."""
    listed = (provenance or {}).get("biosamples")
    if isinstance(listed, Sequence) and listed:
        return tuple(Biosample(str(b.get("ontology_term", UNKNOWN)), str(b.get("biosample_name") or UNKNOWN),
                               str(b.get("biosample_type") or "")) for b in listed if isinstance(b, Mapping))
    terms = chosen_terms(params)
    return tuple(Biosample(str(t), "(name unknown: no provenance.json)", named=False) for t in terms)


def chosen_terms(params: Mapping[str, Any]) -> list[str]:
    """A model predictor's terms as params choose them (predictors/biosample.py): the predictor's,
    else the experiment's pin, else the dataset's assay biosample; [] for offline predictors."""
    predictor = params.get("predictor") or {}
    if "ontology_terms" not in predictor:
        return []
    pinned = (params.get("experiment") or {}).get("tracks") or {}
    assay = (params.get("dataset") or {}).get("assay_biosample") or {}
    term = assay.get("ontology_term")
    return list(predictor.get("ontology_terms") or pinned.get("ontology_terms") or ([term] if term else []))


def chosen_organism(params: Mapping[str, Any]) -> str:
    """The organism in the same order as chosen_terms; "" for offline predictors."""
    predictor = params.get("predictor") or {}
    if "organism" not in predictor:
        return ""
    pinned = (params.get("experiment") or {}).get("tracks") or {}
    assay = (params.get("dataset") or {}).get("assay_biosample") or {}
    return str(predictor.get("organism") or pinned.get("organism") or assay.get("organism") or "")


def run_context(params: Params, provenance: Mapping[str, Any] | None) -> RunContext:
    """The run context of the typed settings and the predict stage's provenance.json (None: absent)."""
    predictor = params.predictor
    plain = as_plain(params)
    label, source = predictor_description(predictor, provenance)
    features = predictor.get("features")
    organism = str((provenance or {}).get("organism") or chosen_organism(plain))
    return RunContext(
        dataset=params.dataset.name,
        experiment=params.experiment.name,
        predictor=label, source=source, organism=organism,
        biosamples=biosamples(plain, provenance),
        assay=asdict(params.dataset.assay_biosample),
        center_width=features.get("center_width") if isinstance(features, Mapping) else None,
        provenance_found=provenance is not None,
        tracks_chosen_by=str((provenance or {}).get("tracks_chosen_by") or ""),
    )
