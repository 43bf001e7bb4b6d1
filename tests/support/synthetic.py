"""Synthetic genomes and MPRA libraries for tests and benchmarks (never for results).

`SyntheticGenome` answers any window of any configured chromosome deterministically
(seeded random bases, planted motif sites, optional N runs) without materialising
whole chromosomes, so it can stand in for mm9 at real GSE84888 coordinates.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mprabench.dna import reverse_complement
from mprabench.fasta import write_fasta
from mprabench.files import sha256_file

_BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
_BLOCK = 4096


@dataclass(frozen=True)
class PlantedSite:
    """Bases written on the + strand at [start, start + len(plus_strand))."""

    chrom: str
    start: int
    plus_strand: str


@dataclass
class SyntheticGenome:
    chrom_sizes: dict[str, int]
    sites: list[PlantedSite] = field(default_factory=list)
    n_runs: list[tuple[str, int, int]] = field(default_factory=list)
    seed: int = 0

    def sequence(self, chrom: str, start: int, end: int) -> str:
        """+ strand bases of [start, end); KeyError/ValueError outside the chromosome."""
        size = self.chrom_sizes[chrom]
        if not 0 <= start <= end <= size:
            raise ValueError(f"{chrom}:{start}-{end} outside [0, {size})")
        bases = self._random_bases(chrom, start, end)
        for site in self.sites:
            self._overlay(bases, start, end, site.chrom == chrom, site.start, site.plus_strand.encode())
        for run_chrom, run_start, run_end in self.n_runs:
            if run_chrom == chrom:
                self._overlay(bases, start, end, True, run_start, b"N" * (run_end - run_start))
        return bases.tobytes().decode("ascii")

    def write_regions_fasta(self, path: Path, regions: Iterable[tuple[str, int, int]]) -> None:
        """A regions FASTA (records `chrom:start-end`) covering the given windows."""
        write_fasta(path, {f"{c}:{s}-{e}": self.sequence(c, s, e) for c, s, e in regions})

    def write_chromosome_fasta(self, path: Path) -> None:
        """Whole chromosomes, for small test genomes only."""
        write_fasta(path, {c: self.sequence(c, 0, n) for c, n in self.chrom_sizes.items()})

    def _random_bases(self, chrom: str, start: int, end: int) -> np.ndarray:
        first, last = start // _BLOCK, max(start, end - 1) // _BLOCK
        blocks = [self._block(chrom, b) for b in range(first, last + 1)]
        joined = np.concatenate(blocks) if blocks else np.empty(0, np.uint8)
        offset = start - first * _BLOCK
        return joined[offset : offset + (end - start)].copy()

    def _block(self, chrom: str, index: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, zlib.crc32(chrom.encode()), index])
        return _BASES[rng.integers(0, 4, _BLOCK)]

    @staticmethod
    def _overlay(bases: np.ndarray, start: int, end: int, same_chrom: bool, at: int, insert: bytes) -> None:
        if not same_chrom:
            return
        lo, hi = max(start, at), min(end, at + len(insert))
        if lo < hi:
            bases[lo - start : hi - start] = np.frombuffer(insert[lo - at : hi - at], dtype=np.uint8)


@dataclass(frozen=True)
class SyntheticElement:
    """A base element: its site in the genome and how its oligos are named."""

    prefix: str
    chrom: str
    start: int
    strand: str
    motif: str  # as it reads on `strand`

    @property
    def end(self) -> int:
        return self.start + len(self.motif)

    @property
    def name_stem(self) -> str:
        return f"{self.prefix}_{self.chrom}_{self.start}_{self.end}_{self.strand}_{self.motif}"

    def planted_site(self) -> PlantedSite:
        plus = self.motif if self.strand == "+" else reverse_complement(self.motif)
        return PlantedSite(self.chrom, self.start, plus)


def random_motif(rng: np.random.Generator, length: int = 16) -> str:
    return _BASES[rng.integers(0, 4, length)].tobytes().decode("ascii")


def site_replacement_names(element: SyntheticElement, designs: Sequence[str]) -> list[str]:
    """Pool6-style names: the element's `wt` oligo plus one per design string."""
    return [f"{element.name_stem}_wt"] + [f"{element.name_stem}_{d}" for d in designs]


