"""Local AlphaGenome checkpoints: inputs per second, memory, and time outside the model's forward pass.

CPU (always): the tiny model of alphagenome-pt's `small_alphagenome` (random weights, the
real architecture at 64 channels and 3 transformer layers), saved as a checkpoint and run
through the real predictor (`predictor=alphagenome_local`) at 2,048 and 16,384 bp. Prints
inputs/s, the share of wall time outside the model's forward pass (target <= 5 %), and the
peak RSS of the process that ran it. One warm-up batch is run before timing.

`--device cuda`: the full-size published architecture (random weights; no weights can be
downloaded here) at 16,384 and 131,072 bp, with inputs/s, peak GPU memory and the batch
size the run ended with (a batch that does not fit is halved). Target: >= 20x the API's
3.4 inputs/s at 16,384 bp on one data-centre GPU. Without a GPU it says so and stops.

Run: .venv/bin/python -m benchmarks.bench_local_model [--inputs 8] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import CONF
from mprabench.dna import sequence_sha256
from mprabench.predictors.alphagenome_local import AlphaGenomeLocalConfig, AlphaGenomeLocalPredictor
from mprabench.predictors.store import ProfileStore
from tests.support.local_models import track_table
from tests.support.params import typed_predictor_settings

API_INPUTS_PER_S = 3.4  # the AlphaGenome API at 16,384 bp (issue 23)
GPU_TARGET = 20 * API_INPUTS_PER_S
CPU_OUTSIDE_TARGET = 0.05
OUTPUTS = ("DNASE", "CAGE", "RNA_SEQ")
# Tracks per head of the full-size stand-in: the published model's largest of these three heads
# (RNA-seq 768; DNASE 384, CAGE 640: alphagenome-pt README, "Prediction Shapes"), so no head is smaller.
FULL_SIZE_TRACKS = 768


def random_inputs(count: int, length: int, seed: int = 0) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(count, length), dtype=np.uint8)
    sequences = [np.frombuffer(b"ACGT", np.uint8)[row].tobytes().decode() for row in codes]
    return {sequence_sha256(s): s for s in sequences}


def save_checkpoint(directory: Path, full_size: bool) -> Path:
    from alphagenome_pt import (
        DEFAULT_RAW_METADATA_FILENAME,
        AlphaGenome,
        HeadName,
        deepmind_config,
        small_alphagenome,
        synthetic_metadata,
    )

    heads = [HeadName[o] for o in OUTPUTS]
    if full_size:
        metadata = synthetic_metadata(heads, organisms=["human", "mouse"], num_tracks=FULL_SIZE_TRACKS)
        model = AlphaGenome(deepmind_config(metadata=metadata, dtype_policy="float32"))
        tracks = FULL_SIZE_TRACKS
    else:
        model = small_alphagenome(synthetic_metadata(heads, organisms=["human", "mouse"]))
        tracks = 4
    model.save(directory)
    table = track_table(OUTPUTS)
    for organism in table["organisms"].values():  # as many track records as the heads have columns
        for head in organism.values():
            head["records"] = [head["records"][i % len(head["records"])] for i in range(tracks)]
    (directory / DEFAULT_RAW_METADATA_FILENAME).write_text(json.dumps(table))
    return directory


def measure_one(checkpoint: Path, length: int, count: int, device: str, batch_size: int) -> dict:
    """One length in this process: the predictor's real batch loop, forward passes timed by hooks."""
    config = typed_predictor_settings(AlphaGenomeLocalConfig, CONF, "alphagenome_local", checkpoint=str(checkpoint),
                                      supported_lengths=[length], device=device, batch_size=batch_size)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        predictor = AlphaGenomeLocalPredictor(config, progress=False, store_root=root)
        forward = {"s": 0.0, "calls": 0}
        started: list[float] = []

        def before(*_):
            _synchronize(predictor.device)
            started.append(time.perf_counter())

        def after(*_):
            _synchronize(predictor.device)
            forward["s"] += time.perf_counter() - started.pop()
            forward["calls"] += 1

        warm = ProfileStore(root / "warm", {"warm": True})
        predictor.request_profiles(random_inputs(batch_size, length, seed=99), warm)  # allocation, caches
        predictor.model.register_forward_pre_hook(before)
        predictor.model.register_forward_hook(after)
        if predictor.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(predictor.device)
        store = ProfileStore(root, predictor.store_key_fields())
        inputs = random_inputs(count, length)
        begin = time.perf_counter()
        report = predictor.request_profiles(inputs, store)
        _synchronize(predictor.device)
        wall = time.perf_counter() - begin
    assert report.requested == count and not report.failures
    return {
        "length": length, "inputs": count, "wall_s": wall, "inputs_per_s": count / wall,
        "outside_forward": 1 - forward["s"] / wall, "forward_calls": forward["calls"],
        "batch_size": predictor.stats.batch_size if predictor.stats else batch_size,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": (torch.cuda.max_memory_allocated(predictor.device) / 2**20
                        if predictor.device.type == "cuda" else None),
        "device": str(predictor.device), "precision": str(predictor.dtype).removeprefix("torch."),
    }


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def in_child(checkpoint: Path, length: int, count: int, device: str, batch_size: int) -> dict:
    """measure_one in a fresh process, so each peak RSS is that run's own."""
    command = [sys.executable, "-m", "benchmarks.bench_local_model", "--child", str(checkpoint), str(length),
               str(count), device, str(batch_size)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=8, help="inputs per length (CPU)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: also the full-size architecture on the GPU")
    parser.add_argument("--gpu-inputs", type=int, default=256, help="inputs per length on the GPU")
    parser.add_argument("--gpu-batch-size", type=int, default=32, help="first batch size on the GPU (halved on OOM)")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        checkpoint, length, count, device, batch = args.child
        print(json.dumps(measure_one(Path(checkpoint), int(length), int(count), device, int(batch))))
        return

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"CUDA GPU: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none present'}")
    with tempfile.TemporaryDirectory() as scratch:
        tiny = save_checkpoint(Path(scratch) / "tiny", full_size=False)
        print("CPU, tiny AlphaGenome (small_alphagenome: 64 channels, 3 transformer layers, random weights), float32:")
        for length in (2_048, 16_384):
            r = in_child(tiny, length, args.inputs, "cpu", args.batch_size)
            print(f"  {length:>7,} bp: {r['inputs_per_s']:7.2f} inputs/s ({r['inputs']} inputs, batches of "
                  f"{r['batch_size']}, {r['forward_calls']} forward passes); outside the forward pass "
                  f"{100 * r['outside_forward']:.1f} % (target <= {100 * CPU_OUTSIDE_TARGET:.0f} %); "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB")
        if args.device != "cuda":
            return
        if not torch.cuda.is_available():
            print(f"--device cuda: NO GPU PRESENT (torch {torch.__version__}, CUDA build "
                  f"{torch.version.cuda or 'none'}): the full-size GPU figures were not measured. "
                  "Run this command on a machine with a CUDA GPU and a CUDA build of torch.")
            return
        full = save_checkpoint(Path(scratch) / "full", full_size=True)
        print(f"GPU {torch.cuda.get_device_name(0)}, full-size AlphaGenome architecture (random weights), bfloat16:")
        for length in (16_384, 131_072):
            r = in_child(full, length, args.gpu_inputs, "cuda", args.gpu_batch_size)
            target = f" (target >= {GPU_TARGET:.0f})" if length == 16_384 else ""
            print(f"  {length:>7,} bp: {r['inputs_per_s']:8.1f} inputs/s{target}; batch size chosen "
                  f"{r['batch_size']}; peak GPU memory {r['peak_gpu_mb']:.0f} MB; outside the forward pass "
                  f"{100 * r['outside_forward']:.1f} %")


if __name__ == "__main__":
    main()
