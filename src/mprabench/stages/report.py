"""report: report.md from metrics and tables, and this run's one MLflow run (logged here only)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import yaml

from mprabench.config import load_params
from mprabench.files import require_writable, write_text_atomic
from mprabench.report import ReportInputs, render_report
from mprabench.stages._cli import run, stage_parser
from mprabench.tracking import commit_tags, mlflow_run, predictor_tags, repository_root


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    for name, help_text in (("qc", "QC metrics"), ("prediction", "prediction metrics"),
                            ("summary", "headline metrics"), ("details", "evaluation details")):
        parser.add_argument(f"--{name}", type=Path, required=True, help=f"{help_text} (JSON)")
    parser.add_argument("--tables", type=Path, required=True, help="folder of evaluation tables")
    parser.add_argument("--figures", type=Path, required=True, help="folder of figures")
    parser.add_argument("--lock", type=Path, required=True, help="dvc.lock, attached to the MLflow run")
    parser.add_argument("--report", type=Path, required=True, help="the report (Markdown)")
    parser.add_argument("--provenance", type=Path, default=None, help="the predict stage's provenance (JSON)")
    args = parser.parse_args(argv)
    typed = load_params(args.params)  # validates; the raw file is what gets logged
    require_writable(args.report)
    params = yaml.safe_load(args.params.read_text())
    metrics = {name: _json(getattr(args, name)) for name in ("qc", "prediction", "summary")}
    tables = sorted(args.tables.glob("*.csv"))
    figures = sorted(args.figures.glob("*.png"))
    root = repository_root(Path.cwd())
    tags = run_tags(params, root)
    tags |= predictor_tags(_json(args.provenance) if args.provenance else None)

    run_name = os.environ.get("DVC_EXP_NAME") or typed.experiment.name
    with mlflow_run(root, typed.tracking.local_store, typed.tracking.experiment_name, run_name) as tracked:
        tracked.log(params, metrics, tags)
        tracked.log_files("figures", figures)
        tracked.log_files("tables", tables)
        tracked.log_files(None, [p for p in (args.params, args.lock) if p.exists()])
        text = render_report(ReportInputs(
            params=params, qc=metrics["qc"], prediction=metrics["prediction"], summary=metrics["summary"],
            details=_json(args.details), strata=_strata(tables), figures=figures, report_path=args.report,
            run_id=tracked.run_id, tracking_uri=tracked.tracking_uri, tags=tags,
        ))
        write_text_atomic(args.report, text)
        tracked.log_files(None, [args.report])


def run_tags(params: dict, root: Path) -> dict[str, str]:
    """Git commit, DVC experiment name, and the checksums of the dataset files."""
    tags = {
        **commit_tags(root),
        "experiment": str(params["experiment"]["name"]),
        "predictor": str(params["predictor"]["name"]),
    }
    tags |= {f"dataset.sha256.{f['name']}": f["sha256"] for f in params["dataset"]["files"]}
    return tags


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _strata(tables: list[Path]) -> dict[str, pd.DataFrame]:
    return {p.stem.removeprefix("strata_"): pd.read_csv(p) for p in tables if p.stem.startswith("strata_")}


if __name__ == "__main__":
    run(main)
