"""Synthetic AlphaGenome tracks: the deterministic signal the local server sends, and its catalogue.

The values are made up (GC content plus a bump at each scored motif) so a test can
compute exactly what the client must receive. They stand in for no real assay.

For an upper-cased sequence ``s`` of length ``L``:

1. ``gc[i]``: fraction of G/C among the A/C/G/T bases in ``[i-50, i+51)`` (clipped; 0 if none).
2. Motif bump: at every start where a scored motif (default the DR1 site ``AGGTCAAAGGTCA``)
   or its reverse complement matches, add ``motif_weight`` (2.0) on ``[c-50, c+50]`` around
   the centre ``c = start + len(motif) // 2``; bumps add up.
3. ``signal = gc + bump``, zero where ``s[i] == 'N'``.
4. ``value = float32(signal * output_factor * (1 + 0.25 * track_index) * ontology_factor)``
   in float64, with ``output_factor`` DNASE 1.0, CAGE 0.2, RNA_SEQ 0.5, other 0.3 and
   ``ontology_factor = 1 + (crc32(curie) % 7) / 10`` (1.0 without a curie).

``track_index`` counts earlier catalogue tracks of the same organism, output and curie
(for a stranded pair '+' is 0, '-' is 1); filtering by ontology never changes it.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from alphagenome.models.v1 import dna_client, track_data_utils
from alphagenome.protos.v1 import dna_model_pb2

from mprabench.dna import reverse_complement

DEFAULT_SCORED_MOTIFS: tuple[str, ...] = ("AGGTCAAAGGTCA",)  # DR1, PPARgamma:RXR
DEFAULT_MOTIF_WEIGHT = 2.0
GC_HALF_WINDOW = 50  # window [i-50, i+51): 101 bp centred on i
MOTIF_HALF_WIDTH = 50  # bump covers [c-50, c+50]
OUTPUT_FACTORS: Mapping[str, float] = MappingProxyType({"DNASE": 1.0, "CAGE": 0.2, "RNA_SEQ": 0.5})
OTHER_OUTPUT_FACTOR = 0.3
NON_TRACK_OUTPUTS = frozenset({"SPLICE_JUNCTIONS", "CONTACT_MAPS"})

TrackCatalogue = Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]]


# --------------------------------------------------------------------------- signal


def output_type_name(output_type: dna_client.OutputType | int | str) -> str:
    """Normalise an OutputType enum, proto value or name ('DNASE'/'OUTPUT_TYPE_DNASE')."""
    if isinstance(output_type, dna_client.OutputType):
        return output_type.name
    if isinstance(output_type, str):
        name = output_type.upper().removeprefix("OUTPUT_TYPE_")
        if name not in dna_client.OutputType.__members__:
            raise ValueError(f"unknown output type {output_type!r}")
        return name
    return dna_client.OutputType(int(output_type)).name


def output_factor(output_type: dna_client.OutputType | int | str) -> float:
    """Per-output scale: DNASE 1.0, CAGE 0.2, RNA_SEQ 0.5, others 0.3."""
    return OUTPUT_FACTORS.get(output_type_name(output_type), OTHER_OUTPUT_FACTOR)


def ontology_factor(ontology_curie: str | None) -> float:
    """Per-biosample scale 1 + (crc32(curie) % 7) / 10; 1.0 for a missing curie."""
    if not isinstance(ontology_curie, str) or not ontology_curie:
        return 1.0
    return 1.0 + (zlib.crc32(ontology_curie.encode("ascii")) % 7) / 10.0


def track_scale(
    output_type: dna_client.OutputType | int | str, track_index: int, ontology_curie: str | None
) -> float:
    """The full multiplicative factor applied to the base signal of one track."""
    return output_factor(output_type) * (1.0 + 0.25 * track_index) * ontology_factor(ontology_curie)


def gc_signal(sequence: str) -> np.ndarray:
    """GC fraction among ACGT bases in [i-50, i+51) (clipped); 0 where there is no ACGT."""
    bases = np.frombuffer(sequence.upper().encode("ascii"), dtype=np.uint8)
    is_gc = (bases == ord("G")) | (bases == ord("C"))
    is_acgt = is_gc | (bases == ord("A")) | (bases == ord("T"))
    gc_cum = np.concatenate([[0], np.cumsum(is_gc, dtype=np.int64)])
    acgt_cum = np.concatenate([[0], np.cumsum(is_acgt, dtype=np.int64)])
    positions = np.arange(len(bases))
    lo = np.maximum(positions - GC_HALF_WINDOW, 0)
    hi = np.minimum(positions + GC_HALF_WINDOW + 1, len(bases))
    gc_count = gc_cum[hi] - gc_cum[lo]
    acgt_count = acgt_cum[hi] - acgt_cum[lo]
    return np.divide(
        gc_count, acgt_count, out=np.zeros(len(bases), dtype=np.float64), where=acgt_count > 0
    )


def motif_starts(sequence: str, motif: str) -> np.ndarray:
    """Sorted 0-based starts where `motif` or its reverse complement matches (overlaps allowed)."""
    motif = motif.upper()
    alternatives = sorted({re.escape(motif), re.escape(reverse_complement(motif))})
    # A zero-width lookahead finds overlapping matches, once per start position.
    pattern = re.compile(f"(?=(?:{'|'.join(alternatives)}))")
    return np.fromiter(
        (match.start() for match in pattern.finditer(sequence.upper())), dtype=np.int64
    )


def motif_bump(
    sequence: str,
    scored_motifs: Iterable[str] = DEFAULT_SCORED_MOTIFS,
    motif_weight: float = DEFAULT_MOTIF_WEIGHT,
) -> np.ndarray:
    """Sum over motif occurrences of `motif_weight` on [centre-50, centre+50]."""
    length = len(sequence)
    delta = np.zeros(length + 1, dtype=np.float64)
    for motif in scored_motifs:
        centres = motif_starts(sequence, motif) + len(motif) // 2
        lo = np.clip(centres - MOTIF_HALF_WIDTH, 0, length)
        hi = np.clip(centres + MOTIF_HALF_WIDTH + 1, 0, length)
        np.add.at(delta, lo, motif_weight)
        np.add.at(delta, hi, -motif_weight)
    return np.cumsum(delta[:length])


def base_signal(
    sequence: str,
    scored_motifs: Iterable[str] = DEFAULT_SCORED_MOTIFS,
    motif_weight: float = DEFAULT_MOTIF_WEIGHT,
) -> np.ndarray:
    """Unscaled float64 signal: GC signal + motif bumps, zero at N positions."""
    signal_values = gc_signal(sequence) + motif_bump(sequence, scored_motifs, motif_weight)
    is_n = np.frombuffer(sequence.upper().encode("ascii"), dtype=np.uint8) == ord("N")
    signal_values[is_n] = 0.0
    return signal_values


def track_values(
    sequence: str,
    output_type: dna_client.OutputType | int | str,
    track_index: int,
    ontology_curie: str | None,
    *,
    scored_motifs: Iterable[str] = DEFAULT_SCORED_MOTIFS,
    motif_weight: float = DEFAULT_MOTIF_WEIGHT,
) -> np.ndarray:
    """The exact float32 values (length len(sequence)) the server sends for one track."""
    scale = track_scale(output_type, track_index, ontology_curie)
    return (base_signal(sequence, scored_motifs, motif_weight) * scale).astype(np.float32)


def track_indices(metadata: pd.DataFrame) -> np.ndarray:
    """Each row's track_index: how many earlier rows share its ontology_curie."""
    return _running_count(_curies(metadata))


