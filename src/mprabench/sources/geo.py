"""Fetching the dataset's count files from GEO (HTTPS) or from a local copy, verified by SHA-256."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

from mprabench.config import CountsFile, DatasetConfig
from mprabench.errors import DownloadError
from mprabench.files import atomic_path, scratch_path
from mprabench.sources.http import HttpClient
from mprabench.sources.locations import is_remote, local_path

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


def fetch_counts_files(dataset: DatasetConfig, out_dir: Path, progress: bool = True) -> list[Path]:
    """Fetch every configured counts file into `out_dir`, decompressed and checksum-verified."""
    out_dir.mkdir(parents=True, exist_ok=True)
    client = HttpClient(dataset.http, progress=progress) if is_remote(dataset.source) else None
    return [_fetch_one(spec, dataset, out_dir, client) for spec in dataset.files]


def _fetch_one(spec: CountsFile, dataset: DatasetConfig, out_dir: Path, client: HttpClient | None) -> Path:
    final = out_dir / spec.name
    with scratch_path(out_dir, f"{spec.name}.download") as fetched, atomic_path(final) as content:
        origin = _obtain(spec, dataset, fetched, client)
        actual = _decompress_if_gzip(fetched, content, origin, dataset.max_decompressed_bytes)
        _verify_sha256(actual, spec, origin)
    return final


def _obtain(spec: CountsFile, dataset: DatasetConfig, destination: Path, client: HttpClient | None) -> str:
    """Copy or download the file's bytes to `destination`; return where they came from."""
    if client is not None:
        url = f"{dataset.source.rstrip('/')}/{spec.name}{dataset.remote_suffix}"
        client.download(url, destination, label=spec.name)
        return url
    origin = find_local_counts_file(spec, dataset)
    shutil.copyfile(origin, destination)
    return str(origin)


def find_local_counts_file(spec: CountsFile, dataset: DatasetConfig) -> Path:
    """The plain or gzipped copy of one counts file in a local `dataset.source`."""
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


def _verify_sha256(actual: str, spec: CountsFile, origin: str) -> None:
    if actual != spec.sha256:
        raise DownloadError(
            f"{spec.name}: SHA-256 mismatch for the file from {origin}: expected {spec.sha256}, "
            f"got {actual}. The source holds a different file; nothing was written. If the "
            "source is right and GEO changed the file, update sha256 in conf/dataset/."
        )
