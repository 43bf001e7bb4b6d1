"""The prediction store: what the model returned, per input, kept outside DVC's outputs.

AlphaGenome requests cost quota and money, so the store keeps the model's answer itself
(the requested tracks over the input's own positions), not features: any feature can be
recomputed from it without a request. It lives outside every DVC output, so no DVC route
(`dvc exp run`, `--temp`, `--queue`, checkout) ever restores, rolls back or deletes it.

Layout under the store root (one root per repository by default, see `resolve_store_root`):

    <key>/key.json                      what the model's answer depends on (readable)
    <key>/current                       the catalogue id the service gave last (see below)
    <key>/<catalogue>/tracks.json       the tracks chosen from the service's catalogue
    <key>/<catalogue>/profiles/<sha[:2]>/<sha>.rec   one input's answer (a self-checking record)
    <key>/<catalogue>/claims/<sha[:2]>/<sha>         lock files: one run requests an input at a time
    <key>/damaged/                      records and files that failed their check, moved aside

An answer is tied to the tracks it was asked for: `<catalogue>` is the SHA-256 (first 16 hex)
of the chosen tracks' metadata, so a service whose catalogue changed gets a new folder, never
a mix. A record is `MPRABENCH-RECORD 2 <sha256 of the payload>\\n<payload>`; the payload is zstd
over a JSON header (the input's SHA-256, the catalogue id, the chosen tracks, each output's
declared shape and dtype) and the values. Reading checks the checksum, the header against the
request, and the declared shapes against the bytes; a record that fails is moved to `damaged/`
(never deleted) and its input is requested again.

Every file is written to a temporary name and renamed into place, so a kill at any instant
leaves a store that loads; a claim is an `flock`, released by the kernel when its holder dies.

API for predictors (small on purpose): `ProfileStore(root, key_fields, tracks)` then
`has` / `put` / `get` / `stored` / `claim`; `last_catalogue(root, key_fields)` finds the tracks
of the last run without asking the service.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zstandard

from mprabench.errors import BenchmarkError, ConfigError
from mprabench.files import atomic_path, write_json_atomic, write_text_atomic
from mprabench.sources.locations import main_worktree

log = logging.getLogger(__name__)

STORE_ENV = "MPRABENCH_PREDICTION_STORE"  # names the store folder; predictor.store wins over it
_KEY_LENGTH = 16
_FORMAT_VERSION = 2  # 2: self-checking records under a catalogue folder (1 had neither)
_RECORD_MAGIC = b"MPRABENCH-RECORD 2 "
_RECORD_SUFFIX = ".rec"
_ZSTD_LEVEL = 3
_CLAIM_POLL_S = 0.05
_FLOAT16_MAX = float(np.finfo(np.float16).max)
_DTYPES = frozenset({"float16", "float32"})
DAMAGED = "damaged"
Tracks = Mapping[str, list[dict[str, Any]]]  # output name -> the chosen tracks' metadata rows


class StoreError(BenchmarkError):
    """The store on disk is inconsistent (names the file)."""


class DamagedRecord(StoreError):
    """A stored file failed its check; it was moved aside to `moved_to`."""

    def __init__(self, path: Path, reason: str, moved_to: Path | None):
        self.path, self.reason, self.moved_to = path, reason, moved_to
        where = f"moved to {moved_to}" if moved_to is not None else "could not be moved aside"
        super().__init__(f"{path}: damaged ({reason}); {where}, the input is requested again")


class RecordError(ValueError):
    """Why a record's bytes fail their check."""


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def store_key(fields: Mapping[str, Any]) -> str:
    """A short stable key for what changes the model's answer (SHA-256 of canonical JSON)."""
    return hashlib.sha256(_canonical({**fields, "store_format": _FORMAT_VERSION})).hexdigest()[:_KEY_LENGTH]


def catalogue_id(tracks: Tracks) -> str:
    """The identity of a set of chosen tracks (SHA-256 of their canonical metadata)."""
    return hashlib.sha256(_canonical(dict(tracks))).hexdigest()[:_KEY_LENGTH]


