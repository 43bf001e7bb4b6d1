"""One view across datasets and predictors: a leaderboard from the experiments' summary.json.

    python -m mprabench.leaderboard                       # every DVC experiment of this repository
    python -m mprabench.leaderboard --runs DIR [DIR ...]  # run folders (params.yaml + metrics/summary.json)

writes `leaderboard/leaderboard.csv`, `leaderboard.md` and `leaderboard.png` (a forest plot): one row per
experiment with its dataset, predictor, the tracks a model predictor asked for, the experiment
configuration, n elements, the element-level Pearson r with its CI and the element permutation p.

Each row shows one feature, fixed before looking at any result: `--feature` when the experiment has
it, else the experiment's headline feature (summary.json's `headline` block: the feature its predictor
declares, or `evaluate.headline_feature`); a summary written before that block existed shows its first
primary feature. Picking each experiment's best feature instead would inflate every r.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib as mpl
import pandas as pd
import yaml

from mprabench.errors import BenchmarkError, InputDataError
from mprabench.files import write_text_atomic
from mprabench.plots.forest import FOREST_COLUMNS, forest_figure
from mprabench.plots.labels import chosen_terms
from mprabench.plots.layout import save_figure
from mprabench.plots.style import NOT_ESTIMABLE, RC_PARAMS, fmt_p
from mprabench.headline import (
    ELEMENT_BONFERRONI_SIGNIFICANT,
    ELEMENT_P,
    ELEMENT_PEARSON_R,
    PEARSON_R_CI_HIGH,
    PEARSON_R_CI_LOW,
    headline_feature,
    primary_features,
)
from mprabench.schema import SUMMARY_DESIGN

SUMMARY = "metrics/summary.json"
PARAMS = "params.yaml"
COLUMNS = ["dataset", "predictor", "tracks", "experiment", "configuration", "feature", "n_elements", "element_r",
           "ci_low", "ci_high", "p", "bonferroni_significant"]


@dataclass(frozen=True)
class Entry:
    """One experiment: its name, its params and its summary.json."""

    name: str
    params: Mapping[str, Any]
    summary: Mapping[str, Any]


def entries_from_exp_show(records: Sequence[Mapping[str, Any]]) -> list[Entry]:
    """The named DVC experiments in `dvc exp show --json` output (not the workspace or baseline commits)."""
    entries = []
    for baseline in records:
        for experiment in baseline.get("experiments") or []:
            for rev in experiment.get("revs") or []:
                data = rev.get("data") or {}
                summary = ((data.get("metrics") or {}).get(SUMMARY) or {}).get("data")
                params = ((data.get("params") or {}).get(PARAMS) or {}).get("data")
                name = rev.get("name") or experiment.get("name") or str(rev.get("rev", ""))[:7]
                if summary is None or params is None:
                    raise InputDataError(f"DVC experiment {name}: no {SUMMARY} or {PARAMS} (did it fail? "
                                         f"`dvc queue logs {name}`); remove it with `dvc exp remove {name}`")
                entries.append(Entry(name, params, summary))
    return entries


def entries_from_dvc(repository: Path) -> list[Entry]:
    """Every experiment `dvc exp show` lists in `repository`."""
    shown = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=repository,
                           capture_output=True, text=True, check=False)
    if shown.returncode != 0:
        raise BenchmarkError(f"`dvc exp show --json` failed in {repository}: {shown.stderr.strip()}")
    return entries_from_exp_show(json.loads(shown.stdout))


def entries_from_runs(folders: Sequence[Path]) -> list[Entry]:
    """Run folders, each with params.yaml and metrics/summary.json (a workspace or a copy of one)."""
    entries = []
    for folder in folders:
        missing = [name for name in (PARAMS, SUMMARY) if not (folder / name).is_file()]
        if missing:
            raise InputDataError(f"{folder}: no {' or '.join(missing)}; a run folder holds both (run the pipeline there)")
        entries.append(Entry(folder.name, yaml.safe_load((folder / PARAMS).read_text()),
                             json.loads((folder / SUMMARY).read_text())))
    return entries


def leaderboard_table(entries: Sequence[Entry], feature: str | None = None) -> pd.DataFrame:
    """One row per entry, sorted by dataset then element r (highest first); missing values are NaN."""
    rows = [_row(entry, feature) for entry in entries]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    order = frame.assign(_r=frame["element_r"].fillna(-math.inf)).sort_values(
        ["dataset", "_r", "experiment"], ascending=[True, False, True], kind="stable")
    return order[COLUMNS].reset_index(drop=True)


def _row(entry: Entry, feature: str | None) -> dict[str, Any]:
    features = primary_features(entry.summary)
    if not features:
        raise InputDataError(f"experiment {entry.name}: summary.json has no feature block")
    shown = feature if feature in features else (headline_feature(entry.summary) or features[0])
    block, params = entry.summary[shown], entry.params
    return {
        "dataset": _get(params, "dataset", "name"), "predictor": _get(params, "predictor", "name"),
        "tracks": " ".join(chosen_terms(params)) or "-", "experiment": entry.name,
        "configuration": _get(params, "experiment", "name"), "feature": shown,
        "n_elements": (entry.summary.get(SUMMARY_DESIGN) or {}).get("n_elements"),
        "element_r": _number(block.get(ELEMENT_PEARSON_R)), "ci_low": _number(block.get(PEARSON_R_CI_LOW)),
        "ci_high": _number(block.get(PEARSON_R_CI_HIGH)), "p": _number(block.get(ELEMENT_P)),
        "bonferroni_significant": block.get(ELEMENT_BONFERRONI_SIGNIFICANT),
    }


def _get(params: Mapping[str, Any], section: str, key: str) -> str:
    return str((params.get(section) or {}).get(key, "?"))


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan


def markdown(frame: pd.DataFrame, ci_level: str) -> str:
    """The table as Markdown: r with its CI in one cell, p as the report prints it."""
    lines = [f"| dataset | predictor | tracks | experiment | configuration | feature | n elements | "
             f"element r [{ci_level} CI] | p | Bonferroni |", "|---" * 10 + "|"]
    for row in frame.itertuples(index=False):
        lines.append(f"| {row.dataset} | {row.predictor} | {row.tracks} | {row.experiment} | {row.configuration} | "
                     f"{row.feature} | {_count(row.n_elements)} | {_r_with_ci(row)} | {fmt_p(row.p)} | "
                     f"{ {True: 'yes', False: 'no'}.get(row.bonferroni_significant, NOT_ESTIMABLE)} |")
    return "\n".join(lines) + "\n"


def _count(value: Any) -> str:
    return f"{int(value):,}" if isinstance(value, int | float) and not pd.isna(value) else "?"


def _r_with_ci(row: Any) -> str:
    if not math.isfinite(row.element_r):
        return NOT_ESTIMABLE
    ci = (f" [{row.ci_low:+.2f}, {row.ci_high:+.2f}]" if math.isfinite(row.ci_low) and math.isfinite(row.ci_high)
          else " [CI n.e.]")
    return f"{row.element_r:+.3f}{ci}"


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, frame.to_csv(index=False, float_format="%.6g"))
    return path


def write_figure(frame: pd.DataFrame, path: Path, ci_level: float, dpi: int) -> Path:
    """The leaderboard as a forest plot: one row per experiment, r with its CI and p."""
    forest = pd.DataFrame({
        "experiment": "leaderboard", "feature": frame["feature"],
        "label": [f"{r.dataset} · {r.predictor} · {r.experiment} ({r.feature})" for r in frame.itertuples()],
        "r": frame["element_r"], "ci_low": frame["ci_low"], "ci_high": frame["ci_high"], "p": frame["p"],
        "neglog10_p": [-math.log10(p) if p > 0 else math.nan for p in frame["p"].fillna(1.0)],
        "significant": [{True: "yes", False: "no"}.get(v, NOT_ESTIMABLE) for v in frame["bonferroni_significant"]],
    })[FOREST_COLUMNS]
    n = " / ".join(sorted({_count(v) for v in frame["n_elements"]}))
    datasets = frame["dataset"].nunique()
    subtitle = f"leaderboard: {len(frame)} experiments across {datasets} dataset{'s' * (datasets != 1)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with mpl.rc_context(RC_PARAMS):
        return save_figure(forest_figure(forest, subtitle, n, ci_level, rows="per experiment"), path, dpi)


def _ci_level(entries: Sequence[Entry]) -> float:
    """The experiments' evaluate.ci_level; they must agree, or one figure would mix intervals."""
    levels = {float((e.params.get("evaluate") or {}).get("ci_level", math.nan)) for e in entries}
    if len(levels) != 1 or not all(math.isfinite(v) for v in levels):
        raise InputDataError(f"the experiments' evaluate.ci_level differ or are missing ({sorted(levels)}); "
                             "compare experiments run with one ci_level")
    return levels.pop()


