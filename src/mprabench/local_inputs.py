"""Fingerprints of the local files that params.yaml names, so DVC reruns the stages that read them.

params.yaml holds these files' paths, not their content: edited in place, DVC would call the
pipeline up to date. The always-run `local_inputs` stage writes one small JSON per input,
and each stage that reads an input depends on its JSON. DVC compares dependency hashes, so
a stage reruns only when a fingerprint it depends on changed.

- counts files and the design file: SHA-256 (they are small);
- the genome FASTA: size and modification time only. Hashing a 3 GB genome on every run
  would be slow; prepare reads the windows it needs, and its outputs (the model inputs)
  change only if those windows did, so nothing downstream of prepare reruns for an edit
  outside them;
- a local file the configured predictor reads (the setting its class names in
  `local_file_setting`, e.g. the precomputed predictions file): SHA-256; model weights (a
  class with `local_file_by_size_and_mtime`, e.g. a checkpoint file or folder): the size and
  modification time of each file, like the genome. The predict stage records the weights'
  SHA-256 once per size and mtime for the store key (predictors/local.py).

Remote sources (GEO, UCSC, a design URL) get an empty fingerprint: params pin their
content (URL, SHA-256, assembly) and checking them would cost requests. A missing design,
genome or predictions file is recorded as missing, so creating it reruns its reader, which
reports it; a missing counts file stops here with the message fetch would give.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mprabench.config import GenomeConfig
from mprabench.files import sha256_file
from mprabench.sources.geo import dataset_file_specs, find_local_counts_file
from mprabench.sources.locations import is_remote, local_path

Fingerprint = dict[str, Any]


def counts_fingerprint(dataset: Any) -> Fingerprint:
    """SHA-256 of each dataset file in a local `dataset.source` (the plain or gzipped copy fetch reads)."""
    if is_remote(dataset.source):
        return {}
    return {spec.name: sha256_file(find_local_counts_file(spec, dataset)) for spec in dataset_file_specs(dataset)}


def design_fingerprint(dataset: Any) -> Fingerprint:
    if not getattr(dataset, "design", None) or is_remote(dataset.design):
        return {}
    return _content_fingerprint(local_path(dataset.design))


def genome_fingerprint(genome: GenomeConfig) -> Fingerprint:
    if not genome.fasta:
        return {}
    path = local_path(genome.fasta)
    if not path.is_file():
        return {"missing": True}
    return _size_and_mtime(path)


def predictions_fingerprint(path: str | None, by_size_and_mtime: bool = False) -> Fingerprint:
    """The local file a predictor reads (None: it reads none): its SHA-256, or, for model
    weights, the size and mtime of the file or of each file in the folder."""
    if path is None:
        return {}
    return checkpoint_fingerprint(local_path(path)) if by_size_and_mtime else _content_fingerprint(local_path(path))


def checkpoint_fingerprint(path: Path) -> Fingerprint:
    """Size and modification time of a checkpoint file, or of each file in a checkpoint folder."""
    if not path.exists():
        return {"missing": True}
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {str(f.relative_to(path) if path.is_dir() else f.name): _size_and_mtime(f) for f in files}


def _size_and_mtime(path: Path) -> Fingerprint:
    status = path.stat()
    return {"size": status.st_size, "mtime_ns": status.st_mtime_ns}


def _content_fingerprint(path: Path) -> Fingerprint:
    return {"sha256": sha256_file(path)} if path.is_file() else {"missing": True}