def pair_spacing_names(element: SyntheticElement, pairs: Sequence[tuple[str, str]]) -> list[str]:
    """Pool7-style names: the undesigned oligo plus every pair × spacing {2,4,6} × replicate {1,2,3}."""
    names = [element.name_stem]
    for first, second in pairs:
        names += [f"{element.name_stem}_{first}_{second}_{s}_{r}" for s in (2, 4, 6) for r in (1, 2, 3)]
    return names


def write_counts_file(path: Path, names: Sequence[str], rng: np.random.Generator) -> None:
    """A GSE84888-shaped counts file (tab-separated, header, no trailing newline) with random counts."""
    tags = rng.integers(5, 500, len(names))
    plasmid = rng.integers(0, 20_000, len(names))
    rna = rng.integers(0, 40_000, len(names))
    lines = ["name\ttags\tcounts.rna\tcounts.plasmid"]
    lines += [f"{n}\t{t}\t{r}\t{p}" for n, t, r, p in zip(names, tags, rna, plasmid, strict=True)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="ascii")


def wild_type_oligo(genome: SyntheticGenome, element: SyntheticElement, length: int, motif_offset: int) -> str:
    """The element's unperturbed oligo, read in the element's orientation, motif at `motif_offset`."""
    if element.strand == "+":
        start = element.start - motif_offset
        return genome.sequence(element.chrom, start, start + length)
    end = element.end + motif_offset
    return reverse_complement(genome.sequence(element.chrom, end - length, end))


def replace_span(oligo: str, start: int, replacement: str) -> str:
    """A designed oligo: `replacement` written over the oligo from `start` (same length)."""
    return oligo[:start] + replacement + oligo[start + len(replacement) :]


# Oligos per base element in GSE84888 (Pool6: 15 elements, Pool7: 3), for libraries of the same shape.
GSE84888_POOL6_SIZES = (313, 118, 235, 40, 196, 196, 664, 547, 313, 157, 196, 196, 196, 118, 235)
GSE84888_POOL7_SIZES = (1081, 1081, 1081)
_LABELS = ("ap1", "ap2", "cebp", "rxr", "nf1", "fos", "jun", "myc", "lxr", "ppar", "hnf4", "err1")


@dataclass
class ShapedLibrary:
    """A synthetic library shaped like GSE84888, `scale` times over, on a synthetic genome."""

    genome: SyntheticGenome
    elements: list[SyntheticElement]
    files: list[dict]


def gse84888_shaped_library(directory: Path, scale: int = 1, seed: int = 0, spacing: int = 40_000) -> ShapedLibrary:
    """Counts files with GSE84888's pools and oligos per element, `scale` copies of each element."""
    rng = np.random.default_rng(seed)
    sizes = [("Pool6", n) for n in GSE84888_POOL6_SIZES] + [("Pool7", n) for n in GSE84888_POOL7_SIZES]
    elements, names = [], {"Pool6": [], "Pool7": []}
    for index, (pool, size) in enumerate(sizes * scale):
        chrom, position = f"chr{index % 19 + 1}", spacing * (index // 19 + 1)
        prefix = f"PPREwt_{index}" if pool == "Pool6" else f"MAC{index}"
        element = SyntheticElement(prefix, chrom, position, "+-"[index % 2], random_motif(rng))
        elements.append(element)
        names[pool] += _pool6_names(element, size) if pool == "Pool6" else _pool7_names(element, size)
    sizes_by_chrom = {f"chr{i + 1}": spacing * (len(elements) // 19 + 3) for i in range(19)}
    genome = SyntheticGenome(sizes_by_chrom, [e.planted_site() for e in elements], seed=seed)
    files = []
    for pool, grammar in (("Pool6", "site_replacement"), ("Pool7", "pair_spacing")):
        path = directory / f"SHAPED_{pool}_MPRA.txt"
        write_counts_file(path, names[pool], rng)
        files.append({"name": path.name, "pool": pool, "design_grammar": grammar, "sha256": sha256_file(path)})
    return ShapedLibrary(genome, elements, files)


def _pool6_names(element: SyntheticElement, size: int) -> list[str]:
    designs = [f"{_LABELS[i % 12]}_{i // 12 + 1}_{i // 12 + 9}_{_LABELS[(i * 5 + 1) % 12]}" for i in range(size - 1)]
    return site_replacement_names(element, designs)


def _pool7_names(element: SyntheticElement, size: int) -> list[str]:
    pairs = [(_LABELS[i % 12], f"{_LABELS[i // 12 % 12]}{i // 144}") for i in range((size - 1) // 9)]
    return pair_spacing_names(element, pairs)