def _curies(metadata: pd.DataFrame) -> list[str | None]:
    """The ontology_curie column as a list, None where absent/NaN."""
    if "ontology_curie" not in metadata.columns:
        return [None] * len(metadata)
    return [curie if isinstance(curie, str) else None for curie in metadata["ontology_curie"]]


def _running_count(keys: Sequence[Any]) -> np.ndarray:
    """For each key, how many times it occurred before."""
    seen: Counter[Any] = Counter()
    indices = np.zeros(len(keys), dtype=np.int64)
    for row, key in enumerate(keys):
        indices[row] = seen[key]
        seen[key] += 1
    return indices


def expected_track_matrix(
    sequence: str,
    output_type: dna_client.OutputType | int | str,
    metadata: pd.DataFrame,
    *,
    scored_motifs: Iterable[str] = DEFAULT_SCORED_MOTIFS,
    motif_weight: float = DEFAULT_MOTIF_WEIGHT,
) -> np.ndarray:
    """(L, n_tracks) float32 values for the tracks in `metadata`, as the server computes them."""
    signal_values = base_signal(sequence, scored_motifs, motif_weight)
    return _scaled_matrix(signal_values, output_type, metadata)


def _scaled_matrix(
    signal_values: np.ndarray,
    output_type: dna_client.OutputType | int | str,
    metadata: pd.DataFrame,
) -> np.ndarray:
    """float32(signal * scale) with one column per metadata row."""
    return apply_scales(signal_values, _track_scales(output_type, metadata))


