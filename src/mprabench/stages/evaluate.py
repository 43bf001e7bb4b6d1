"""evaluate: every feature against activity, with effective sample size and element-aware statistics."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from mprabench.config import load_params
from mprabench.errors import ConfigError
from mprabench.evaluation import Evaluation, evaluate, evaluation_table, feature_columns
from mprabench.files import atomic_path, require_writable, write_json_atomic
from mprabench.plots.data import write_plot_data
from mprabench.plots.labels import read_provenance, run_context
from mprabench.plots.render import drawn_subset, render_figures
from mprabench.provenance import HEADLINE_FEATURE_KEY
from mprabench.schema import read_features, read_rows
from mprabench.stages._cli import run, stage_parser


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--rows", type=Path, required=True, help="benchmark rows (Parquet)")
    parser.add_argument("--features", type=Path, required=True, help="features per input (Parquet)")
    parser.add_argument("--training", type=Path, default=None,
                        help="trained-baseline fit statistics per feature (JSON from predict; optional)")
    parser.add_argument("--summary", type=Path, required=True, help="headline metrics (JSON)")
    parser.add_argument("--details", type=Path, required=True, help="methods, reasons, families (JSON)")
    parser.add_argument("--tables", type=Path, required=True, help="folder for strata and within-element tables")
    parser.add_argument("--figures", type=Path, required=True, help="folder for PNG figures")
    parser.add_argument("--roc", type=Path, required=True, help="ROC curve data for `dvc plots` (CSV)")
    parser.add_argument("--scatter", type=Path, required=True, help="scatter data for `dvc plots` (CSV)")
    parser.add_argument("--calibration", type=Path, default=None,
                        help="the calibrate stage's calibration.json: a p or interval it shows failing for this "
                             "design is withheld with the reason (without it nothing is withheld)")
    parser.add_argument("--provenance", type=Path, default=None,
                        help="the predict stage's provenance (JSON; figure subtitles say 'unknown' without it)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    config = params.evaluate
    require_writable(args.summary, args.details, args.tables, args.figures, args.roc, args.scatter)
    provenance = read_provenance(args.provenance)
    context = run_context(params, provenance)

    features = read_features(args.features)
    config.primary_features = primary_family(config.primary_features, feature_columns(features), args.features)
    table = evaluation_table(read_rows(args.rows), features, config.target)
    headline = headline_of(config.headline_feature, provenance, config.primary_features, args.provenance)
    evaluation = evaluate(table, feature_columns(features), config, read_training(args.training),
                          read_calibration(args.calibration))

    write_json_atomic(args.summary, evaluation.summary(headline))
    write_json_atomic(args.details, evaluation.details())
    write_tables(evaluation, args.tables)
    table, drawn = drawn_subset(table, evaluation, config.max_figure_features)
    render_figures(table, drawn, args.figures, config.dpi, context=context)
    write_plot_data(table, drawn, roc=args.roc, scatter=args.scatter, n_roc_points=config.roc_points)


def primary_family(configured: list[str] | None, available: list[str], source: Path) -> list[str]:
    """The Bonferroni family: evaluate.primary_features, every one of which the predictions must have."""
    if configured is None:
        return list(available)
    missing = [name for name in configured if name not in available]
    if missing:
        raise ConfigError(
            f"evaluate.primary_features lists {missing}, which the predictions ({source}) do not have; they "
            f"have {available}. Set evaluate.primary_features to the features to test, e.g. "
            f"`dvc exp run -S 'evaluate.primary_features=[{','.join(available[:2])}]'` (null: all of them)."
        )
    return list(configured)


def headline_of(configured: str | None, provenance: Mapping[str, Any] | None, family: list[str],
                source: Path | None) -> str:
    """The feature of summary.json's `headline` block: evaluate.headline_feature, else the one the
    predictor declared (provenance.json); it must be in the Bonferroni family."""
    declared = (provenance or {}).get(HEADLINE_FEATURE_KEY)
    feature = configured or declared
    if feature is None:
        raise ConfigError(f"no headline feature: {source or 'no --provenance given'} names none (its predictor "
                          f"declares one; rerun predict) and evaluate.headline_feature is null. Rerun the "
                          f"pipeline (`dvc exp run`), or set -S evaluate.headline_feature=<one of {family}>")
    if feature not in family:
        origin = "evaluate.headline_feature" if configured else f"the predictor's declared headline ({source})"
        raise ConfigError(f"{origin} is {feature!r}, which is not a primary feature {family}; add it to "
                          f"evaluate.primary_features or set -S evaluate.headline_feature=<one of them>")
    return feature


def read_training(path: Path | None) -> dict:
    """Per-feature trained-baseline statistics (element_p from the refit null); {} if none."""
    if path is None or not path.is_file():
        return {}
    return json.loads(path.read_text()).get("features", {})


def read_calibration(path: Path | None) -> dict | None:
    """calibration.json (the calibrate stage runs first); None when not given."""
    if path is None:
        return None
    if not path.is_file():
        raise ConfigError(f"{path}: no calibration (the calibrate stage writes it before evaluate); run "
                          "`dvc repro calibrate` or the whole pipeline (`dvc exp run`)")
    return json.loads(path.read_text())


def write_tables(evaluation: Evaluation, folder: Path) -> None:
    """One CSV per kind of stratum, and the per-element within-element effects."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind, strata in evaluation.strata.groupby("kind", sort=False):
        _write_csv(strata, folder / f"strata_{kind}.csv")
    _write_csv(evaluation.within_element_table(), folder / "within_element.csv")


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, index=False)


if __name__ == "__main__":
    run(main)
