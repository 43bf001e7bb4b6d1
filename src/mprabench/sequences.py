"""Model inputs for each benchmark row (PROTOCOL.md, "Model inputs").

Every builder returns the benchmark rows (with `input_sha256`) and the distinct inputs
(SHA-256 -> sequence). An input is identified by its sequence before any model-specific
padding, so two rows with the same input are one prediction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from mprabench.dna import reverse_complement, sequence_sha256
from mprabench.errors import InputDataError
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
    excluded: dict[str, int] = field(default_factory=dict)  # rows dropped here, by reason
    notes: dict[str, int] = field(default_factory=dict)  # further QC counts


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
    # Rows often share one sequence object: hash each distinct sequence once, never copy per row.
    sha_of = {s: sequence_sha256(s) for s in dict.fromkeys(sequences)}
    distinct = {sha: s.upper() for s, sha in sha_of.items()}
    rows = rows.copy()
    rows["input_sha256"] = [sha_of[s] for s in sequences]
    return BuiltInputs(rows.reset_index(drop=True), distinct, motif_checked, motif_matches)


def _label_union(labels: pd.Series) -> list[str]:
    return sorted({label for row in labels for label in row})


# V3: each oligo's designed sequence in its element's genomic window.
DESIGN_EXCLUSIONS = ("missing_design_sequence", "no_wild_type_design", "wild_type_not_in_reference")


def designed_window(site: MotifSite, width: int, margin: int) -> GenomicWindow:
    """The reference needed around a site: the model window plus room to centre any oligo."""
    return centred_window(site, width + 2 * margin)


def locate_wild_type(oriented_reference: str, wild_type: str) -> tuple[int, bool] | None:
    """Start of the one exact match of the wild-type oligo (or its reverse complement), or None."""
    for candidate, flipped in ((wild_type, False), (reverse_complement(wild_type), True)):
        first = oriented_reference.find(candidate)
        if first >= 0 and oriented_reference.find(candidate, first + 1) < 0:
            return first, flipped
    return None


def embed_oligo(oriented_reference: str, offset: int, wild_type_length: int, oligo: str, width: int) -> str:
    """`oligo` in place of the wild type's span, centred in a `width`-bp window of reference flanks.

    For the wild-type oligo itself the result is the reference window, unchanged.
    """
    left = (width - len(oligo)) // 2
    start, end = offset - left, offset + wild_type_length + (width - len(oligo) - left)
    if len(oligo) > width or start < 0 or end > len(oriented_reference):
        raise ValueError(f"a {len(oligo)}-bp oligo does not fit a {width}-bp window here")
    return oriented_reference[start:offset] + oligo + oriented_reference[offset + wild_type_length : end]


def build_designed_inputs(
    oligos: pd.DataFrame, design: dict[str, str], width: int, windows: dict[str, GenomicWindow],
    references: dict[GenomicWindow, str],
) -> BuiltInputs:
    """V3: one row per oligo whose input is its own designed sequence inside its genomic window."""
    excluded = dict.fromkeys(DESIGN_EXCLUSIONS, 0)
    has_design = oligos["row_id"].isin(design.keys())
    excluded["missing_design_sequence"] = int((~has_design).sum())
    sites = {site.element_id: site for site in element_sites(oligos)}
    kept, sequences, flipped_elements, checked, matched = [], [], 0, 0, 0
    for element_id, members in oligos[has_design].groupby("element_id", sort=False):
        site, window = sites[element_id], windows[element_id]
        placement = _place_element(site, members, design, references[window])
        if isinstance(placement, str):
            excluded[placement] += len(members)
            continue
        oriented, offset, flipped, wild_type_length = placement
        flipped_elements += flipped
        for name in members["row_id"]:
            oligo = reverse_complement(design[name]) if flipped else design[name]
            try:
                sequences.append(embed_oligo(oriented, offset, wild_type_length, oligo, width))
            except ValueError as problem:
                raise InputDataError(f"design oligo {name!r}: {problem}; raise experiment.window") from None
        kept.append(members)
        checked += len(members)
        matched += len(members) * motif_matches_reference(site, window, references[window])
    rows = pd.concat(kept, ignore_index=True) if kept else oligos.iloc[:0].copy()
    rows["n_oligos"] = 1
    built = _with_inputs(rows, sequences, checked, matched)
    built.excluded = excluded
    built.notes = {"design_records": len(design),
                   "design_without_counts": len(set(design) - set(oligos["row_id"])),
                   "design_elements_reverse_complemented": flipped_elements}
    return built


def _place_element(
    site: MotifSite, members: pd.DataFrame, design: dict[str, str], reference: str
) -> tuple[str, int, bool, int] | str:
    """(oriented reference, wild-type offset, flipped, wild-type length), or the exclusion reason."""
    wild_types = members.loc[members["is_wild_type"], "row_id"].tolist()
    if not wild_types:
        return "no_wild_type_design"
    oriented = reference if site.strand == "+" else reverse_complement(reference)
    wild_type = design[wild_types[0]]
    located = locate_wild_type(oriented, wild_type)
    if located is None:
        return "wild_type_not_in_reference"
    return oriented, located[0], located[1], len(wild_type)