def _track_scales(
    output_type: dna_client.OutputType | int | str, metadata: pd.DataFrame
) -> np.ndarray:
    """The float64 scale of each metadata row's track."""
    curies = _curies(metadata)
    indices = _running_count(curies)
    scales = [
        track_scale(output_type, int(index), curie)
        for curie, index in zip(curies, indices, strict=True)
    ]
    return np.array(scales, dtype=np.float64)


def apply_scales(signal_values: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """(L, n_tracks) float32: each column is float32(signal * scale) computed in float64."""
    return (signal_values[:, np.newaxis] * scales[np.newaxis, :]).astype(np.float32)


# ----------------------------------------------------------------------- catalogue


def _cell_tracks(
    curie: str, biosample: str, biosample_type: str, outputs: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    """Plausible DNASE (unstranded), CAGE and RNA_SEQ (+/-) tracks for one biosample."""
    templates = {
        "DNASE": (f"{curie} DNase-seq", "DNase-seq", "encode", (".",)),
        "CAGE": (f"hCAGE {curie}", "hCAGE", "fantom", ("+", "-")),
        "RNA_SEQ": (f"{curie} total RNA-seq", "total RNA-seq", "encode", ("+", "-")),
    }
    tracks: dict[str, list[dict[str, Any]]] = {}
    for output in outputs:
        name, assay, source, strands = templates[output]
        tracks[output] = [
            {
                "name": name,
                "strand": strand,
                "ontology_curie": curie,
                "biosample_name": biosample,
                "biosample_type": biosample_type,
                "Assay title": assay,
                "data_source": source,
            }
            for strand in strands
        ]
    return tracks


def _merge_tracks(*groups: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Concatenate per-output track lists, preserving order."""
    merged: dict[str, list[dict[str, Any]]] = {}
    for group in groups:
        for output, tracks in group.items():
            merged.setdefault(output, []).extend(tracks)
    return merged


def default_catalogue() -> dict[str, dict[str, list[dict[str, Any]]]]:
    """A fresh copy of the default track catalogue (organism -> output -> tracks)."""
    all_outputs = ("DNASE", "CAGE", "RNA_SEQ")
    human = _merge_tracks(
        _cell_tracks("EFO:0002067", "K562", "cell_line", all_outputs),
        _cell_tracks("EFO:0001187", "HepG2", "cell_line", all_outputs),
    )
    mouse = _merge_tracks(
        _cell_tracks("EFO:0001084", "3T3-L1", "cell_line", ("DNASE",)),
        _cell_tracks("UBERON:0000955", "brain", "tissue", ("DNASE", "RNA_SEQ", "CAGE")),
        _cell_tracks("UBERON:0001013", "adipose tissue", "tissue", ("RNA_SEQ",)),
    )
    return {"ORGANISM_HOMO_SAPIENS": human, "ORGANISM_MUS_MUSCULUS": mouse}


def _organism_value(organism: dna_client.Organism | int | str) -> int:
    """Proto enum value of an Organism enum, proto value or name (with/without prefix)."""
    if isinstance(organism, dna_client.Organism):
        return organism.value
    if isinstance(organism, str):
        name = organism.upper()
        name = name if name.startswith("ORGANISM_") else f"ORGANISM_{name}"
        return dna_model_pb2.Organism.Value(name)
    return int(organism)


def _tracks_frame(tracks: Sequence[Mapping[str, Any]], where: str) -> pd.DataFrame:
    """Validated metadata DataFrame for one organism/output (round-trips through the proto)."""
    frame = pd.DataFrame([dict(track) for track in tracks])
    if frame.empty:
        return pd.DataFrame(columns=["name", "strand"])
    if not {"name", "strand"}.issubset(frame.columns):
        raise ValueError(f"{where}: every track needs 'name' and 'strand'")
    if not frame["strand"].isin(["+", "-", "."]).all():
        raise ValueError(f"{where}: strand must be one of '+', '-', '.'")
    if frame[["name", "strand"]].duplicated().any():
        raise ValueError(f"{where}: duplicated (name, strand) pairs")
    track_data_utils.metadata_to_proto(frame)  # fails early on bad curies / biosample types
    return frame


@dataclasses.dataclass(frozen=True)
class _PreparedTracks:
    """What every response for one (organism, output, curies) shares, built once.

    Selecting tracks and converting their metadata to a proto is pandas work that costs
    more CPU than computing the values; doing it per request made this stand-in server
    compete with the client under test for the machine's cores.
    """

    metadata: Sequence[dna_model_pb2.TrackMetadata]
    scales: np.ndarray


def _prepare_tracks(metadata: pd.DataFrame, output: str) -> _PreparedTracks:
    return _PreparedTracks(
        metadata=track_data_utils.metadata_to_proto(metadata).metadata,
        scales=_track_scales(output, metadata),
    )


@dataclasses.dataclass(frozen=True)
class OrganismTracks:
    """Per-output-type metadata frames of one organism, keyed by output name."""

    frames: Mapping[str, pd.DataFrame]
    _prepared: dict[tuple[str, frozenset[str] | None], _PreparedTracks] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )

    def prepared(self, output: str, curies: frozenset[str] | None) -> _PreparedTracks:
        """`select(output, curies)` as a metadata proto and track scales, cached."""
        key = (output, curies)
        if key not in self._prepared:
            # Two handler threads may both build it; they build the same value.
            self._prepared[key] = _prepare_tracks(self.select(output, curies), output)
        return self._prepared[key]

    def select(self, output: str, curies: frozenset[str] | None) -> pd.DataFrame:
        """Tracks of one output restricted to `curies` (None = all); empty frame if none."""
        frame = self.frames.get(output, pd.DataFrame(columns=["name", "strand"]))
        if curies is None:
            return frame
        if "ontology_curie" not in frame.columns:
            return frame.iloc[0:0]
        return frame[frame["ontology_curie"].isin(curies)].reset_index(drop=True)


def normalise_catalogue(catalogue: TrackCatalogue) -> dict[int, OrganismTracks]:
    """Key the catalogue by proto organism value and output name, validating every track."""
    normalised: dict[int, OrganismTracks] = {}
    for organism, outputs in catalogue.items():
        frames = {}
        for output, tracks in outputs.items():
            name = output_type_name(output)
            if name in NON_TRACK_OUTPUTS:
                raise ValueError(f"{name} is not a 1-bp track output; not supported")
            frames[name] = _tracks_frame(tracks, f"{organism}/{name}")
        normalised[_organism_value(organism)] = OrganismTracks(MappingProxyType(frames))
    return normalised
