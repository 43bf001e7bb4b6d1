"""Experiments' headline results as rows: the one reader of their summary.json and params, and the one row
model, shared by the paper table (scripts/export_results: every primary feature) and the leaderboard
(mprabench.leaderboard: one feature per experiment).

An experiment comes from `dvc exp show --json` (:func:`entries_from_dvc`), from named revisions
(:func:`entries_from_revisions`) or from run folders (:func:`entries_from_runs`); each gives
:class:`Entry` values, and :func:`result_rows` turns one into a row per primary feature.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mprabench.errors import BenchmarkError, InputDataError
from mprabench.headline import headline_feature, primary_features, withheld_reason
from mprabench.plots.labels import chosen_terms
from mprabench.schema import (
    ELEMENT_BONFERRONI_SIGNIFICANT,
    ELEMENT_P,
    ELEMENT_PEARSON_R,
    ELEMENT_SPEARMAN_P,
    ELEMENT_SPEARMAN_RHO,
    PEARSON_R_CI_HIGH,
    PEARSON_R_CI_LOW,
    SPEARMAN_CI_HIGH,
    SPEARMAN_CI_LOW,
    SUMMARY_DESIGN,
)

SUMMARY = "metrics/summary.json"
PARAMS = "params.yaml"
# The paper table's columns (scripts/export_results); a row also has `tracks` (the leaderboard shows it).
# `headline` marks the predictor's headline feature (summary.json's `headline` block): one comparable row each.
# `ci_reason` / `p_reason`: why the Pearson CI / p is empty where this design's calibration fails it (withheld);
# Spearman's rho, its interval and p (the verdict's) follow.
COLUMNS = ("dataset", "experiment", "configuration", "predictor", "feature", "headline", "element_r", "ci_low",
           "ci_high", "ci_level", "p", "ci_reason", "p_reason", "spearman_rho", "spearman_ci_low", "spearman_ci_high",
           "spearman_p", "n_elements", "bonferroni_significant")


@dataclass(frozen=True)
class Entry:
    """One experiment: its name (DVC experiment, revision or run folder), its params and its summary.json."""

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
    """Every experiment `dvc exp show` lists in `repository` (those of the current commit)."""
    shown = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=repository,
                           capture_output=True, text=True, check=False)
    if shown.returncode != 0:
        raise BenchmarkError(f"`dvc exp show --json` failed in {repository}: {shown.stderr.strip()}")
    return entries_from_exp_show(json.loads(shown.stdout))


def entries_from_revisions(repository: Path, revisions: Sequence[str]) -> list[Entry]:
    """Named DVC experiments or git revisions of `repository`, each read at that revision."""
    import dvc.api  # only this reader needs DVC's Python API (slow to import)

    def read(path: str, revision: str) -> Any:
        try:
            return yaml.safe_load(dvc.api.read(path, rev=revision, repo=str(repository)))
        except Exception as error:  # dvc raises several types for a missing revision or file
            raise InputDataError(f"{repository} at {revision!r}: cannot read {path} ({error}); name a DVC "
                                 "experiment (`dvc exp list`) or a revision that ran the pipeline") from None

    return [Entry(revision, read(PARAMS, revision), read(SUMMARY, revision)) for revision in revisions]


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


def result_rows(entry: Entry) -> list[dict[str, Any]]:
    """One row per primary feature of an experiment, in its summary.json's order; a statistic that is
    not estimable stays None (an empty cell), never 0."""
    design = entry.summary.get(SUMMARY_DESIGN) or {}
    described = {"dataset": param(entry, "dataset", "name"), "experiment": entry.name,
                 "configuration": param(entry, "experiment", "name"), "predictor": param(entry, "predictor", "name"),
                 "tracks": " ".join(chosen_terms(entry.params)) or "-"}
    ci_level = param(entry, "evaluate", "ci_level")
    shown = headline_feature(entry.summary)
    return [described | {
        "feature": feature, "headline": feature == shown,
        "element_r": block.get(ELEMENT_PEARSON_R), "ci_low": block.get(PEARSON_R_CI_LOW),
        "ci_high": block.get(PEARSON_R_CI_HIGH), "ci_level": ci_level, "p": block.get(ELEMENT_P),
        "ci_reason": withheld_reason(block, PEARSON_R_CI_LOW), "p_reason": withheld_reason(block, ELEMENT_P),
        "spearman_rho": block.get(ELEMENT_SPEARMAN_RHO), "spearman_ci_low": block.get(SPEARMAN_CI_LOW),
        "spearman_ci_high": block.get(SPEARMAN_CI_HIGH), "spearman_p": block.get(ELEMENT_SPEARMAN_P),
        "n_elements": design.get("n_elements"), "bonferroni_significant": block.get(ELEMENT_BONFERRONI_SIGNIFICANT),
    } for feature, block in ((f, entry.summary[f]) for f in primary_features(entry.summary))]


def param(entry: Entry, section: str, key: str) -> Any:
    value = (entry.params.get(section) or {}).get(key)
    if value is None:
        raise InputDataError(f"experiment {entry.name}: its params.yaml has no {section}.{key}; was it run by "
                             "this pipeline?")
    return value


def results_table(entries: Sequence[Entry]) -> pd.DataFrame:
    """Every experiment's rows as one frame in COLUMNS order (the paper table)."""
    rows = [row for entry in entries for row in result_rows(entry)]
    return pd.DataFrame(rows, columns=[*COLUMNS, "tracks"])[list(COLUMNS)]


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