def build(entries: Sequence[Entry], out: Path, feature: str | None = None, dpi: int = 150) -> list[Path]:
    """leaderboard.csv, leaderboard.md and leaderboard.png in `out`."""
    if not entries:
        raise BenchmarkError("no experiments to rank: run some first, e.g. `dvc exp run --queue -n <name> "
                             "-S dataset=<d> -S predictor=<p>` and `dvc queue start` (README, 'Across datasets')")
    level = _ci_level(entries)
    frame = leaderboard_table(entries, feature)
    paths = [write_csv(frame, out / "leaderboard.csv")]
    write_text_atomic(out / "leaderboard.md", markdown(frame, f"{level:.0%}"))
    paths.append(out / "leaderboard.md")
    paths.append(write_figure(frame, out / "leaderboard.png", level, dpi))
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, nargs="+", default=None,
                        help="run folders instead of the DVC experiments (each: params.yaml, metrics/summary.json)")
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="the repository whose experiments to rank")
    parser.add_argument("--feature", default=None, help="the feature to show where an experiment has it")
    parser.add_argument("--out", type=Path, default=Path("leaderboard"))
    parser.add_argument("--dpi", type=int, default=150)
    args = parser.parse_args(argv)
    entries = entries_from_runs(args.runs) if args.runs else entries_from_dvc(args.repo)
    for path in build(entries, args.out, args.feature, args.dpi):
        print(path)


if __name__ == "__main__":
    try:
        main()
    except BenchmarkError as error:  # one clear message, no traceback (as the stages print theirs)
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
