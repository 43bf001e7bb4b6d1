"""One tidy CSV (and XLSX on request) of the headline results of DVC experiments, for a paper.

    python -m scripts.export_results --out results.csv                       # every experiment of this commit
    python -m scripts.export_results demo-v1-gc demo-v2-gc --out results.csv --xlsx results.xlsx

One row per experiment and primary feature: dataset, experiment (its DVC name), configuration
(the experiment bundle, e.g. v2), predictor, feature, whether it is the predictor's headline
feature, element r, its CI and level, permutation p, n elements and the Bonferroni verdict, read
from each experiment's metrics/summary.json and params.yaml.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import dvc.api
import yaml

from mprabench.results_table import results_table, write_results

REPOSITORY = Path(__file__).resolve().parents[1]


def experiment_names(repo: Path) -> list[str]:
    listed = subprocess.run([sys.executable, "-m", "dvc", "exp", "list", "--name-only"], cwd=repo,
                            capture_output=True, text=True, check=True)
    return listed.stdout.split()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiments", nargs="*", help="DVC experiment names or revisions (default: every "
                                                       "experiment of the current commit, `dvc exp list`)")
    parser.add_argument("--out", type=Path, required=True, help="the CSV to write")
    parser.add_argument("--xlsx", type=Path, default=None, help="also write the table as an Excel file")
    parser.add_argument("--summary", default="metrics/summary.json")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--repo", type=Path, default=REPOSITORY)
    args = parser.parse_args(argv)

    names = args.experiments or experiment_names(args.repo)
    if not names:
        print("error: no DVC experiments on this commit (`dvc exp list` is empty): run one, e.g. `make demo`, "
              "or name revisions to export.", file=sys.stderr)
        return 1
    experiments = [(name, yaml.safe_load(dvc.api.read(args.summary, rev=name, repo=str(args.repo))),
                    yaml.safe_load(dvc.api.read(args.params, rev=name, repo=str(args.repo)))) for name in names]
    for path in write_results(results_table(experiments), args.out, args.xlsx):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
