"""The headline forest plot of several revisions or DVC experiments, side by side, as one PNG.

`dvc plots diff v1 v2` draws the same comparison in the browser from plots/forest.csv; this
script writes a static figure for a paper or a slide, from each revision's summary.json:

    python scripts/compare_forest.py v1 v2                    # DVC experiment names, tags, commits
    python scripts/compare_forest.py v1 v2 --out plots/forest_v1_v2.png --csv plots/forest_v1_v2.csv

Feature labels and the subtitle come from the same label table and run context as every other
figure (params.yaml and provenance.json of the workspace).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import dvc.api
import matplotlib as mpl

from mprabench.config import load_params
from mprabench.plots.forest import forest_figure, forest_table, write_forest_csv
from mprabench.plots.labels import read_provenance, run_context
from mprabench.plots.layout import save_figure
from mprabench.plots.style import RC_PARAMS

REPOSITORY = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("revisions", nargs="+", help="DVC experiment names, git tags, branches or commits")
    parser.add_argument("--summary", default="metrics/summary.json", help="the headline metrics file")
    parser.add_argument("--provenance", type=Path, default=REPOSITORY / "data/predictions/provenance.json")
    parser.add_argument("--out", type=Path, default=REPOSITORY / "plots/forest_comparison.png")
    parser.add_argument("--csv", type=Path, default=None, help="also write the compared rows as CSV")
    parser.add_argument("--dpi", type=int, default=150)
    args = parser.parse_args(argv)

    settings = load_params(REPOSITORY / "params.yaml")
    context = run_context(settings, read_provenance(args.provenance))
    summaries = {rev: dvc.api.metrics_show(args.summary, rev=rev, repo=str(REPOSITORY))
                 for rev in args.revisions}
    frame = forest_table(summaries, context.feature_label)
    n_elements = sorted({str((s.get("design") or {}).get("n_elements", "?")) for s in summaries.values()})
    subtitle = (f"{context.dataset} · {' vs '.join(args.revisions)} · predictor: {context.predictor} · "
                f"biosample: {context.biosample_text}")
    with mpl.rc_context(RC_PARAMS):
        figure = forest_figure(frame, subtitle, " / ".join(n_elements), settings.evaluate.ci_level)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        print(save_figure(figure, args.out, args.dpi))
    if args.csv:
        print(write_forest_csv(frame, args.csv))


if __name__ == "__main__":
    main()
