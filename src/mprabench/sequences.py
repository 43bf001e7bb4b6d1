"""Model inputs for each benchmark row (PROTOCOL.md, "Model inputs").

Every builder returns the benchmark rows (with `input_sha256`) and the distinct inputs
(SHA-256 -> sequence). An input is identified by its sequence before any model-specific
padding, so two rows with the same input are one prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mprabench.dna import reverse_complement, sequence_sha256
from mprabench.genome import GenomicWindow

ELEMENT_COLUMNS = ["element_id", "pool", "chrom", "start", "end", "strand", "motif"]


@dataclass(frozen=True)
class MotifSite:
    """An element's PPARγ site: + strand coordinates, and the motif as it reads on `strand`."""

    element_id: str
    chrom: str
    start: int
    end: int
    strand: str
    motif: str

    @property
    def plus_strand_motif(self) -> str:
        return self.motif if self.strand == "+" else reverse_complement(self.motif)


@dataclass
class BuiltInputs:
    rows: pd.DataFrame
    inputs: dict[str, str]
    motif_checked: int
    motif_matches: int


def element_sites(oligos: pd.DataFrame) -> list[MotifSite]:
    """One site per base element, in order of first appearance."""
    elements = oligos.drop_duplicates("element_id")
    return [
        MotifSite(r.element_id, r.chrom, int(r.start), int(r.end), r.strand, r.motif)
        for r in elements.itertuples(index=False)
    ]


def n_padded_motif(motif: str, length: int) -> str:
    """The motif centred in N: V1's input (1,016 N + 16-bp motif + 1,016 N for 2,048 bp)."""
    if length < len(motif):
        raise ValueError(f"window {length} is shorter than the {len(motif)}-bp motif")
    left = (length - len(motif)) // 2
    return "N" * left + motif + "N" * (length - len(motif) - left)


def centred_window(site: MotifSite, width: int) -> GenomicWindow:
    """[c - width/2, c + width/2) with c = (start + end) // 2 (V2: [c - 1024, c + 1024))."""
    centre = (site.start + site.end) // 2
    start = centre - width // 2
    return GenomicWindow(site.element_id, site.chrom, start, start + width)


def motif_matches_reference(site: MotifSite, window: GenomicWindow, reference: str) -> bool:
    """Does the name's motif equal the reference at [start, end), read on the site's strand?"""
    offset = site.start - window.start
    return reference[offset : offset + len(site.motif)].upper() == site.plus_strand_motif


def oriented_element_input(
    site: MotifSite, window: GenomicWindow, reference: str, seed_strand_bug: bool = False
) -> str:
    """The window with the name's motif placed at [start, end), read in the element's orientation.

    The motif is placed as it reads on the + strand, then a `-` element's whole window
    is reverse-complemented. `seed_strand_bug` reproduces the original analysis, which
    inserted a `-` element's motif unreversed into the + strand window, so the motif
    ends up flipped in place in the final input.
    """
    placed = site.motif if seed_strand_bug else site.plus_strand_motif
    offset = site.start - window.start
    plus = reference[:offset] + placed + reference[offset + len(placed) :]
    return plus if site.strand == "+" else reverse_complement(plus)


def build_aggregated_inputs(oligos: pd.DataFrame, width: int) -> BuiltInputs:
    """V1: one row per element, activity = mean log2 ratio of its oligos, motif centred in N."""
    grouped = oligos.groupby("element_id", sort=False)
    rows = grouped[ELEMENT_COLUMNS].first().reset_index(drop=True)
    rows.insert(0, "row_id", rows["element_id"])
    rows["design"] = None
    rows["tf_labels"] = grouped["tf_labels"].agg(_label_union).to_numpy()
    rows["is_wild_type"] = False
    for column in ("tags", "rna", "plasmid"):
        rows[column] = grouped[column].sum().to_numpy()
    rows["log2_ratio"] = grouped["log2_ratio"].mean().to_numpy()
    rows["log2_ratio_std"] = grouped["log2_ratio"].std(ddof=1).fillna(0.0).to_numpy()
    rows["activity"] = grouped["activity"].mean().to_numpy()
    rows["n_oligos"] = grouped.size().to_numpy()
    sequences = [n_padded_motif(motif, width) for motif in rows["motif"]]
    return _with_inputs(rows, sequences, motif_checked=0, motif_matches=0)


def build_individual_inputs(
    oligos: pd.DataFrame, windows: dict[str, GenomicWindow], references: dict[GenomicWindow, str],
    seed_strand_bug: bool = False,
) -> BuiltInputs:
    """V2: one row per oligo; every oligo of an element gets its element's oriented window."""
    by_element: dict[str, str] = {}
    matches: dict[str, bool] = {}
    for site in element_sites(oligos):
        window = windows[site.element_id]
        reference = references[window]
        by_element[site.element_id] = oriented_element_input(site, window, reference, seed_strand_bug)
        matches[site.element_id] = motif_matches_reference(site, window, reference)
    rows = oligos.copy()
    rows["n_oligos"] = 1
    matched = int(rows["element_id"].map(matches).sum())
    return _with_inputs(rows, rows["element_id"].map(by_element).tolist(), len(rows), matched)


def _with_inputs(rows: pd.DataFrame, sequences: list[str], motif_checked: int, motif_matches: int) -> BuiltInputs:
    distinct = {sequence_sha256(s): s.upper() for s in dict.fromkeys(sequences)}
    by_sequence = {s: h for h, s in distinct.items()}
    rows = rows.copy()
    rows["input_sha256"] = [by_sequence[s.upper()] for s in sequences]
    return BuiltInputs(rows.reset_index(drop=True), distinct, motif_checked, motif_matches)


def _label_union(labels: pd.Series) -> list[str]:
    return sorted({label for row in labels for label in row})
