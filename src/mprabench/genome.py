"""Reference sequence for genomic windows: a local FASTA, a regions FASTA, or the UCSC API.

A *regions FASTA* holds only some windows, each record named `chrom:start-end`
(0-based, half-open). The UCSC source keeps every window it fetched in one (a
DVC-tracked file), so a rerun fetches nothing; a user may also point `genome.fasta`
at such a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pyfaidx
from tqdm.auto import tqdm

from mprabench.config import GenomeConfig
from mprabench.dna import invalid_bases
from mprabench.errors import InputDataError
from mprabench.fasta import read_fasta, write_fasta
from mprabench.sources.locations import local_path
from mprabench.sources.ucsc import UcscClient

_REGION_NAME = re.compile(r"^(?P<chrom>[^:\s]+):(?P<start>\d+)-(?P<end>\d+)$")


@dataclass(frozen=True)
class GenomicWindow:
    """A + strand window [start, end) needed by one element."""

    element_id: str
    chrom: str
    start: int
    end: int

    @property
    def region(self) -> str:
        return f"{self.chrom}:{self.start}-{self.end}"


class WindowError(InputDataError):
    def __init__(self, window: GenomicWindow, problem: str):
        super().__init__(f"element {window.element_id}: window {window.region}: {problem}")


def read_windows(
    windows: Iterable[GenomicWindow], config: GenomeConfig, cache: Path, progress: bool = True
) -> dict[GenomicWindow, str]:
    """Upper-case sequence of every window, validated (chromosome, bounds, bases, N fraction)."""
    windows = list(dict.fromkeys(windows))
    if config.fasta:
        sequences = _read_local(local_path(config.fasta), windows)
    else:
        sequences = _read_through_cache(windows, config, cache, progress)
    for window, sequence in sequences.items():
        _validate_bases(window, sequence, config.max_n_fraction)
    return sequences


def ensure_cache_file(cache: Path) -> None:
    """The UCSC cache is a pipeline output, so it must exist even when nothing was fetched."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.touch(exist_ok=True)


def _read_local(path: Path, windows: list[GenomicWindow]) -> dict[GenomicWindow, str]:
    if not path.is_file():
        raise InputDataError(f"genome.fasta = {path}: no such file. Set genome.fasta to a FASTA, or null for UCSC.")
    with _open_fasta(path) as fasta:
        names = list(fasta.keys())
        if names and all(_REGION_NAME.match(name) for name in names):
            regions = _RegionIndex(fasta)
            found = {w: regions.lookup(w) for w in windows}
            for window, sequence in found.items():
                if sequence is None:
                    raise WindowError(
                        window, f"not covered by any record of the regions FASTA {path}{_naming_hint(window, regions.by_chrom)}"
                    )
            return found  # type: ignore[return-value]
        return {w: _read_chromosome_window(fasta, w, path) for w in windows}


