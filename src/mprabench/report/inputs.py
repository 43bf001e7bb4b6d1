"""What report.md is made from, and where details.json keeps the reason of each missing value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mprabench.config import Params
from mprabench.plots.labels import RunContext
from mprabench.schema import CALIBRATION_CI_LEVEL, DETAILS_PER_FEATURE, SUMMARY_DESIGN


@dataclass(frozen=True)
class Links:
    """Artifact name (`figures/scatter.png`, `tables/strata_tf.csv`, `details.json`) -> link target.

    In the MLflow artifacts every file sits at its artifact name beside report.md, so the
    artifact copy uses the names as they are (`Links({})`); the repository copy maps each name
    to its path relative to the report.
    """

    targets: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, name: str) -> str:
        return self.targets.get(name, name)


@dataclass
class ReportInputs:
    settings: Params  # the typed params.yaml (config.load_params)
    context: RunContext
    qc: Mapping[str, Any]
    prediction: Mapping[str, Any]
    summary: Mapping[str, Any]
    details: Mapping[str, Any]
    calibration: Mapping[str, Any] | None
    qc_details: Mapping[str, Any] | None
    provenance: Mapping[str, Any] | None
    strata: Mapping[str, pd.DataFrame]
    figures: Sequence[str]  # artifact names, e.g. figures/scatter.png
    tables: Sequence[str]  # artifact names, e.g. tables/strata_tf.csv
    run_id: str
    tracking_uri: str
    tags: Mapping[str, str]
    detail_files: Sequence[str] = field(default_factory=list)

    @property
    def ci_level(self) -> float:
        """The level calibrate simulated (calibration.json), else evaluate.ci_level."""
        level = (self.calibration or {}).get(CALIBRATION_CI_LEVEL) or self.settings.evaluate.ci_level
        return float(level)


def design_of(summary: Mapping[str, Any]) -> Mapping[str, Any]:
    """summary.json's `design` block."""
    design = summary.get(SUMMARY_DESIGN) or {}
    return design if isinstance(design, Mapping) else {}


# Where evaluate writes each reason (evaluation.Evaluation.details): per_feature.<feature>.<block>.<key>.
# Keyed by the `reason` of each headline statistic (mprabench.headline).
REASON_KEYS = {
    "r": (("element_level", "r_reason"),),
    "p": (("element_level", "p_reason"),),
    "ci": (("element_level", "ci_reason"),),
    "within": (("within_element", "p_reason"), ("within_element", "reason"), ("within_element", "summary", "reason")),
    # leverage beside the element r (not headline statistics: details.json element_level only)
    "spearman": (("element_level", "spearman_p_reason"),),
    "spearman_ci": (("element_level", "spearman_ci_reason"), ("element_level", "spearman_p_reason")),
    "loo": (("element_level", "loo_reason"),),
}
SENSITIVITY_REASON_KEYS = {"r": "r_reason", "p": "p_reason", "ci": "ci_reason"}


def feature_details(details: Mapping[str, Any], feature: str) -> Mapping[str, Any]:
    """details.json's `per_feature.<feature>` block ({} when absent)."""
    block = (details.get(DETAILS_PER_FEATURE) or {}).get(feature)
    return block if isinstance(block, Mapping) else {}


def _at(node: Any, path: Sequence[str]) -> Any:
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def not_estimable_reason(details: Mapping[str, Any], feature: str, quantity: str, default: str | None = None) -> str:
    """Why `quantity` ('r', 'p', 'ci' of the element r, or 'within') of a feature is missing: details.json
    (else ``default``, e.g. the reason summary.json gives beside a withheld value)."""
    block = feature_details(details, feature)
    for path in REASON_KEYS[quantity]:
        reason = _at(block, path)
        if isinstance(reason, str) and reason.strip():
            return reason.strip().rstrip(".")
    return default or f"details.json gives no reason for the missing {quantity} value"
