"""Running a model checkpoint on this machine: device, precision, batches, and the prediction store.

Every local checkpoint predictor (AlphaGenome in PyTorch, TorchScript sequence-to-activity
models) runs through `predict_in_batches`:

- inputs are grouped by the length the model will see, then cut into batches of
  `predictor.batch_size`; each batch runs under `torch.inference_mode()`;
- each finished batch goes to the prediction store at once, so Ctrl-C (or a kill) loses
  at most the batch in flight, and a rerun computes only the inputs not yet stored;
- an out-of-memory error on a batch halves the batch size, says so, and goes on with the
  same inputs; at a batch of one it stops with a message saying what to change.

The checkpoint's bytes are part of the store key (`checkpoint_sha256`), hashed once per
(path, size, modification time) and recorded under the store root, not on every run.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import MISSING
from tqdm.auto import tqdm

from mprabench.errors import BenchmarkError, ConfigError
from mprabench.files import sha256_file, write_json_atomic
from mprabench.predictors.base import PredictionFailure, PredictionInterrupted, PredictionReport
from mprabench.predictors.features import FeatureError
from mprabench.predictors.store import ProfileStore
from mprabench.settings import setting

if TYPE_CHECKING:
    import torch

# torch is imported inside the functions that run a model: the local_inputs stage resolves the configured
# predictor on every `dvc exp run` for its settings alone, and importing torch costs it about a second.

log = logging.getLogger(__name__)

DEVICE_AUTO = "auto"
DTYPE_AUTO = "auto"
DTYPES = ("float32", "bfloat16")  # predictor.dtype's values besides auto: torch dtypes of these names
CHECKPOINT_HASHES = "checkpoint_hashes"  # folder under the store root: one record per fingerprinted file
# What a CPU allocation failure says (a CUDA one raises torch.OutOfMemoryError).
_CPU_OOM_MESSAGES = ("can't allocate memory", "out of memory")

BatchResult = list["Profile | FeatureError"]


@dataclass
class LocalRunConfig:
    """How a checkpoint runs on this machine: the settings every local checkpoint predictor shares."""

    checkpoint: str = MISSING  # a path; relative = to the repository root
    device: str = MISSING  # auto (CUDA when present, else CPU), cpu, cuda, cuda:N
    dtype: str = MISSING  # auto (bfloat16 on a GPU, float32 on the CPU), float32, bfloat16
    batch_size: int = setting(ge=1)  # halved automatically on an out-of-memory error
    store: str | None = MISSING  # the prediction store, as predictor=alphagenome's


class OutOfMemory(BenchmarkError):
    """A single input does not fit the device's memory."""


def resolve_device(name: str) -> torch.device:
    """`auto`: the first CUDA GPU when one is visible, else the CPU; otherwise the named device."""
    import torch

    if name == DEVICE_AUTO:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"predictor.device = {name!r} is not a torch device; use auto, cpu or cuda[:N]") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"predictor.device = {name!r} but no CUDA GPU is visible to torch {torch.__version__} "
            f"(CUDA build: {torch.version.cuda or 'none'}). Use -S predictor.device=auto (CPU here) "
            "or run on a machine with a GPU and a CUDA build of torch."
        )
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """`auto`: bfloat16 on a GPU, float32 on the CPU (where bfloat16 is slower, not faster)."""
    import torch

    if name == DTYPE_AUTO:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in DTYPES:
        raise ConfigError(f"predictor.dtype = {name!r} is not one of {[DTYPE_AUTO, *DTYPES]}")
    return getattr(torch, name)


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def checkpoint_sha256(path: Path, store_root: Path) -> str:
    """SHA-256 of a checkpoint file, computed once per (path, size, mtime) and recorded under
    the store root: a multi-GB file is hashed when it changes, not on every run."""
    status = path.stat()
    identity = {"path": str(path.resolve()), "size": status.st_size, "mtime_ns": status.st_mtime_ns}
    name = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]
    record = store_root / CHECKPOINT_HASHES / f"{name}.json"
    if record.is_file():
        try:
            known = json.loads(record.read_text())
            if {k: known.get(k) for k in identity} == identity and isinstance(known.get("sha256"), str):
                return known["sha256"]
        except (OSError, ValueError):
            pass  # unreadable record: hash again and rewrite it
    log.info("hashing checkpoint %s (%.1f MB; once per size and modification time)", path, status.st_size / 1e6)
    digest = sha256_file(path)
    write_json_atomic(record, {**identity, "sha256": digest})
    return digest


