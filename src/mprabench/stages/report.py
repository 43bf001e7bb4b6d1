"""report: report.md, the headline forest plot, and this run's one MLflow run (logged here only).

The report is written twice from one rendering function: the repository copy links figures and
tables by their paths relative to the report; the MLflow copy (artifact `report.md`) links them
by their artifact names (`figures/…`, `tables/…`), which sit beside it in the run's artifacts.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from mprabench.config import Params, experiment_name_for, load_params
from mprabench.files import require_writable, write_text_atomic
from mprabench.plots.forest import write_forest
from mprabench.plots.labels import RunContext, read_provenance, run_context
from mprabench.report.document import render_report
from mprabench.report.inputs import Links, ReportInputs
from mprabench.report.note import headline_note
from mprabench.report_html import self_contained_html
from mprabench.schema import CALIBRATION_INTERVALS, CALIBRATION_TESTS, SUMMARY_DESIGN
from mprabench.settings import as_plain
from mprabench.stages._cli import run, stage_parser
from mprabench.sources.locations import repository_root
from mprabench.tracking import (
    NOTE_TAG,
    TrackingError,
    bound_requests,
    commit_tags,
    displayed_uri,
    headline_metrics,
    mlflow_run,
    predictor_tags,
    tracking_uri,
)

FOREST_FIGURE_ARTIFACT = "figures/forest.png"
log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    for name, help_text in (("qc", "QC metrics"), ("prediction", "prediction metrics"),
                            ("summary", "headline metrics (summary.json contract)"),
                            ("details", "evaluation details")):
        parser.add_argument(f"--{name}", type=Path, required=True, help=f"{help_text} (JSON)")
    for name, help_text in (("calibration", "calibration of p-values and intervals"),
                            ("qc-details", "pool offsets, dropouts, motif mismatches"),
                            ("provenance", "the predict stage's provenance")):
        parser.add_argument(f"--{name}", type=Path, default=None, help=f"{help_text} (JSON; may be absent)")
    parser.add_argument("--calibration-figure", type=Path, default=None, help="QQ plot of the calibration (PNG)")
    parser.add_argument("--tables", type=Path, required=True, help="folder of evaluation tables")
    parser.add_argument("--figures", type=Path, required=True, help="folder of figures")
    parser.add_argument("--forest-csv", type=Path, required=True, help="forest plot data for `dvc plots` (CSV)")
    parser.add_argument("--forest-figure", type=Path, required=True, help="the headline forest plot (PNG)")
    parser.add_argument("--lock", type=Path, required=True, help="dvc.lock, attached to the MLflow run")
    parser.add_argument("--report", type=Path, required=True, help="the report (Markdown)")
    args = parser.parse_args(argv)
    settings = load_params(args.params)
    require_writable(args.report, args.forest_csv, args.forest_figure)
    metrics = {name: _json(getattr(args, name)) for name in ("qc", "prediction", "summary")}
    details = _json(args.details)
    calibration, qc_details = _optional_json(args.calibration), _optional_json(args.qc_details)
    provenance = read_provenance(args.provenance)
    context = run_context(settings, provenance)

    write_forest(metrics["summary"], context.experiment, context.feature_label, context.subtitle,
                 settings.evaluate.ci_level, args.forest_csv, args.forest_figure, settings.evaluate.dpi, details)
    files = artifact_files(args)
    root = repository_root().resolve()
    tags = run_tags(settings, root, context) | predictor_tags(provenance)
    tags[NOTE_TAG] = headline_note(context, metrics["summary"], calibration, settings.evaluate.calibration,
                                   details)
    selected, omitted = headline_metrics(
        [("headline", features_first(metrics["summary"])),
         ("headline.calibration", _calibration_metrics(calibration)),
         ("qc", metrics["qc"]), ("prediction", metrics["prediction"])], settings.tracking.max_metrics)
    tags["metrics_omitted"] = f"{omitted} (in the JSON artifacts)" if omitted else "0"

    run_name = os.environ.get("DVC_EXP_NAME") or settings.experiment.name

    def write_report(run_id: str, uri: str) -> ReportInputs:
        inputs = ReportInputs(
            settings=settings, context=context, qc=metrics["qc"], prediction=metrics["prediction"],
            summary=metrics["summary"], details=details, calibration=calibration, qc_details=qc_details,
            provenance=provenance, strata=_strata(args.tables),
            figures=[n for n in files if n.startswith("figures/")],
            tables=[n for n in files if n.startswith("tables/")],
            detail_files=[n for n in files if "/" not in n],
            run_id=run_id, tracking_uri=uri, tags=tags,
        )
        write_text_atomic(args.report, render_report(inputs, repository_links(files, args.report)))
        return inputs

    tracking = settings.tracking
    bound_requests(tracking.request_timeout_s, tracking.max_retries, tracking.backoff_factor)
    try:
        with mlflow_run(root, tracking.local_store, experiment_name_for(tracking, settings.dataset.name), run_name,
                        tracking.experiment_kind) as tracked:
            inputs = write_report(tracked.run_id, tracked.tracking_uri)
            tracked.log(as_plain(settings), selected, tags)
            for name, path in files.items():
                folder = name.rsplit("/", 1)[0] if "/" in name else None
                tracked.log_files(folder, [path])
            tracked.log_files(None, [p for p in (args.params, args.lock) if p.exists()])
            mlflow_report = render_report(inputs, Links())
            tracked.log_text(mlflow_report, "report.md")
            # What the MLflow UI can show with its figures (it prints Markdown as text).
            tracked.log_text(self_contained_html(mlflow_report, files, f"{context.dataset} · {run_name}"),
                             "report.html")
    except TrackingError as error:
        # report.md and the figures never depend on MLflow: rewrite the report without a run.
        write_report(f"not tracked: MLflow failed while {error.what} (the report stage's log says why)",
                     displayed_uri(tracking_uri(root, tracking.local_store)))
        if tracking.required:
            raise TrackingError(f"{error}. {args.report} and the figures were written; tracking.required=true "
                                "makes this an error (set it false to complete without tracking).", error.what) from None
        log.warning("tracking skipped: %s. %s and the figures were written; rerun the report stage "
                    "(`dvc repro -f -s report`) once MLflow works to log this run.", error, args.report)


def artifact_files(args: Any) -> dict[str, Path]:
    """Artifact name -> file for everything the report links: figures, tables, detail files."""
    files: dict[str, Path] = {f"figures/{p.name}": p for p in sorted(args.figures.glob("*.png"))}
    files[FOREST_FIGURE_ARTIFACT] = args.forest_figure
    if args.calibration_figure is not None and args.calibration_figure.is_file():
        files[f"figures/{args.calibration_figure.name}"] = args.calibration_figure
    files |= {f"tables/{p.name}": p for p in sorted(args.tables.glob("*.csv"))}
    for path in (args.details, args.calibration, args.qc_details, args.provenance, args.forest_csv):
        if path is not None and path.is_file():
            files[path.name] = path
    return files


def repository_links(files: dict[str, Path], report: Path) -> Links:
    """Each artifact name -> the file's path relative to the report in the repository."""
    return Links({name: Path(os.path.relpath(path.resolve(), report.resolve().parent)).as_posix()
                  for name, path in files.items()})


