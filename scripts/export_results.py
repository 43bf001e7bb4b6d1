"""One tidy CSV (and XLSX on request) of the headline results of DVC experiments, for a paper.

    python -m scripts.export_results --out results.csv                       # every experiment of this commit
    python -m scripts.export_results demo-v1-gc demo-v2-gc --out results.csv --xlsx results.xlsx

One row per experiment and primary feature: dataset, experiment (its DVC name), configuration
(the experiment bundle, e.g. v2), predictor, feature, whether it is the predictor's headline
feature, element r, its CI and level, permutation p, n elements and the Bonferroni verdict, read
from each experiment's metrics/summary.json and params.yaml by mprabench.results_table (the reader
and row model the leaderboard shares).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mprabench.results_table import entries_from_dvc, entries_from_revisions, results_table, write_results

REPOSITORY = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiments", nargs="*", help="DVC experiment names or revisions (default: every "
                                                       "experiment of the current commit, `dvc exp show`)")
    parser.add_argument("--out", type=Path, required=True, help="the CSV to write")
    parser.add_argument("--xlsx", type=Path, default=None, help="also write the table as an Excel file")
    parser.add_argument("--repo", type=Path, default=REPOSITORY)
    args = parser.parse_args(argv)

    entries = (entries_from_revisions(args.repo, args.experiments) if args.experiments
               else entries_from_dvc(args.repo))
    if not entries:
        print("error: no DVC experiments on this commit (`dvc exp show` lists none): run one, e.g. `make demo`, "
              "or name revisions to export.", file=sys.stderr)
        return 1
    for path in write_results(results_table(entries), args.out, args.xlsx):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