# ----------------------------------------------------------------------- where it lives


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


def encode_profile(profile: Mapping[str, TrackProfile], input_sha256: str = "", tracks: Tracks | None = None) -> bytes:
    """One self-checking record: magic, SHA-256 of the payload, then the payload.

    The payload is zstd over a JSON header and the values (float16 where every value fits,
    float32 otherwise). The header names the input and the chosen tracks, and declares each
    output's shape, so a record read back under another name or with other tracks is refused.
    """
    tracks = dict(tracks or {})
    outputs, blobs = [], []
    for output, track in profile.items():
        values = np.ascontiguousarray(track.values, dtype=np.float32)
        fits = values.size == 0 or float(np.abs(values).max()) <= _FLOAT16_MAX
        stored = values.astype(np.float16) if fits else values  # larger values would overflow float16
        outputs.append({"output": output, "shape": list(stored.shape), "dtype": stored.dtype.name,
                        "resolution": track.resolution, "lead": track.lead, "length": track.length})
        blobs.append(stored.tobytes())
    header = {"input_sha256": input_sha256, "catalogue": catalogue_id(tracks), "tracks": tracks, "outputs": outputs}
    raw = _canonical(header) + b"\n" + b"".join(blobs)
    compressor = getattr(_COMPRESSORS, "value", None)
    if compressor is None:
        compressor = _COMPRESSORS.value = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
    payload = compressor.compress(raw)
    return _RECORD_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def decode_record(data: bytes, decompressor: zstandard.ZstdDecompressor | None = None) -> tuple[dict[str, Any], Profile]:
    """(header, profile) of a record; `RecordError` saying why if any check fails."""
    if not data.startswith(_RECORD_MAGIC):
        raise RecordError("not a version-2 store record (wrong leading bytes)")
    digest_end = len(_RECORD_MAGIC) + 64
    if len(data) <= digest_end or data[digest_end:digest_end + 1] != b"\n":
        raise RecordError("record shorter than its checksum line")
    declared = data[len(_RECORD_MAGIC):digest_end].decode("ascii", errors="replace")
    payload = data[digest_end + 1:]
    if hashlib.sha256(payload).hexdigest() != declared:
        raise RecordError("checksum mismatch: the payload changed after it was written")
    try:
        # The checksum already matched: these checks catch a writer's bug, not damage on disk.
        raw = (decompressor or zstandard.ZstdDecompressor()).decompress(payload)
        newline = raw.index(b"\n")
        header = json.loads(raw[:newline])
        profile = _profile_from(header, raw, newline + 1)
    except (zstandard.ZstdError, ValueError, KeyError, TypeError) as error:
        raise RecordError(f"payload does not decode ({type(error).__name__}: {error})") from None
    return header, profile


def _profile_from(header: Mapping[str, Any], raw: bytes, position: int) -> Profile:
    profile: Profile = {}
    for item in header["outputs"]:
        if item["dtype"] not in _DTYPES:
            raise ValueError(f"{item['output']}: dtype {item['dtype']!r}")
        dtype = np.dtype(item["dtype"])
        shape = [int(n) for n in item["shape"]]
        if len(shape) != 2 or min(shape) < 0:
            raise ValueError(f"{item['output']}: declared shape {shape} is not (bins, tracks)")
        size = math.prod(shape) * dtype.itemsize
        if position + size > len(raw):
            raise ValueError(f"{item['output']}: declared shape {shape} needs more bytes than the record holds")
        values = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=position).reshape(shape)
        position += size
        # float16 arithmetic is emulated and slow: widen once here (exact), reduce in float32/64.
        values = values.astype(np.float32)
        if not np.isfinite(values).all():
            raise ValueError(f"{item['output']}: non-finite values")
        chosen = header.get("tracks", {}).get(item["output"])
        if chosen is not None and len(chosen) != shape[1]:
            raise ValueError(f"{item['output']}: {shape[1]} tracks stored for {len(chosen)} chosen")
        profile[item["output"]] = TrackProfile(values, int(item["resolution"]), int(item["lead"]), int(item["length"]))
    if position != len(raw):
        raise ValueError(f"{len(raw) - position} bytes beyond the declared shapes")
    return profile