def _open_fasta(path: Path) -> pyfaidx.Fasta:
    """pyfaidx's FASTA, or an InputDataError naming the file and the fix (never a pyfaidx traceback)."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        raise InputDataError(
            f"genome.fasta = {path}: the file is gzip-compressed; the genome is read by random access, "
            f"which needs an uncompressed FASTA. Run `gunzip -k {path}` and point genome.fasta "
            "at the result."
        )
    try:
        return pyfaidx.Fasta(str(path), as_raw=True, sequence_always_upper=True)
    except pyfaidx.FastaIndexingError as error:
        raise InputDataError(
            f"genome.fasta = {path}: not a FASTA file ({error}). Point genome.fasta at a FASTA with "
            "UCSC chromosome names, or set it to null to fetch windows from UCSC."
        ) from None
    except OSError as error:  # the index (.fai) beside the FASTA cannot be written
        raise InputDataError(
            f"genome.fasta = {path}: cannot build its index {path}.fai ({error}). Make the folder writable, "
            f"build the index once with `samtools faidx {path}`, or copy the FASTA to a writable folder."
        ) from None


def _naming_hint(window: GenomicWindow, names_by_chrom: Mapping[str, object]) -> str:
    """Point at UCSC naming when the file names chromosomes differently (`5` for `chr5`)."""
    if window.chrom in names_by_chrom:
        return ""
    bare = window.chrom.removeprefix("chr")
    if bare in names_by_chrom or f"chr{window.chrom}" in names_by_chrom:
        return (
            f". The file names chromosomes {bare!r}-style, the oligo names use UCSC names ({window.chrom!r}): "
            f"rename the records to UCSC names, e.g. `{window.chrom}:start-end`"
        )
    return f" (no record on {window.chrom}; it has {_some(names_by_chrom)})"


def _read_chromosome_window(fasta: pyfaidx.Fasta, window: GenomicWindow, path: Path) -> str:
    if window.chrom not in fasta:
        hint = _naming_hint(window, {name: None for name in fasta.keys()})
        raise WindowError(window, f"chromosome {window.chrom} is not in {path}{hint}")
    _check_bounds(window, len(fasta[window.chrom]))
    return str(fasta[window.chrom][window.start : window.end])


def _read_through_cache(
    windows: list[GenomicWindow], config: GenomeConfig, cache: Path, progress: bool
) -> dict[GenomicWindow, str]:
    cached = read_fasta(cache)
    index = _RegionIndex(cached)
    found = {w: index.lookup(w) for w in windows}
    missing = [w for w, sequence in found.items() if sequence is None]
    if missing:
        client = UcscClient(config.ucsc_api, config.assembly, config.http)
        sizes = client.chromosome_sizes()
        for window in missing:
            if window.chrom not in sizes:
                raise WindowError(window, f"chromosome {window.chrom} is not in UCSC {config.assembly}")
            _check_bounds(window, sizes[window.chrom])
        for window in tqdm(missing, desc=f"UCSC {config.assembly} windows", disable=not progress):
            found[window] = client.sequence(window.chrom, window.start, window.end).upper()
        write_fasta(cache, {**cached, **{w.region: found[w] for w in missing}})
    return found  # type: ignore[return-value]


class _RegionIndex:
    """Windows looked up by containment in regions FASTA records."""

    def __init__(self, records: Mapping[str, object]):
        self.records = records
        self.by_chrom: dict[str, list[tuple[int, int, str]]] = {}
        for name in records.keys():
            match = _REGION_NAME.match(name)
            if match:
                span = (int(match["start"]), int(match["end"]), name)
                self.by_chrom.setdefault(match["chrom"], []).append(span)

    def lookup(self, window: GenomicWindow) -> str | None:
        for start, end, name in self.by_chrom.get(window.chrom, []):
            if start <= window.start and window.end <= end:
                return str(self.records[name][window.start - start : window.end - start])
        return None


def _check_bounds(window: GenomicWindow, chrom_length: int) -> None:
    if window.start < 0 or window.end > chrom_length:
        raise WindowError(
            window,
            f"runs past the end of {window.chrom} (length {chrom_length}); "
            "use a smaller experiment.window or exclude this element",
        )


def _validate_bases(window: GenomicWindow, sequence: str, max_n_fraction: float) -> None:
    if len(sequence) != window.end - window.start:
        raise WindowError(window, f"got {len(sequence)} bases for a {window.end - window.start}-bp window")
    bad = invalid_bases(sequence)
    if bad:
        raise WindowError(window, f"contains characters other than ACGTN: {sorted(bad)}")
    fraction = sequence.count("N") / len(sequence)
    if fraction > max_n_fraction:
        raise WindowError(
            window, f"is {fraction:.0%} N (genome.max_n_fraction = {max_n_fraction:.0%}): mostly unsequenced"
        )


def _some(names: Iterable[str], limit: int = 8) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return f"it has {shown}{', ...' if len(names) > limit else ''}"