def is_out_of_memory(error: BaseException) -> bool:
    """A CUDA out-of-memory error, or a CPU allocator failure (a RuntimeError saying so)."""
    import torch

    if isinstance(error, torch.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and any(text in str(error) for text in _CPU_OOM_MESSAGES)


@dataclass
class BatchStats:
    """What the batch loop did, for provenance and the log."""

    batch_size: int  # the size it ended with (smaller than configured after an out-of-memory halving)
    halvings: int = 0
    forward_calls: int = 0


def predict_in_batches(
    inputs: Mapping[str, str],
    store: ProfileStore,
    predict_batch: Callable[[list[str]], BatchResult],
    *,
    group_of: Callable[[str], int],
    batch_size: int,
    label: str,
    progress: bool,
    device: torch.device,
) -> tuple[PredictionReport, BatchStats]:
    """Predict every input not in `store`, batch by batch, storing each batch as it finishes.

    `group_of(sequence)` is the length the model sees: only inputs of one group share a batch.
    `predict_batch(sequences)` returns, per sequence, its profile or the FeatureError that
    makes that input fail (the others in the batch are stored)."""
    report = PredictionReport()
    stats = BatchStats(batch_size)
    groups: dict[int, list[str]] = {}
    for sha, sequence in inputs.items():
        groups.setdefault(group_of(sequence), []).append(sha)
    bar = tqdm(total=len(inputs), desc=label, unit="input", disable=not progress)
    try:
        for _, shas in sorted(groups.items()):
            position = 0
            while position < len(shas):
                batch = shas[position : position + stats.batch_size]
                fresh = [sha for sha in batch if not store.has(sha)]  # a concurrent run may have stored some
                report.stored_by_others += len(batch) - len(fresh)
                if fresh and not _run_batch(fresh, inputs, store, predict_batch, report, stats, device):
                    continue  # out of memory: the same inputs again, in a smaller batch
                position += len(batch)
                bar.update(len(batch))
    except KeyboardInterrupt:
        raise PredictionInterrupted(_stopped_message(inputs, store)) from None
    finally:
        bar.close()
    return report, stats


def _run_batch(fresh: Sequence[str], inputs: Mapping[str, str], store: ProfileStore,
               predict_batch: Callable[[list[str]], BatchResult], report: PredictionReport,
               stats: BatchStats, device: torch.device) -> bool:
    """Predict and store one batch; False when it ran out of memory (the batch size is halved)."""
    import torch

    stats.forward_calls += 1
    try:
        with torch.inference_mode():
            results = predict_batch([inputs[sha] for sha in fresh])
    except Exception as error:  # noqa: BLE001 - only out-of-memory errors are handled; the rest re-raise
        if not is_out_of_memory(error):
            raise
        failure = str(error).splitlines()[0][:200]
    else:
        failure = None
    if failure is not None:
        # outside the except block: the traceback (and the batch's tensors it holds) is released
        _release_memory(device)
        if len(fresh) == 1:
            raise OutOfMemory(
                f"out of memory on {device} for a single input of {len(inputs[fresh[0]])} bp ({failure}). "
                "Use a device with more memory, -S predictor.dtype=bfloat16 on a GPU, or shorter inputs. "
                "Every finished batch is stored; rerun to resume."
            )
        stats.batch_size = max(1, len(fresh) // 2)
        stats.halvings += 1
        log.warning("out of memory on %s with a batch of %d inputs: halving the batch to %d and going on",
                    device, len(fresh), stats.batch_size)
        return False
    if len(results) != len(fresh):
        raise BenchmarkError(f"the model returned {len(results)} answers for a batch of {len(fresh)} inputs")
    for sha, result in zip(fresh, results):
        if isinstance(result, FeatureError):
            report.failures.append(PredictionFailure(sha, f"FeatureError: {result}"))
        else:
            store.put(sha, result)
    report.requested += len(fresh)
    return True


def _release_memory(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()


def _stopped_message(inputs: Mapping[str, str], store: ProfileStore) -> str:
    stored = len(store.stored(list(inputs)))
    return (
        f"interrupted (Ctrl-C).\n  Stored: {stored} of the {len(inputs)} inputs this run had to predict "
        f"(kept in {store.directory}).\n  Left: {len(inputs) - stored}.\n  To resume, run the same command "
        "again (`dvc exp run ...` or `dvc repro`): stored inputs are never predicted again."
    )


def describe_hardware(device: torch.device) -> str:
    """One line naming the device, for logs and benchmarks."""
    import torch

    if device.type == "cuda":
        return f"CUDA GPU {torch.cuda.get_device_name(device)}"
    return f"CPU ({torch.get_num_threads()} threads; no GPU in use)"
