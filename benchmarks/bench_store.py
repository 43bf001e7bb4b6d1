"""The prediction store: disk per input, and the time to recompute features of stored inputs.

Fills a store with N distinct 2,048-bp inputs whose profiles have the default outputs'
K562 track counts as the local server reports them (DNASE 1, CAGE 2, RNA_SEQ 2), with
values from the server's signal definition (smooth, like real coverage tracks) and, as a
worst case, noise (which zstd can hardly compress). Then runs the real predict
stage with everything stored (0 requests, no network, no API key) and times it.

Prints bytes per input (target <= 64 KB) and the predict stage's wall time for N inputs
with a new feature window (target <= 10 s for 7,000).
Run: .venv/bin/python -m benchmarks.bench_store [--inputs 7000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import CONF, measure, report, stage
from mprabench.config import load_params
from mprabench.dna import sequence_sha256
from mprabench.fasta import write_fasta
from mprabench.predictors.alphagenome import AlphaGenomePredictor
from mprabench.predictors.biosample import BiosampleDefaults
from mprabench.predictors.resolve import configured_predictor
from mprabench.predictors.store import ProfileStore, TrackProfile
from tests.support.alphagenome.tracks import base_signal, default_catalogue, track_scale
from tests.support.params import write_params

LENGTH = 2_048
K562 = "EFO:0002067"


def k562_tracks() -> dict[str, list[dict]]:
    human = default_catalogue()["ORGANISM_HOMO_SAPIENS"]
    return {output: [t for t in tracks if t.get("ontology_curie") == K562] for output, tracks in human.items()}


def random_inputs(count: int, seed: int) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(count, LENGTH), dtype=np.uint8)
    sequences = [np.frombuffer(b"ACGT", np.uint8)[row].tobytes().decode() for row in codes]
    return {sequence_sha256(s): s for s in sequences}


def fill(store: ProfileStore, inputs: dict[str, str], tracks: dict[str, list[dict]], noise: bool) -> None:
    rng = np.random.default_rng(0)
    for sha, sequence in inputs.items():
        signal = None if noise else base_signal(sequence, ("AGGTCAAAGGTCA",), 2.0)
        profile = {}
        for output, rows in tracks.items():
            if signal is not None:
                scales = [track_scale(output, i, K562) for i in range(len(rows))]
                values = np.stack([signal * s for s in scales], axis=1).astype(np.float32)
            else:
                values = rng.gamma(0.5, 2.0, (LENGTH, len(rows))).astype(np.float32)
            profile[output] = TrackProfile(values, 1, 0, LENGTH)
        store.put(sha, profile)


def disk_use(store: ProfileStore, count: int) -> tuple[float, float, float]:
    sizes = np.array([p.stat().st_size for p in store.directory.rglob("profiles/*/*.rec")])
    blocks = sum(p.stat().st_blocks * 512 for p in store.directory.rglob("*") if p.is_file())
    return sizes.mean() / 1024, sizes.max() / 1024, blocks / count / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=7_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        directory = Path(tmp)
        params = write_params(directory / "params.yaml", CONF, ["predictor.address=127.0.0.1:1",
                                                                "predictor.insecure=true"])
        loaded = load_params(params)
        predictor = AlphaGenomePredictor(configured_predictor(loaded, params).settings,
                                         biosample=BiosampleDefaults.of(loaded))
        tracks = k562_tracks()
        disk_rows = []
        shape = ", ".join(f"{o} {len(r)}" for o, r in tracks.items())
        for label, noise in (("server signal", False), ("noise (worst case)", True)):
            store = ProfileStore(directory / f"store-{noise}", predictor.store_key_fields(), tracks)
            inputs = random_inputs(min(args.inputs, 500), seed=1)
            fill(store, inputs, tracks, noise)
            mean, largest, on_disk = disk_use(store, len(inputs))
            disk_rows.append([label, shape, f"{mean:.1f}", f"{largest:.1f}", f"{on_disk:.1f}"])
        report("disk per stored 2,048-bp input (target <= 64 KB)",
               ["profiles", "tracks", "mean KB", "max KB", "KB on disk (blocks)"], disk_rows)

        store_root = directory / "store"
        store = ProfileStore(store_root, predictor.store_key_fields(), tracks)
        inputs = random_inputs(args.inputs, seed=2)
        started = time.perf_counter()
        fill(store, inputs, tracks, False)
        print(f"\nfilled a store with {len(inputs):,} inputs in {time.perf_counter() - started:.0f} s")
        write_fasta(directory / "inputs.fa", inputs)
        pd.DataFrame({"row_id": list(inputs), "input_sha256": list(inputs)}).to_parquet(directory / "rows.parquet")

        started = time.perf_counter()
        features = {sha: predictor.features(store.get(sha)) for sha in inputs}
        in_process = time.perf_counter() - started
        params = write_params(directory / "params.yaml", CONF, [
            "predictor.address=127.0.0.1:1", "predictor.insecure=true", "predictor.features.center_width=500"])
        result = measure(stage("predict", "--params", str(params), "--inputs", str(directory / "inputs.fa"),
                               "--rows", str(directory / "rows.parquet"), "--store", str(store_root),
                               "--features", str(directory / "features.parquet"), "--metrics",
                               str(directory / "predict.json"), "--no-progress"))
        metrics = pd.read_json(directory / "predict.json", typ="series")
        assert len(features) == len(inputs) and metrics["requested"] == 0
        report(f"recomputing features of {len(inputs):,} stored inputs (new centre window, 0 requests)",
               ["what", "seconds", "requested"],
               [["feature loop in process (read, decompress, features)", f"{in_process:.2f}", 0],
                ["whole predict stage (python start, FASTA + SHA-256 check, Parquet)", f"{result.wall_s:.2f}",
                 int(metrics["requested"])]])
        verdict = "meets" if result.wall_s <= 10 else "MISSES"
        print(f"predict stage {result.wall_s:.1f} s for {len(inputs):,} stored inputs {verdict} the target of <= 10 s")


if __name__ == "__main__":
    main()
