"""Several DVC experiments (or revisions) in one forest plot, as a PNG for a paper or a slide.

    python scripts/compare_forest.py demo-v2-gc demo-v2-kmer demo-v2-motif        # one row per experiment
    python scripts/compare_forest.py v1 v2 --per-feature --out plots/forest_v1_v2.png --csv plots/forest_v1_v2.csv

By default each experiment is one row: its headline feature (summary.json's `headline` block, the
feature its predictor declares), so predictors with no feature in common are side by side.
`--per-feature` draws every primary feature, one row per feature and one marker per experiment;
a feature an experiment's predictor does not make is left blank. The title names the dataset(s),
predictors and experiments compared, read from each experiment's own params.yaml and
metrics/summary.json (`dvc plots diff` draws the per-feature view in the browser).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import dvc.api
import matplotlib as mpl
import yaml

from mprabench.errors import BenchmarkError
from mprabench.plots.comparison import (
    Compared,
    comparison_subtitle,
    headline_table,
    n_elements_text,
    per_feature_table,
    shared_ci_level,
)
from mprabench.plots.forest import forest_figure, write_forest_csv
from mprabench.plots.layout import save_figure
from mprabench.plots.style import RC_PARAMS

REPOSITORY = Path(__file__).resolve().parents[1]


def read_compared(revisions: list[str], repo: Path, summary: str, params: str) -> list[Compared]:
    return [Compared(rev, yaml.safe_load(dvc.api.read(params, rev=rev, repo=str(repo))),
                     yaml.safe_load(dvc.api.read(summary, rev=rev, repo=str(repo)))) for rev in revisions]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("revisions", nargs="+", help="DVC experiment names, git tags, branches or commits")
    parser.add_argument("--per-feature", action="store_true",
                        help="every primary feature, one row each, instead of each experiment's headline feature")
    parser.add_argument("--summary", default="metrics/summary.json", help="the headline metrics file")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--repo", type=Path, default=REPOSITORY)
    parser.add_argument("--out", type=Path, default=REPOSITORY / "plots/forest_comparison.png")
    parser.add_argument("--csv", type=Path, default=None, help="also write the compared rows as CSV")
    parser.add_argument("--dpi", type=int, default=150)
    args = parser.parse_args(argv)

    try:
        compared = read_compared(args.revisions, args.repo, args.summary, args.params)
        frame = per_feature_table(compared) if args.per_feature else headline_table(compared)
        level = shared_ci_level(compared)
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    rows = "per feature" if args.per_feature else "per experiment (its predictor's headline feature)"
    with mpl.rc_context(RC_PARAMS):
        figure = forest_figure(frame, comparison_subtitle(compared), n_elements_text(compared), level, rows=rows)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        print(save_figure(figure, args.out, args.dpi))
    if args.csv:
        print(write_forest_csv(frame, args.csv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