def decode_profile(data: bytes, decompressor: zstandard.ZstdDecompressor | None = None) -> Profile:
    return decode_record(data, decompressor)[1]


# -------------------------------------------------------------------------------- store


class ProfileStore:
    """The stored model answers of one store key and one set of chosen tracks.

    `damaged` lists the files this object found damaged and moved aside (for the metrics)."""

    def __init__(self, root: Path, key_fields: Mapping[str, Any], tracks: Tracks | None = None):
        self.root = root
        self.key_fields = dict(key_fields)
        self.key = store_key(key_fields)
        self.tracks_chosen: dict[str, list[dict[str, Any]]] = dict(tracks or {})
        self.catalogue = catalogue_id(self.tracks_chosen)
        self.base = root / self.key
        self.directory = self.base / self.catalogue
        self.damaged: list[DamagedRecord] = []
        self._decompressor = threading.local()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            description = self.base / "key.json"
            if not description.exists():
                write_json_atomic(description, {**self.key_fields, "store_format": _FORMAT_VERSION})
            if _read_catalogue(self.directory / "tracks.json", self.catalogue, self) is None:
                write_json_atomic(self.directory / "tracks.json",
                                  {"catalogue": self.catalogue, "tracks": self.tracks_chosen})
            if _read_current(self.base) != self.catalogue:
                write_text_atomic(self.base / "current", self.catalogue + "\n")
        except OSError as error:
            raise ConfigError(
                f"prediction store {root}: cannot write in {self.directory} ({error.strerror}). Point "
                f"predictor.store or ${STORE_ENV} at a writable folder with free space."
            ) from None

    @property
    def full_key(self) -> str:
        """The store key with the chosen tracks' identity: `<key>/<catalogue>`."""
        return f"{self.key}/{self.catalogue}"

    def profile_path(self, input_sha256: str) -> Path:
        return self.directory / "profiles" / input_sha256[:2] / f"{input_sha256}{_RECORD_SUFFIX}"

    def has(self, input_sha256: str) -> bool:
        return self.profile_path(input_sha256).is_file()

    def stored(self, shas: Iterable[str]) -> set[str]:
        return {sha for sha in shas if self.has(sha)}

    def put(self, input_sha256: str, profile: Mapping[str, TrackProfile]) -> None:
        """Store one input's profiles atomically (a reader sees all of it or nothing)."""
        for output, track in profile.items():
            chosen = self.tracks_chosen.get(output)
            if chosen is not None and track.values.shape[1:] != (len(chosen),):
                raise StoreError(f"{output}: answer has shape {track.values.shape}, the chosen tracks are "
                                 f"{len(chosen)}; not stored")
        path = self.profile_path(input_sha256)
        try:
            with atomic_path(path) as temporary:
                temporary.write_bytes(encode_profile(profile, input_sha256, self.tracks_chosen))
        except OSError as error:  # disk full, quota, permissions: the store, not "a file", is the problem
            raise StoreError(
                f"prediction store {self.root}: cannot write the answer for input {input_sha256} in {path.parent} "
                f"({error.strerror or error}). Free space there (or point predictor.store / ${STORE_ENV} at a "
                "folder with room) and rerun: every answer stored so far is kept and not requested again."
            ) from None

    def get(self, input_sha256: str) -> Profile:
        """The verified profile; a record failing its check is moved aside (`DamagedRecord`)."""
        path = self.profile_path(input_sha256)
        decompressor = getattr(self._decompressor, "value", None)
        if decompressor is None:
            decompressor = self._decompressor.value = zstandard.ZstdDecompressor()
        try:
            header, profile = decode_record(path.read_bytes(), decompressor)
            if header.get("input_sha256") != input_sha256:
                raise RecordError(f"holds the answer for input {header.get('input_sha256')!r}")
            if header.get("catalogue") != self.catalogue or header.get("tracks") != self.tracks_chosen:
                raise RecordError(f"asked with tracks {header.get('catalogue')!r}, not this folder's {self.catalogue}")
        except RecordError as error:
            raise self._move_aside(path, str(error)) from None
        return profile

    def _move_aside(self, path: Path, reason: str) -> DamagedRecord:
        damaged = DamagedRecord(path, reason, move_aside(self.base, path))
        self.damaged.append(damaged)
        log.warning("prediction store: %s", damaged)
        return damaged

    def tracks(self) -> dict[str, list[dict[str, Any]]]:
        """The chosen tracks every answer in this store was asked for."""
        return self.tracks_chosen

    def put_tracks(self, tracks: Tracks) -> None:
        """Check that `tracks` are this store's chosen ones (they are fixed when the store is opened:
        answers under one catalogue never mix with another's)."""
        if catalogue_id(tracks) != self.catalogue:
            raise StoreError(f"prediction store {self.directory}: the tracks given (catalogue {catalogue_id(tracks)}) "
                             f"are not the ones this store was opened with ({self.catalogue})")

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