def run_tags(settings: Params, root: Path, context: RunContext) -> dict[str, str]:
    """Predictor, experiment, biosample, dataset in words; git commit, DVC name, data checksums."""
    tags = {
        **commit_tags(root),
        "predictor": context.predictor,
        "predictor.name": str(settings.predictor["name"]),
        "predictor.source": context.source,
        "experiment": context.experiment,
        "biosample": context.biosample_text,
        "dataset": context.dataset,
        "assay_biosample": context.assay_text,
    }
    mismatch = context.mismatch()
    if mismatch:
        tags["biosample_mismatch"] = mismatch
    for spec in settings.dataset.files:
        tags |= {f"dataset.{kind}.{spec.name}": getattr(spec, kind) for kind in ("sha256", "md5")
                 if getattr(spec, kind, None)}
    return tags


def features_first(summary: dict) -> dict:
    """The summary with its features before `design`, so MLflow's first metric (the one its compare
    view charts by default) is the first primary feature's element-level r."""
    return {k: v for k, v in summary.items() if k != SUMMARY_DESIGN} | (
        {SUMMARY_DESIGN: summary[SUMMARY_DESIGN]} if SUMMARY_DESIGN in summary else {})


def _calibration_metrics(calibration: dict | None) -> dict[str, Any]:
    """type I rates and coverages only (their MCSEs and the setup stay in calibration.json)."""
    if not calibration:
        return {}
    tests = {k: v.get("type_I") for k, v in (calibration.get(CALIBRATION_TESTS) or {}).items() if isinstance(v, dict)}
    covered = {k: v.get("coverage") for k, v in (calibration.get(CALIBRATION_INTERVALS) or {}).items()
               if isinstance(v, dict)}
    return {"type_I": tests, "coverage": covered}


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _optional_json(path: Path | None) -> dict | None:
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text())


def _strata(tables: Path) -> dict[str, pd.DataFrame]:
    return {p.stem.removeprefix("strata_"): pd.read_csv(p) for p in sorted(tables.glob("strata_*.csv"))}


if __name__ == "__main__":
    run(main)
