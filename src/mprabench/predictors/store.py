"""The prediction store: what the model returned, per input, kept outside DVC's outputs.

AlphaGenome requests cost quota and money, so the store keeps the model's answer itself
(the requested tracks over the input's own positions), not features: any feature can be
recomputed from it without a request. It lives outside every DVC output, so no DVC route
(`dvc exp run`, `--temp`, `--queue`, checkout) ever restores, rolls back or deletes it.

Layout under the store root (one root per repository by default, see `resolve_store_root`):

    <key>/key.json                      what the model's answer depends on (readable)
    <key>/tracks.json                   the track metadata the service sent for this key
    <key>/profiles/<sha[:2]>/<sha>.zst  one input's profiles: float16 values, zstd-compressed
    <key>/claims/<sha[:2]>/<sha>        lock files: one run requests an input at a time

Every file is written to a temporary name and renamed into place, so a kill at any instant
leaves a store that loads; a claim is an `flock`, released by the kernel when its holder dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zstandard

from mprabench.errors import BenchmarkError, ConfigError
from mprabench.files import atomic_path, write_json_atomic

STORE_ENV = "MPRABENCH_PREDICTION_STORE"  # names the store folder; predictor.store wins over it
_KEY_LENGTH = 16
_FORMAT_VERSION = 1
_ZSTD_LEVEL = 3
_CLAIM_POLL_S = 0.05
_FLOAT16_MAX = float(np.finfo(np.float16).max)


class StoreError(BenchmarkError):
    """The store on disk is inconsistent (names the file)."""


def store_key(fields: Mapping[str, Any]) -> str:
    """A short stable key for what changes the model's answer (SHA-256 of canonical JSON)."""
    canonical = json.dumps({**fields, "store_format": _FORMAT_VERSION}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:_KEY_LENGTH]


# ----------------------------------------------------------------------- where it lives


def main_worktree(start: Path) -> Path:
    """The main git worktree of the repository holding `start` (a linked worktree's main one)."""
    result = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
        cwd=start, capture_output=True, text=True,
    )
    if result.returncode != 0:
        return start.resolve()  # not a git checkout: the folder itself
    common = Path(result.stdout.strip())
    return common.parent if common.name == ".git" else common  # a bare repository has no worktree


def resolve_store_root(configured: str | None, default: Path, environ: Mapping[str, str] | None = None) -> Path:
    """`predictor.store`, else $MPRABENCH_PREDICTION_STORE, else `default` under the main worktree.

    The repository is DVC_ROOT when DVC runs the stage: DVC points it at the user's repository
    also for `--temp` and `--queue` runs, which execute in copies under .dvc/tmp/exps. So every
    route of one repository, and every worktree of it, shares one store.
    """
    environ = os.environ if environ is None else environ
    repository = Path(environ.get("DVC_ROOT") or Path.cwd())
    chosen = configured or environ.get(STORE_ENV) or None
    if chosen is not None:
        path = Path(chosen).expanduser()
        return path if path.is_absolute() else (main_worktree(repository) / path)
    return default if default.is_absolute() else main_worktree(repository) / default


# ----------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class TrackProfile:
    """One output's tracks over the input's own positions.

    `values` has one row per bin of `resolution` bp covering the input; the input starts
    `lead` bp into the first bin (0 at 1-bp resolution).
    """

    values: np.ndarray  # (bins, tracks)
    resolution: int
    lead: int
    length: int


Profile = dict[str, TrackProfile]  # output name -> tracks


_COMPRESSORS = threading.local()  # a ZstdCompressor is costly to make and not thread-safe


def encode_profile(profile: Mapping[str, TrackProfile]) -> bytes:
    """float16 where every value fits (float32 otherwise), a JSON header, zstd over the whole."""
    header, blobs = [], []
    for output, track in profile.items():
        values = np.ascontiguousarray(track.values, dtype=np.float32)
        fits = values.size == 0 or float(np.abs(values).max()) <= _FLOAT16_MAX
        stored = values.astype(np.float16) if fits else values  # larger values would overflow float16
        header.append({"output": output, "shape": list(stored.shape), "dtype": stored.dtype.name,
                       "resolution": track.resolution, "lead": track.lead, "length": track.length})
        blobs.append(stored.tobytes())
    raw = json.dumps(header, separators=(",", ":")).encode() + b"\n" + b"".join(blobs)
    compressor = getattr(_COMPRESSORS, "value", None)
    if compressor is None:
        compressor = _COMPRESSORS.value = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
    return compressor.compress(raw)


