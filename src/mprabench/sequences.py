"""Model inputs for each benchmark row (PROTOCOL.md, "Model inputs").

Every builder returns the benchmark rows (with `input_sha256`) and the distinct inputs
(SHA-256 -> sequence). An input is identified by its sequence before any model-specific
padding, so two rows with the same input are one prediction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from mprabench.dna import centred_start, pad_with_n, reverse_complement, sequence_sha256, upper_case
from mprabench.errors import InputDataError
from mprabench.genome import GenomicWindow
from mprabench.schema import (
    ELEMENT_ID,
    INPUT_SHA256,
    IS_WILD_TYPE,
    MOTIF_N_RUN,  # the reasons of a motif mismatch record (re-exported: tests import them from here)
    MOTIF_SEQUENCE_MISMATCH,
    N_OLIGOS,
    ROW_ID,
    SEQUENCE,
    TF_LABELS,
    ZERO_RNA_DROPOUT,
    dropout_mask,
)

ELEMENT_COLUMNS = [ELEMENT_ID, "pool", "chrom", "start", "end", "strand", "motif"]


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
    # One record per element whose name's motif differs from the reference (see motif_mismatch_records)
    motif_mismatches: list[dict[str, object]] = field(default_factory=list)
    elements_without_target: list[str] = field(default_factory=list)  # V1: every oligo a dropout


def element_sites(oligos: pd.DataFrame) -> list[MotifSite]:
    """One site per base element, in order of first appearance."""
    elements = oligos.drop_duplicates(ELEMENT_ID)
    return [
        MotifSite(r.element_id, r.chrom, int(r.start), int(r.end), r.strand, r.motif)
        for r in elements.itertuples(index=False)
    ]


def n_padded_motif(motif: str, length: int) -> str:
    """The motif centred in N: V1's input (1,016 N + 16-bp motif + 1,016 N for 2,048 bp)."""
    return pad_with_n(motif, length)[0]


def in_flanks(insert: str, left: str, right: str, length: int) -> str:
    """`insert` centred in `length` bp between the ends of `left` and `right` nearest to it; N beyond
    flanks too short to fill the window (a reporter construct's sequence around the insert)."""
    if length < len(insert):
        raise ValueError(f"a {len(insert)}-bp insert does not fit in {length} bp")
    before = centred_start(length, len(insert))
    after = length - len(insert) - before
    left_part = left[-before:] if before else ""
    right_part = right[:after]
    return "N" * (before - len(left_part)) + left_part + insert + right_part + "N" * (after - len(right_part))


def genome_flank_windows(name: str, chrom: str, start: int, end: int, strand: str, insert_length: int,
                         width: int) -> tuple[GenomicWindow, GenomicWindow]:
    """The reference either side of an element's [start, end) that centres a measured insert of
    `insert_length` in `width` bp (left and right on the + strand; `strand` is the insert's reading
    strand, so on `-` the + strand's right flank ends up on the input's left)."""
    if width < insert_length:
        raise ValueError(f"a {insert_length}-bp insert does not fit in {width} bp")
    before = centred_start(width, insert_length)
    after = width - insert_length - before
    left_length, right_length = (before, after) if strand != "-" else (after, before)
    return (GenomicWindow(name, chrom, start - left_length, start), GenomicWindow(name, chrom, end, end + right_length))


def in_genome(insert: str, left: str, right: str, strand: str) -> str:
    """The measured insert (adapters included) between its element's reference flanks, read on `strand`."""
    if strand == "-":
        return reverse_complement(right) + insert + reverse_complement(left)
    return left + insert + right


def centred_window(site: MotifSite, width: int) -> GenomicWindow:
    """[c - width/2, c + width/2) with c = (start + end) // 2 (V2: [c - 1024, c + 1024))."""
    centre = (site.start + site.end) // 2
    start = centre - width // 2
    return GenomicWindow(site.element_id, site.chrom, start, start + width)


def motif_matches_reference(site: MotifSite, window: GenomicWindow, reference: str) -> bool:
    """Does the name's motif equal the reference at [start, end), read on the site's strand?"""
    return _reference_site(site, window, reference) == site.plus_strand_motif


# Why a name's motif differs from the reference (MOTIF_N_RUN, MOTIF_SEQUENCE_MISMATCH from schema): the
# reference has unknown bases (an N run of the assembly) over the site, or real bases that differ.
def motif_mismatch_reason(site: MotifSite, window: GenomicWindow, reference: str) -> str | None:
    """None when the motif matches the reference, else MOTIF_N_RUN or MOTIF_SEQUENCE_MISMATCH."""
    found = _reference_site(site, window, reference)
    if found == site.plus_strand_motif:
        return None
    return MOTIF_N_RUN if "N" in found else MOTIF_SEQUENCE_MISMATCH


