"""evaluate with many precomputed features on a V3-shaped design: peak memory stays bounded.

Each of the GSE84888 shape's 6,963 oligos gets its own model input (as in V3, where every
oligo's designed sequence differs), and the predictions carry `--features` columns (the
issue-22 audit: 300 features took 23 GB inside figure rendering). Figures draw the six
primary features and others up to evaluate.max_figure_features; every feature is still
evaluated and tabled. Target: 1,000 features under 4 GB peak RSS.

    .venv/bin/python -m benchmarks.bench_many_features                   # 100 features (quick)
    .venv/bin/python -m benchmarks.bench_many_features --features 1000   # the target (slow: run once)

The statistics, not the figures, set the time: every feature gets its element-level and
within-element statistics and its strata. Before issue 22's fix the within-element statistics grouped
each stratum's rows by element once per feature, copying every feature's column each time, so
1,000 features did not finish within an hour; now the feature-independent structure is computed
once per stratum (stats/within_element.InputLevels). Measured on 2 shared cores (load ~7), with
`--features 1000` (999 permutations): evaluate 495 s wall, 463 MB peak RSS, 7 figures (183 s CPU
for the whole script under `/usr/bin/time -v`). With 99 permutations the evaluate stage took 21 s
CPU at 100 features and 38 s at 200: linear, about 0.18 s per feature on this design.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.bench_evaluate import evaluate_command
from benchmarks.common import measure, prepare_command, report, shaped_workspace

TARGET_MB = 4_096
PRIMARY = 6


def per_oligo_inputs(rows_path: Path) -> pd.Series:
    """V3's structure: every oligo its own input (a distinct SHA-256 per row)."""
    rows = pd.read_parquet(rows_path)
    rows["input_sha256"] = [hashlib.sha256(name.encode()).hexdigest() for name in rows["row_id"]]
    rows.to_parquet(rows_path, index=False)
    return rows.set_index("input_sha256")["log2_ratio"]


def write_features(path: Path, activity: pd.Series, count: int) -> list[str]:
    rng = np.random.default_rng(0)
    names = [f"feature_{i:04d}" for i in range(count)]
    weights = rng.uniform(0, 0.5, count)
    values = activity.to_numpy()[:, None] * weights + rng.normal(size=(len(activity), count))
    table = pd.DataFrame(values.astype(np.float32), columns=names)
    table.insert(0, "input_sha256", activity.index)
    table.to_parquet(path, index=False)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--permutations", type=int, default=999, help="evaluate.n_permutations (time, not memory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-features-") as scratch:
        base = shaped_workspace(Path(scratch) / "prepare", 1, ["experiment=v2"])
        measure(prepare_command(base))
        activity = per_oligo_inputs(base.directory / "rows.parquet")
        names = write_features(base.directory / "features.parquet", activity, args.features)
        workspace = shaped_workspace(Path(scratch) / "prepare", 1, [
            "experiment=v2", "predictor=precomputed", "predictor.path=features.parquet",
            f"evaluate.primary_features=[{','.join(names[:PRIMARY])}]",
            f"evaluate.headline_feature={names[0]}",  # no predict stage here, so no provenance.json to declare it
            f"evaluate.n_permutations={args.permutations}"])
        result = measure(evaluate_command(workspace))
        figures = sorted(p.name for p in (workspace.directory / "figures").glob("*.png"))
        tabled = pd.read_json(workspace.directory / "details.json", typ="series")["per_feature"]
        report(f"evaluate on a V3-shaped design ({len(activity):,} distinct inputs), {args.features} features",
               ["features", "evaluated", "figures", "wall s", "cpu s", "peak RSS MB", f"<= {TARGET_MB} MB"],
               [[args.features, len(tabled), len(figures), f"{result.wall_s:.0f}", f"{result.cpu_s:.0f}",
                 f"{result.peak_rss_mb:.0f}",
                 "yes" if result.peak_rss_mb <= TARGET_MB else "NO"]])


if __name__ == "__main__":
    main()
