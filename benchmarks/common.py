"""Shared by the benchmark scripts: measuring a command, a GSE84888-shaped workspace, printing."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.params import compose_config, write_params
from tests.support.synthetic import ShapedLibrary, gse84888_shaped_library

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


@dataclass(frozen=True)
class Measurement:
    wall_s: float
    peak_rss_mb: float
    output: str
    cpu_s: float  # user + system time of the child


def measure(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
            address_space_bytes: int | None = None) -> Measurement:
    """Wall time, CPU time and peak resident memory of one child process (its own rusage, via wait4).

    `address_space_bytes`: the child's RLIMIT_AS, so a stage that would take more memory fails with a
    MemoryError instead of pushing a small shared machine into swap or the OOM killer.
    """
    started = time.perf_counter()
    limit = None if address_space_bytes is None else (
        lambda: resource.setrlimit(resource.RLIMIT_AS, (address_space_bytes, address_space_bytes)))
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=limit)
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{output}")
    return Measurement(wall, usage.ru_maxrss / 1024, output, usage.ru_utime + usage.ru_stime)


def stage(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"mprabench.stages.{name}", *args]


@dataclass
class Workspace:
    directory: Path
    library: ShapedLibrary
    params: Path

    def path(self, name: str) -> str:
        return str(self.directory / name)


def shaped_workspace(directory: Path, scale: int, overrides: list[str] | None = None, flank: int = 8_192) -> Workspace:
    """A GSE84888-shaped library (`scale` x), a regions FASTA around every element, and params.yaml."""
    directory.mkdir(parents=True, exist_ok=True)
    library = gse84888_shaped_library(directory / "raw", scale)
    regions = [(e.chrom, e.start + 8 - flank, e.start + 8 + flank) for e in library.elements]
    library.genome.write_regions_fasta(directory / "regions.fa", regions)
    dataset = {**_section("dataset"), "source": str(directory / "raw"), "files": library.files}
    genome = {**_section("genome"), "fasta": str(directory / "regions.fa")}
    params = write_params(directory / "params.yaml", CONF, overrides, dataset=dataset, genome=genome)
    return Workspace(directory, library, params)


def prepare_command(workspace: Workspace) -> list[str]:
    w = workspace
    return stage("prepare", "--params", str(w.params), "--raw", w.path("raw"), "--genome-cache", w.path("cache.fa"),
                 "--rows", w.path("rows.parquet"), "--inputs", w.path("inputs.fa"), "--qc", w.path("qc.json"),
                 "--qc-details", w.path("qc_details.json"))


def report(title: str, header: list[str], rows: list[list[object]]) -> None:
    print(f"\n{title}")
    widths = [max(len(str(x)) for x in [h, *(r[i] for r in rows)]) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))


def _section(name: str) -> dict:
    return compose_config(CONF)[name]