def motif_mismatch_record(site: MotifSite, window: GenomicWindow, reference: str, rows: int) -> dict[str, object]:
    """What the report shows for one element whose motif does not match: reference read on the site's strand."""
    found = _reference_site(site, window, reference)
    oriented = found if site.strand == "+" else reverse_complement(found)
    return {
        ELEMENT_ID: site.element_id, "rows": int(rows), "reason": motif_mismatch_reason(site, window, reference),
        "site": f"{site.chrom}:{site.start}-{site.end}({site.strand})", "name_motif": site.motif,
        "reference_motif": oriented, "differing_bases": sum(a != b for a, b in zip(oriented, site.motif)),
    }


def motif_mismatch_records(
    oligos: pd.DataFrame, windows: dict[str, GenomicWindow], references: dict[GenomicWindow, str]
) -> list[dict[str, object]]:
    """One record per element of `oligos` whose motif does not match its reference window."""
    rows = oligos[ELEMENT_ID].value_counts()
    records = []
    for site in element_sites(oligos):
        window = windows[site.element_id]
        if motif_mismatch_reason(site, window, references[window]) is not None:
            records.append(motif_mismatch_record(site, window, references[window], rows[site.element_id]))
    return records


def _reference_site(site: MotifSite, window: GenomicWindow, reference: str) -> str:
    offset = site.start - window.start
    return reference[offset : offset + len(site.motif)].upper()


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


def build_aggregated_inputs(oligos: pd.DataFrame, width: int,
                            placed: Callable[[str, str], str] | None = None) -> BuiltInputs:
    """V1: one row per element, activity = mean log2 ratio of its oligos, motif centred in N
    (or, with `placed(element_id, motif)`, in the context experiment.context names).

    Oligos flagged in a `zero_rna_dropout` column are left out of the element's target,
    counts, std and n_oligos; `log2_ratio_with_dropouts` / `activity_with_dropouts` are the
    means over every oligo, and `n_dropouts` counts the ones left out. An element whose
    every oligo is a dropout has no target: it is dropped and listed in elements_without_target.
    """
    dropout = pd.Series(dropout_mask(oligos), index=oligos.index)
    every = oligos.groupby(ELEMENT_ID, sort=False)
    used = oligos.loc[~dropout].groupby(ELEMENT_ID, sort=False)
    rows = every[ELEMENT_COLUMNS].first()
    rows.insert(0, ROW_ID, rows[ELEMENT_ID])
    rows["design"] = None
    rows[TF_LABELS] = every[TF_LABELS].agg(_label_union)
    rows[IS_WILD_TYPE] = False
    rows[ZERO_RNA_DROPOUT] = False  # the dropouts are already out of this element's target
    for column in ("tags", "rna", "plasmid"):
        rows[column] = used[column].sum()
    rows["log2_ratio"] = used["log2_ratio"].mean()
    rows["log2_ratio_std"] = used["log2_ratio"].std(ddof=1)
    rows["activity"] = used["activity"].mean()
    rows[N_OLIGOS] = used.size()
    rows["log2_ratio_with_dropouts"] = every["log2_ratio"].mean()
    rows["activity_with_dropouts"] = every["activity"].mean()
    rows["n_dropouts"] = dropout.groupby(oligos[ELEMENT_ID], sort=False).sum()
    without_target = rows.index[rows[N_OLIGOS].isna()].tolist()
    rows = rows.drop(index=without_target).reset_index(drop=True)
    rows["log2_ratio_std"] = rows["log2_ratio_std"].fillna(0.0)
    for column in ("tags", "rna", "plasmid", N_OLIGOS, "n_dropouts"):
        rows[column] = rows[column].astype("int64")
    place = placed or (lambda _element, motif: n_padded_motif(motif, width))
    sequences = [place(element, motif) for element, motif in zip(rows[ELEMENT_ID], rows["motif"])]
    built = _with_inputs(rows, sequences, motif_checked=0, motif_matches=0)
    built.elements_without_target = [str(e) for e in without_target]
    return built


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
    rows[N_OLIGOS] = 1
    matched = int(rows[ELEMENT_ID].map(matches).sum())
    built = _with_inputs(rows, rows[ELEMENT_ID].map(by_element).tolist(), len(rows), matched)
    built.motif_mismatches = motif_mismatch_records(oligos, windows, references)
    return built


