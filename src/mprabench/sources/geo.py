"""Fetching a dataset's files from a URL (GEO, a pinned repository commit, Zenodo) or a local copy,
verified by SHA-256 or MD5 (whichever the deposit publishes; both when both are given).

Any dataset section with `source`, `remote_suffix`, `files` and `http` is fetched here. With
`files: []` (a sequence table's `table` config) `source` names the one file itself, which has
no published checksum; local_inputs fingerprints it instead.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mprabench.errors import ConfigError, DownloadError
from mprabench.files import atomic_path, scratch_path, sha256_file
from mprabench.sources.http import HttpClient
from mprabench.sources.locations import is_remote, local_path

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileSpec:
    """One file to fetch: its name in the raw folder, where it is, and its published checksums."""

    name: str
    sha256: str | None = None
    md5: str | None = None
    location: str | None = None  # the file itself (a `files: []` source); None: source + name + suffix


def dataset_file_specs(dataset: Any) -> list[FileSpec]:
    """The files a dataset section lists, or the one file its `source` names when it lists none."""
    if dataset.files:
        return [FileSpec(f.name, f.sha256, getattr(f, "md5", None)) for f in dataset.files]
    name = Path(urlparse(dataset.source).path).name
    if is_remote(dataset.source):
        raise ConfigError(
            f"dataset.source = {dataset.source} is a URL with no published checksum: list it in dataset.files "
            "(`name` and `sha256` or `md5`) with source set to its folder, so its content is verified"
        )
    return [FileSpec(name, location=dataset.source)]


def fetch_counts_files(dataset: Any, out_dir: Path, progress: bool = True) -> list[Path]:
    """Fetch every file of the dataset into `out_dir`, decompressed and checksum-verified."""
    specs = dataset_file_specs(dataset)
    out_dir.mkdir(parents=True, exist_ok=True)
    client = HttpClient(dataset.http, progress=progress) if is_remote(dataset.source) else None
    return [_fetch_one(spec, dataset, out_dir, client) for spec in specs]


def _fetch_one(spec: FileSpec, dataset: Any, out_dir: Path, client: HttpClient | None) -> Path:
    final = out_dir / spec.name
    with scratch_path(out_dir, f"{spec.name}.download") as fetched, atomic_path(final) as content:
        origin = _obtain(spec, dataset, fetched, client)
        _decompress_if_gzip(fetched, content, origin, dataset.max_decompressed_bytes)
        _verify_checksums(content, spec, origin)
    return final


def _obtain(spec: FileSpec, dataset: Any, destination: Path, client: HttpClient | None) -> str:
    """Copy or download the file's bytes to `destination`; return where they came from."""
    if client is not None:
        url = f"{dataset.source.rstrip('/')}/{spec.name}{dataset.remote_suffix}"
        client.download(url, destination, label=spec.name)
        return url
    origin = find_local_counts_file(spec, dataset)
    shutil.copyfile(origin, destination)
    return str(origin)


def find_local_counts_file(spec: Any, dataset: Any) -> Path:
    """The plain or gzipped copy of one dataset file in a local `dataset.source`."""
    if getattr(spec, "location", None):
        path = local_path(spec.location)
        if not path.is_file():
            raise DownloadError(f"dataset.source = {spec.location}: no such file ({path}). Set dataset.source to "
                                "your table (a path relative to the repository root, or absolute).")
        return path
    directory = local_path(dataset.source)
    candidates = [directory / spec.name]
    if dataset.remote_suffix:
        candidates.append(directory / f"{spec.name}{dataset.remote_suffix}")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DownloadError(
        f"{spec.name}: not found in local source {directory} (looked for "
        f"{', '.join(c.name for c in candidates)}). Set dataset.source to the folder holding it."
    )


def _decompress_if_gzip(source: Path, destination: Path, origin: str, limit: int) -> str:
    """Decompress `source` (a scratch copy of `origin`) into `destination`, or copy it if not gzipped,
    stopping past `limit` bytes (dataset.max_decompressed_bytes: a gzip bomb never fills the disk);
    returns the SHA-256 of what was written, hashed while it streams."""
    with open(source, "rb") as handle:
        compressed = handle.read(2) == GZIP_MAGIC
    opener = gzip.open if compressed else open
    digest = hashlib.sha256()
    written = 0
    try:
        with opener(source, "rb") as reader, open(destination, "wb") as writer:
            while block := reader.read(_CHUNK):
                written += len(block)
                if written > limit:
                    raise DownloadError(
                        f"{origin}: expands to more than dataset.max_decompressed_bytes = {limit:,} bytes; stopped "
                        "there and wrote nothing. This is not the expected counts file (a gzip bomb?); check "
                        "dataset.source, or raise the limit if the file is right.")
                writer.write(block)
                digest.update(block)
    except (OSError, EOFError) as error:
        raise DownloadError(
            f"{origin}: cannot decompress ({error}): the gzip file is damaged or cut short. Nothing was "
            "written. Run the fetch stage again; if it fails again, replace the file at dataset.source."
        ) from None
    return digest.hexdigest()


def md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify_checksums(path: Path, spec: FileSpec, origin: str) -> None:
    """Every published checksum must match; a listed file with none is a configuration error."""
    if spec.location is None and not spec.sha256 and not spec.md5:
        raise ConfigError(f"{spec.name}: dataset.files lists neither sha256 nor md5; set the one its deposit "
                          "publishes (e.g. `-S dataset.files.0.sha256=...`)")
    for label, expected, compute in (("SHA-256", spec.sha256, sha256_file), ("MD5", spec.md5, md5_file)):
        if not expected:
            continue
        actual = compute(path)
        if actual != expected.lower():
            raise DownloadError(
                f"{spec.name}: {label} mismatch for the file from {origin}: expected {expected}, "
                f"got {actual}. The source holds a different file; nothing was written. If the "
                f"source is right and the deposit changed the file, update {label.replace('-', '').lower()} "
                "in conf/dataset/ (or override it: `-S dataset.files.<i>.sha256=...`)."
            )