def move_aside(base: Path, path: Path) -> Path | None:
    """Move a damaged file into `<base>/damaged/`, keeping its relative path; never deletes it.

    Returns where it went (None if it vanished meanwhile: another run moved it first)."""
    relative = path.relative_to(base) if path.is_relative_to(base) else Path(path.name)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = base / DAMAGED / relative.parent / f"{relative.name}.{stamp}.{os.getpid()}"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return None
    return target


def _read_current(base: Path) -> str | None:
    try:
        text = (base / "current").read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if len(text) == _KEY_LENGTH and all(c in "0123456789abcdef" for c in text) else None


def _read_catalogue(path: Path, expected: str, owner: ProfileStore | None = None,
                    damaged_found: list[DamagedRecord] | None = None) -> dict[str, Any] | None:
    """The tracks of a catalogue folder if its tracks.json is intact; a damaged one is moved aside."""
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text())
        tracks = document["tracks"]
        if not isinstance(tracks, dict) or document.get("catalogue") != expected or catalogue_id(tracks) != expected:
            raise RecordError(f"its tracks do not hash to the catalogue id {expected}")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecordError) as error:
        reason = error if isinstance(error, RecordError) else f"unreadable: {type(error).__name__}"
        damaged = DamagedRecord(path, str(reason), move_aside(path.parent.parent, path))
        log.warning("prediction store: %s", damaged)
        if owner is not None:
            owner.damaged.append(damaged)
        if damaged_found is not None:
            damaged_found.append(damaged)
        return None
    return tracks


def last_catalogue(root: Path, key_fields: Mapping[str, Any],
                   damaged_found: list[DamagedRecord] | None = None) -> dict[str, list[dict[str, Any]]] | None:
    """The tracks chosen by the last run of this key, found without asking the service.

    From `current` and its tracks.json; if that is missing or damaged, from the only catalogue
    folder (its tracks.json, else the tracks a verified record of it carries). None when
    nothing is stored or several catalogues leave the choice to the service."""
    base = root / store_key(key_fields)
    current = _read_current(base)
    candidates = [current] if current is not None and (base / current).is_dir() else sorted(
        p.name for p in base.glob("*") if p.is_dir() and p.name != DAMAGED and len(p.name) == _KEY_LENGTH)
    if len(candidates) != 1:
        return None
    chosen = candidates[0]
    tracks = _read_catalogue(base / chosen / "tracks.json", chosen, damaged_found=damaged_found)
    if tracks is not None:
        return tracks
    for record in sorted((base / chosen / "profiles").glob(f"*/*{_RECORD_SUFFIX}"))[:8]:
        try:
            header, _ = decode_record(record.read_bytes())
        except (RecordError, OSError):
            continue
        if header.get("catalogue") == chosen and catalogue_id(header.get("tracks") or {}) == chosen:
            log.warning("prediction store: %s/tracks.json restored from record %s", base / chosen, record.name)
            return header["tracks"]
    return None


def _try_lock(handle: int) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
