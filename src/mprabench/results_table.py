"""One tidy table of headline results for a paper: one row per experiment and primary feature."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

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

COLUMNS = ("dataset", "experiment", "configuration", "predictor", "feature", "headline", "element_r", "ci_low",
           "ci_high", "ci_level", "p", "n_elements", "bonferroni_significant")


def tidy_rows(experiment: str, summary: Mapping[str, Any], params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of one experiment: its summary.json blocks with the params that name what ran.

    `experiment` is the DVC experiment (or revision) name; `configuration` the experiment bundle
    it ran (params `experiment.name`, e.g. v2); `headline` marks the run's headline feature (the one
    its predictor declares), so filtering on it gives one comparable row per experiment; a null
    statistic stays empty, never 0.
    """
    design = summary.get(SUMMARY_DESIGN) or {}
    shown = headline_feature(summary)
    rows = []
    for feature in primary_features(summary):
        block = summary[feature]
        rows.append({
            "dataset": params["dataset"]["name"],
            "experiment": experiment,
            "configuration": params["experiment"]["name"],
            "predictor": params["predictor"]["name"],
            "feature": feature,
            "headline": feature == shown,
            "element_r": block.get(ELEMENT_PEARSON_R),
            "ci_low": block.get(PEARSON_R_CI_LOW),
            "ci_high": block.get(PEARSON_R_CI_HIGH),
            "ci_level": params["evaluate"]["ci_level"],
            "p": block.get(ELEMENT_P),
            "n_elements": design.get("n_elements"),
            "bonferroni_significant": block.get(ELEMENT_BONFERRONI_SIGNIFICANT),
        })
    return rows


def results_table(experiments: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any]]]) -> pd.DataFrame:
    """(name, summary, params) per experiment, as one frame in COLUMNS order."""
    rows = [row for name, summary, params in experiments for row in tidy_rows(name, summary, params)]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def write_results(table: pd.DataFrame, csv: Path, xlsx: Path | None = None) -> list[Path]:
    """The CSV, and the same table as an Excel sheet when `xlsx` is given."""
    csv.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(csv, index=False)
    written = [csv]
    if xlsx is not None:
        xlsx.parent.mkdir(parents=True, exist_ok=True)
        table.to_excel(xlsx, index=False, sheet_name="results", engine="openpyxl")
        written.append(xlsx)
    return written
