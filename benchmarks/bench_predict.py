"""predict against the local AlphaGenome server (50 ms latency per request).

Prints: requests per distinct input (target exactly 1), requests on a warm rerun (target 0),
throughput at 1, 4 and 8 workers with parallel efficiency (target >= 80 % at 4 workers), and
peak RSS for 7,000 distinct 16 kb inputs (target <= 1 GB: each answer is stored as it arrives),
and, with the default retry and breaker settings, how long a run against a dead backend takes
to stop (target: about a minute).
Run: .venv/bin/python -m benchmarks.bench_predict [--rss-inputs 7000] [--only dead-service]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import CONF, REPO, Measurement, measure, report, stage
from mprabench.dna import sequence_sha256
from mprabench.fasta import write_fasta
from tests.support.alphagenome.server import LocalAlphaGenomeServer
from tests.support.params import write_params

LATENCY_MS = 50
KEY = "benchmark-key"


class ServerProcess:
    """The local AlphaGenome server as its own process, so its CPU is not the client's."""

    def __init__(self, directory: Path):
        port_file = directory / "port"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.alphagenome.server", "--port", "0", "--latency-ms",
             str(LATENCY_MS), "--port-file", str(port_file), "--max-workers", "32", "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL, cwd=REPO)  # `-m tests.support...` resolves from the root
        deadline = time.monotonic() + 60
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.address = f"127.0.0.1:{port_file.read_text().strip()}"

    def cpu_seconds(self) -> float:
        """User + system CPU the server has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def inputs_and_rows(directory: Path, distinct: int, rows_per_input: int, length: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(distinct, length), dtype=np.uint8)
    sequences = [np.frombuffer(b"ACGT", np.uint8)[row].tobytes().decode() for row in codes]
    inputs = {sequence_sha256(s): s for s in sequences}
    write_fasta(directory / "inputs.fa", inputs)
    rows = [(f"o{i}_{j}", sha) for i, sha in enumerate(inputs) for j in range(rows_per_input)]
    pd.DataFrame(rows, columns=["row_id", "input_sha256"]).to_parquet(directory / "rows.parquet")


def predict(directory: Path, address: str, workers: int, store: str) -> tuple[dict, Measurement]:
    params = write_params(directory / f"params_{workers}.yaml", CONF, [
        f"predictor.address={address}", "predictor.insecure=true", f"predictor.max_workers={workers}"])
    command = stage("predict", "--params", str(params), "--inputs", str(directory / "inputs.fa"), "--rows",
                    str(directory / "rows.parquet"), "--store", str(directory / store), "--features",
                    str(directory / "features.parquet"), "--metrics", str(directory / "predict.json"),
                    "--no-progress")
    result = measure(command, env={**os.environ, "ALPHAGENOME_API_KEY": KEY})
    metrics = json.loads((directory / "predict.json").read_text())
    # The stage logs the seconds spent predicting (python start-up and imports excluded).
    metrics["predict_seconds"] = float(re.search(r"predict: .*, ([0-9.]+) s$", result.output, re.M).group(1))
    return metrics, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--throughput-inputs", type=int, default=160)
    parser.add_argument("--rss-inputs", type=int, default=7_000)
    parser.add_argument("--only", choices=["dead-service", "throughput"], default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        if args.only in (None, "dead-service"):
            dead_service(directory)
        if args.only == "dead-service":
            return
        server = ServerProcess(directory)
        try:
            if args.only is None:
                economy(directory, server.address)
            throughput(directory, server, args.throughput_inputs)
            if args.only is None:
                memory(directory, server.address, args.rss_inputs)
        finally:
            server.stop()


def dead_service(directory: Path) -> None:
    """A backend that answers every prediction UNAVAILABLE, default settings: time to stop."""
    inputs_and_rows(directory, distinct=100, rows_per_input=1, length=2_048, seed=4)
    with LocalAlphaGenomeServer(expected_api_key=KEY) as server:
        server.set_outage()
        params = write_params(directory / "params_dead.yaml", CONF, [
            f"predictor.address={server.address}", "predictor.insecure=true"])
        started = time.perf_counter()
        process = subprocess.run(stage("predict", "--params", str(params), "--inputs", str(directory / "inputs.fa"),
                                       "--rows", str(directory / "rows.parquet"), "--store",
                                       str(directory / "store-dead"), "--features", str(directory / "f.parquet"),
                                       "--metrics", str(directory / "p.json"), "--no-progress"),
                                 env={**os.environ, "ALPHAGENOME_API_KEY": KEY}, capture_output=True, text=True)
        wall = time.perf_counter() - started
        calls = server.counters().predict_calls
    message = process.stderr.strip().splitlines()
    report("dead backend (every prediction UNAVAILABLE), 100 inputs, default retries and breaker",
           ["exit status", "seconds to stop", "requests"], [[process.returncode, f"{wall:.0f}", calls]])
    print("its message:\n  " + "\n  ".join(line for line in message if not line.startswith("INFO")))


def economy(directory: Path, address: str) -> None:
    inputs_and_rows(directory, distinct=18, rows_per_input=387, length=2_048, seed=1)  # the V2 shape
    cold, _ = predict(directory, address, 1, "store-economy")
    warm, _ = predict(directory, address, 1, "store-economy")
    report("request economy (6,966 rows over 18 distinct 2 kb inputs)", ["run", "distinct", "requested",
           "served from store", "requests per distinct input"], [
        ["cold", cold["distinct_inputs"], cold["requested"], cold["served_from_store"],
         f"{cold['requested'] / cold['distinct_inputs']:.2f}"],
        ["warm", warm["distinct_inputs"], warm["requested"], warm["served_from_store"], "-"]])


def throughput(directory: Path, server: ServerProcess, count: int) -> None:
    inputs_and_rows(directory, distinct=count, rows_per_input=1, length=2_048, seed=2)
    rows, base = [], None
    for workers in (1, 4, 8):
        server_before = server.cpu_seconds()
        metrics, cold = predict(directory, server.address, workers, f"store-throughput-{workers}")
        server_cpu = server.cpu_seconds() - server_before
        rate = metrics["requested"] / metrics["predict_seconds"]
        base = base or rate
        rows.append([workers, metrics["requested"], f"{metrics['predict_seconds']:.1f}", f"{rate:.1f}",
                     f"{rate / (base * workers):.0%}", metrics["retries"], metrics["failed"]])
        if workers == 1:
            # A warm rerun (nothing requested) has the same start-up and store work: the difference is per request.
            _, warm = predict(directory, server.address, workers, f"store-throughput-{workers}")
            per_request = [(cold.cpu_s - warm.cpu_s) / count * 1e3, server_cpu / count * 1e3,
                           metrics["predict_seconds"] / count * 1e3]
    report(f"throughput, {count} distinct 2 kb inputs (padded to 16 kb), {LATENCY_MS} ms server latency",
           ["workers", "requests", "predict s", "inputs/s", "parallel efficiency", "retries", "failed"], rows)
    print(f"per request at 1 worker: client CPU {per_request[0]:.1f} ms, local server CPU {per_request[1]:.1f} ms, "
          f"wall {per_request[2]:.1f} ms ({LATENCY_MS} ms of it latency); both processes share this machine's "
          f"{os.cpu_count()} cores")
    print(f"efficiency at 4 workers: {rows[1][4]} (target >= 80 %)")


def memory(directory: Path, address: str, count: int) -> None:
    inputs_and_rows(directory, distinct=count, rows_per_input=1, length=16_384, seed=3)
    metrics, result = predict(directory, address, 8, "store-memory")
    wall, rss = result.wall_s, result.peak_rss_mb
    report(f"memory, {count} distinct 16 kb inputs, 8 workers", ["requested", "failed", "wall s", "peak RSS MB"],
           [[metrics["requested"], metrics["failed"], f"{wall:.0f}", f"{rss:.0f}"]])
    print(f"peak RSS {rss:.0f} MB {'meets' if rss <= 1024 else 'MISSES'} the target of <= 1,024 MB")


if __name__ == "__main__":
    main()
