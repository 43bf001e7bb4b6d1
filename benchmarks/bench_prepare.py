"""prepare (V2, local FASTA) on the GSE84888 shape and 10x / 100x: wall time and peak RSS.

Target: <= 2 s on 2 cores at 1x; cost grows linearly or better.
Run: .venv/bin/python -m benchmarks.bench_prepare
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from benchmarks.common import measure, prepare_command, report, shaped_workspace

TARGET_S = 2.0


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for scale in (1, 10, 100):
            workspace = shaped_workspace(Path(scratch) / f"x{scale}", scale, ["experiment=v2"])
            measure(prepare_command(workspace))  # warm the OS file cache and pyfaidx index
            result = measure(prepare_command(workspace))
            qc = json.loads((workspace.directory / "qc.json").read_text())
            rows.append([f"{scale}x", qc["benchmark_rows"], qc["elements"], qc["distinct_inputs"],
                         f"{result.wall_s:.2f}", f"{result.peak_rss_mb:.0f}",
                         f"{result.wall_s / qc['benchmark_rows'] * 1e6:.0f}"])
    report("prepare, experiment v2, local regions FASTA", ["scale", "rows", "elements", "inputs", "wall s",
           "peak RSS MB", "us/row"], rows)
    verdict = "meets" if float(rows[0][4]) <= TARGET_S else "MISSES"
    print(f"\n1x wall time {rows[0][4]} s {verdict} the target of <= {TARGET_S} s")


if __name__ == "__main__":
    main()