def build_given_inputs(oligos: pd.DataFrame, width: int,
                       placed: Callable[[int, str], str] | None = None) -> BuiltInputs:
    """A sequence table's rows as measured: each row's input is its own insert, centred in N up to `width`.

    Two rows with the same insert share one input (one prediction); the reader has already
    checked that inserts are upper-case ACGT of one length.
    """
    inserts = oligos[SEQUENCE]
    longest = int(inserts.str.len().max()) if len(inserts) else 0
    if longest > width:
        raise InputDataError(
            f"the dataset's inserts are {longest} nt, longer than experiment.window = {width}: raise it, e.g. "
            f"`-S experiment.window={longest + longest % 2}` (the insert is centred in N up to the window)"
        )
    rows = oligos.copy()
    rows[N_OLIGOS] = 1
    if placed is not None:  # experiment.context: each row's insert in its flanks (position, insert)
        return _with_inputs(rows, [placed(i, s) for i, s in enumerate(inserts)], motif_checked=0, motif_matches=0)
    # One N padding per insert length (the reader allows one length), not one pad_with_n call per row.
    pads = {n: ("N" * centred_start(width, n), "N" * (width - n - centred_start(width, n)))
            for n in set(inserts.str.len())}
    padded = {s: pads[len(s)][0] + s + pads[len(s)][1] for s in dict.fromkeys(inserts)}
    return _with_inputs(rows, [padded[s] for s in inserts], motif_checked=0, motif_matches=0)


def element_spans(oligos: pd.DataFrame) -> dict[str, GenomicWindow]:
    """Each row's own [start, end) on the + strand (mpra_element rows carry their coordinates)."""
    return {row: GenomicWindow(str(element), str(chrom), int(start), int(end)) for row, element, chrom, start, end in
            zip(oligos[ROW_ID], oligos[ELEMENT_ID], oligos["chrom"], oligos["start"], oligos["end"], strict=True)}


def build_reference_inputs(oligos: pd.DataFrame, spans: dict[str, GenomicWindow],
                           references: dict[GenomicWindow, str], width: int) -> BuiltInputs:
    """Each row's span of the reference, reverse-complemented on the - strand, centred in N up to `width`."""
    sequences = []
    for row, strand in zip(oligos[ROW_ID], oligos["strand"], strict=True):
        span = references[spans[row]]
        oriented = reverse_complement(span) if strand == "-" else span
        if len(oriented) > width:
            raise InputDataError(f"element {row}: {len(oriented)} bp, longer than experiment.window = {width}; "
                                 "raise the window")
        sequences.append(pad_with_n(oriented, width)[0])
    rows = oligos.copy()
    rows[N_OLIGOS] = 1
    return _with_inputs(rows, sequences, motif_checked=0, motif_matches=0)


def _with_inputs(rows: pd.DataFrame, sequences: list[str], motif_checked: int, motif_matches: int) -> BuiltInputs:
    # Rows often share one sequence object: hash each distinct sequence once, never copy per row.
    sha_of = {s: sequence_sha256(s) for s in dict.fromkeys(sequences)}
    distinct = {sha: upper_case(s) for s, sha in sha_of.items()}
    rows = rows.copy()
    rows[INPUT_SHA256] = [sha_of[s] for s in sequences]
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
    left = centred_start(width, len(oligo))
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
    has_design = oligos[ROW_ID].isin(design.keys())
    excluded["missing_design_sequence"] = int((~has_design).sum())
    sites = {site.element_id: site for site in element_sites(oligos)}
    kept, sequences, flipped_elements, checked, matched = [], [], 0, 0, 0
    for element_id, members in oligos[has_design].groupby(ELEMENT_ID, sort=False):
        site, window = sites[element_id], windows[element_id]
        placement = _place_element(site, members, design, references[window])
        if isinstance(placement, str):
            excluded[placement] += len(members)
            continue
        oriented, offset, flipped, wild_type_length = placement
        flipped_elements += flipped
        for name in members[ROW_ID]:
            oligo = reverse_complement(design[name]) if flipped else design[name]
            try:
                sequences.append(embed_oligo(oriented, offset, wild_type_length, oligo, width))
            except ValueError as problem:
                raise InputDataError(f"design oligo {name!r}: {problem}; raise experiment.window") from None
        kept.append(members)
        checked += len(members)
        matched += len(members) * motif_matches_reference(site, window, references[window])
    rows = pd.concat(kept, ignore_index=True) if kept else oligos.iloc[:0].copy()
    rows[N_OLIGOS] = 1
    built = _with_inputs(rows, sequences, checked, matched)
    built.excluded = excluded
    built.motif_mismatches = motif_mismatch_records(rows, windows, references) if len(rows) else []
    built.notes = {"design_records": len(design),
                   "design_without_counts": len(set(design) - set(oligos[ROW_ID])),
                   "design_elements_reverse_complemented": flipped_elements}
    return built


def _place_element(
    site: MotifSite, members: pd.DataFrame, design: dict[str, str], reference: str
) -> tuple[str, int, bool, int] | str:
    """(oriented reference, wild-type offset, flipped, wild-type length), or the exclusion reason."""
    wild_types = members.loc[members[IS_WILD_TYPE], ROW_ID].tolist()
    if not wild_types:
        return "no_wild_type_design"
    oriented = reference if site.strand == "+" else reverse_complement(reference)
    wild_type = design[wild_types[0]]
    located = locate_wild_type(oriented, wild_type)
    if located is None:
        return "wild_type_not_in_reference"
    return oriented, located[0], located[1], len(wild_type)