def decode_profile(data: bytes, decompressor: zstandard.ZstdDecompressor | None = None) -> Profile:
    raw = (decompressor or zstandard.ZstdDecompressor()).decompress(data)
    newline = raw.index(b"\n")
    header = json.loads(raw[:newline])
    profile: Profile = {}
    position = newline + 1
    for item in header:
        dtype = np.dtype(item["dtype"])
        count = math.prod(item["shape"])
        values = np.frombuffer(raw, dtype=dtype, count=count, offset=position).reshape(item["shape"])
        position += count * dtype.itemsize
        # float16 arithmetic is emulated and slow: widen once here (exact), reduce in float32/64.
        values = values.astype(np.float32)
        profile[item["output"]] = TrackProfile(values, item["resolution"], item["lead"], item["length"])
    return profile


# -------------------------------------------------------------------------------- store


class ProfileStore:
    """The stored model answers of one store key."""

    def __init__(self, root: Path, key_fields: Mapping[str, Any]):
        self.root = root
        self.key_fields = dict(key_fields)
        self.key = store_key(key_fields)
        self.directory = root / self.key
        self._decompressor = threading.local()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            description = self.directory / "key.json"
            if not description.exists():
                write_json_atomic(description, {**self.key_fields, "store_format": _FORMAT_VERSION})
        except OSError as error:
            raise ConfigError(
                f"prediction store {root}: cannot create {self.directory} ({error.strerror}). Point "
                f"predictor.store or ${STORE_ENV} at a writable folder."
            ) from None

    def profile_path(self, input_sha256: str) -> Path:
        return self.directory / "profiles" / input_sha256[:2] / f"{input_sha256}.zst"

    def has(self, input_sha256: str) -> bool:
        return self.profile_path(input_sha256).is_file()

    def stored(self, shas: Iterable[str]) -> set[str]:
        return {sha for sha in shas if self.has(sha)}

    def put(self, input_sha256: str, profile: Mapping[str, TrackProfile]) -> None:
        """Store one input's profiles atomically (a reader sees all of it or nothing)."""
        path = self.profile_path(input_sha256)
        with atomic_path(path) as temporary:
            temporary.write_bytes(encode_profile(profile))

    def get(self, input_sha256: str) -> Profile:
        path = self.profile_path(input_sha256)
        decompressor = getattr(self._decompressor, "value", None)
        if decompressor is None:
            decompressor = self._decompressor.value = zstandard.ZstdDecompressor()
        try:
            return decode_profile(path.read_bytes(), decompressor)
        except (zstandard.ZstdError, ValueError, KeyError) as error:
            raise StoreError(f"{path}: unreadable stored profile ({error}); delete the file to request it again") from None

    def put_tracks(self, tracks: Mapping[str, list[dict[str, Any]]]) -> None:
        write_json_atomic(self.directory / "tracks.json", tracks)

    def tracks(self) -> dict[str, list[dict[str, Any]]] | None:
        path = self.directory / "tracks.json"
        return json.loads(path.read_text()) if path.is_file() else None

    @contextlib.contextmanager
    def claim(self, input_sha256: str, wait: bool, stop: Callable[[], bool] = lambda: False) -> Iterator[bool]:
        """Hold the input's lock; yields False if another run holds it (and `wait` is false or
        `stop()` became true while waiting). The kernel releases it if this process dies."""
        path = self.directory / "claims" / input_sha256[:2] / input_sha256
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
        try:
            held = _try_lock(handle)
            while not held and wait and not stop():
                time.sleep(_CLAIM_POLL_S)
                held = _try_lock(handle)
            yield held
        finally:
            os.close(handle)  # closing releases the lock


def _try_lock(handle: int) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
