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

The experiments and their rows come from mprabench.results_table, which the paper table
(scripts/export_results) reads them with too.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import pandas as pd

from mprabench.errors import BenchmarkError, InputDataError
from mprabench.files import write_text_atomic
from mprabench.plots.forest import forest_columns, forest_figure
from mprabench.plots.layout import save_figure
from mprabench.plots.style import NOT_ESTIMABLE, RC_PARAMS, fmt_p
from mprabench.results_table import Entry, entries_from_dvc, entries_from_runs, param, result_rows

COLUMNS = ["dataset", "predictor", "tracks", "experiment", "configuration", "feature", "n_elements", "element_r",
           "ci_low", "ci_high", "p", "ci_reason", "p_reason", "spearman_rho", "spearman_ci_low", "spearman_ci_high",
           "spearman_p", "bonferroni_significant"]
NUMBERS = ["element_r", "ci_low", "ci_high", "p", "spearman_rho", "spearman_ci_low", "spearman_ci_high", "spearman_p"]
WITHHELD_SHORT = "withheld: not calibrated"  # a Pearson CI or p this design's calibration fails (reason: the CSV)


def leaderboard_table(entries: Sequence[Entry], feature: str | None = None) -> pd.DataFrame:
    """One row per entry (its row of results_table.result_rows for the feature shown), sorted by dataset then
    element r (highest first); missing values are NaN."""
    frame = pd.DataFrame([shown_row(entry, feature) for entry in entries], columns=COLUMNS)
    frame[NUMBERS] = frame[NUMBERS].apply(pd.to_numeric).astype(float)
    order = frame.assign(_r=frame["element_r"].fillna(-math.inf)).sort_values(
        ["dataset", "_r", "experiment"], ascending=[True, False, True], kind="stable")
    return order[COLUMNS].reset_index(drop=True)


def shown_row(entry: Entry, feature: str | None) -> dict:
    """The experiment's row of `feature` where it has that feature, else of its headline feature (the
    one its predictor declares), else (a summary written before the headline block) its first."""
    rows = result_rows(entry)
    if not rows:
        raise InputDataError(f"experiment {entry.name}: summary.json has no feature block")
    return next((row for row in rows if row["feature"] == feature),
                next((row for row in rows if row["headline"]), rows[0]))


def markdown(frame: pd.DataFrame, ci_level: str) -> str:
    """The table as Markdown: r with its CI in one cell, p as the report prints it."""
    lines = [f"| dataset | predictor | tracks | experiment | configuration | feature | n elements | "
             f"element r [{ci_level} CI] | p | Spearman ρ [{ci_level} CI] (p) | Bonferroni |", "|---" * 11 + "|"]
    for row in frame.itertuples(index=False):
        p = WITHHELD_SHORT if isinstance(row.p_reason, str) and row.p_reason else fmt_p(row.p)
        lines.append(f"| {row.dataset} | {row.predictor} | {row.tracks} | {row.experiment} | {row.configuration} | "
                     f"{row.feature} | {_count(row.n_elements)} | {_r_with_ci(row)} | {p} | {_rho_with_ci(row)} | "
                     f"{ {True: 'yes', False: 'no'}.get(row.bonferroni_significant, NOT_ESTIMABLE)} |")
    return "\n".join(lines) + "\n"


def _count(value: Any) -> str:
    return f"{int(value):,}" if isinstance(value, int | float) and not pd.isna(value) else "?"


def _r_with_ci(row: Any) -> str:
    if not math.isfinite(row.element_r):
        return NOT_ESTIMABLE
    ci = (f" [{row.ci_low:+.2f}, {row.ci_high:+.2f}]" if math.isfinite(row.ci_low) and math.isfinite(row.ci_high)
          else f" [CI {WITHHELD_SHORT}]" if isinstance(row.ci_reason, str) and row.ci_reason else " [CI n.e.]")
    return f"{row.element_r:+.3f}{ci}"


def _rho_with_ci(row: Any) -> str:
    """Spearman's rho [its interval] (its p): the verdict's numbers, shown beside a withheld Pearson CI."""
    if not math.isfinite(row.spearman_rho):
        return NOT_ESTIMABLE
    ci = (f" [{row.spearman_ci_low:+.2f}, {row.spearman_ci_high:+.2f}]"
          if math.isfinite(row.spearman_ci_low) and math.isfinite(row.spearman_ci_high) else "")
    return f"{row.spearman_rho:+.3f}{ci} ({fmt_p(row.spearman_p)})"


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
        "rho": frame["spearman_rho"], "rho_ci_low": frame["spearman_ci_low"], "rho_ci_high": frame["spearman_ci_high"],
        "spearman_p": frame["spearman_p"],
        "significant": [{True: "yes", False: "no"}.get(v, NOT_ESTIMABLE) for v in frame["bonferroni_significant"]],
        "withheld": ["; ".join(r for r in (c, p) if isinstance(r, str) and r)
                     for c, p in zip(frame["ci_reason"], frame["p_reason"])],
    })[forest_columns()]
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


def figure_dpi(entries: Sequence[Entry]) -> int:
    """The experiments' own figure resolution (evaluate.dpi in conf/), the highest if they differ."""
    return max((int(param(e, "evaluate", "dpi")) for e in entries), default=0)


def build(entries: Sequence[Entry], out: Path, feature: str | None, dpi: int) -> list[Path]:
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
    parser.add_argument("--dpi", type=int, default=None,
                        help="figure resolution (default: the experiments' evaluate.dpi, the highest if they differ)")
    args = parser.parse_args(argv)
    entries = entries_from_runs(args.runs) if args.runs else entries_from_dvc(args.repo)
    for path in build(entries, args.out, args.feature, args.dpi or figure_dpi(entries)):
        print(path)


if __name__ == "__main__":
    try:
        main()
    except BenchmarkError as error:  # one clear message, no traceback (as the stages print theirs)
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
