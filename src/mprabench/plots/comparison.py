"""Several experiments in one forest plot (scripts/compare_forest.py), titled by what they compare.

Each experiment is named with its params.yaml and metrics/summary.json. By default each one gives
one row, its shared `headline` block (the feature its predictor declares), so predictors with no
feature in common still line up; `per_feature` draws every primary feature instead, one row per
feature with the experiments side by side (a feature an experiment lacks is left blank).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mprabench.errors import InputDataError
from mprabench.headline import headline_feature
from mprabench.plots.forest import forest_columns, forest_row, forest_table
from mprabench.plots.labels import feature_label
from mprabench.schema import SUMMARY_DESIGN, SUMMARY_HEADLINE

HEADLINE_GROUP = "headline"  # the one marker group of the headline view (one row per experiment)


@dataclass(frozen=True)
class Compared:
    """One experiment (a DVC experiment, tag, branch or commit): its name, params and summary.json."""

    name: str
    params: Mapping[str, Any]
    summary: Mapping[str, Any]

    def setting(self, section: str, key: str) -> str:
        return str((self.params.get(section) or {}).get(key, "?"))

    def label(self, feature: str) -> str:
        features = (self.params.get("predictor") or {}).get("features")
        return feature_label(feature, features.get("center_width") if isinstance(features, Mapping) else None)


def headline_table(compared: Sequence[Compared]) -> pd.DataFrame:
    """One row per experiment: its headline block, labelled `<name>: <predictor> · <feature>`."""
    rows = []
    for item in compared:
        feature = headline_feature(item.summary)
        if feature is None:
            raise InputDataError(
                f"{item.name}: its metrics/summary.json has no `{SUMMARY_HEADLINE}` block (written before predictors "
                "declared a headline feature); rerun it (`dvc exp run`), or compare every feature with --per-feature")
        label = f"{item.name}: {item.setting('predictor', 'name')} · {item.label(feature)}"
        rows.append(forest_row(HEADLINE_GROUP, feature, label, item.summary[SUMMARY_HEADLINE]))
    return pd.DataFrame(rows, columns=forest_columns())


def per_feature_table(compared: Sequence[Compared]) -> pd.DataFrame:
    """One row per (experiment, primary feature); the experiments are the marker groups."""
    frames = [forest_table({item.name: item.summary}, item.label) for item in compared]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=forest_columns())


def comparison_subtitle(compared: Sequence[Compared]) -> str:
    """What is compared: the datasets, the experiments (configuration) and the predictors."""
    datasets = _distinct(item.setting("dataset", "name") for item in compared)
    predictors = _distinct(item.setting("predictor", "name") for item in compared)
    experiments = ", ".join(f"{item.name} ({item.setting('experiment', 'name')})" for item in compared)
    return (f"dataset{'s' * (len(datasets) > 1)}: {', '.join(datasets)} · predictor{'s' * (len(predictors) > 1)}: "
            f"{', '.join(predictors)} · experiments: {experiments}")


def n_elements_text(compared: Sequence[Compared]) -> str:
    counts = _distinct(str((item.summary.get(SUMMARY_DESIGN) or {}).get("n_elements", "?")) for item in compared)
    return " / ".join(counts)


def shared_ci_level(compared: Sequence[Compared]) -> float:
    """The experiments' evaluate.ci_level; they must agree, or one figure would mix intervals."""
    levels = {_float((item.params.get("evaluate") or {}).get("ci_level")) for item in compared}
    if len(levels) != 1 or not all(math.isfinite(v) for v in levels):
        raise InputDataError(f"the experiments' evaluate.ci_level differ or are missing ({sorted(levels)}); "
                             "compare experiments run with one ci_level")
    return levels.pop()


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan


def _distinct(values: Any) -> list[str]:
    return list(dict.fromkeys(values))
