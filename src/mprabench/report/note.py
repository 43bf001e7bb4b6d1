"""The MLflow run description (`mlflow.note.content`): what ran, the headline, its calibration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mprabench.config import CalibrationConfig
from mprabench.headline import primary_features, withheld_pearson
from mprabench.schema import (
    ELEMENT_P,
    ELEMENT_PEARSON_R,
    ELEMENT_SPEARMAN_P,
    ELEMENT_SPEARMAN_RHO,
    PEARSON_R_CI_HIGH,
    PEARSON_R_CI_LOW,
    SPEARMAN_CI_HIGH,
    SPEARMAN_CI_LOW,
)
from mprabench.plots.labels import RunContext
from mprabench.report.format import fmt, is_missing
from mprabench.report.inputs import feature_details, not_estimable_reason
from mprabench.report.results import calibration_sentence, refit_note, verdict_sentence


def headline_note(context: RunContext, summary: Mapping[str, Any], calibration: Mapping[str, Any] | None,
                  settings: CalibrationConfig, details: Mapping[str, Any] | None) -> str:
    """3–5 lines: what ran, the headline, its calibration (verdict by `settings`), any biosample mismatch."""
    features = primary_features(summary)
    estimable = [f for f in features if not is_missing(summary[f].get(ELEMENT_PEARSON_R))]
    lines = [
        (f"**{context.dataset} · experiment {context.experiment} · {context.predictor} · "
         f"{context.biosample_text}**"),
        verdict_sentence(summary, details),  # the report's first sentence too
    ]
    if estimable:
        best = max(estimable, key=lambda f: abs(summary[f][ELEMENT_PEARSON_R]))
        s = summary[best]
        withheld = withheld_pearson(s)
        if withheld:
            lines.append(f"Strongest: {context.feature_label(best)} r = {fmt(s[ELEMENT_PEARSON_R])} "
                         f"({'; '.join(f'{what} withheld, {reason}' for what, reason in withheld)}); "
                         f"{spearman_text(feature_details(details or {}, best).get('element_level') or {})}.")
        else:
            if is_missing(s.get(PEARSON_R_CI_LOW)) or is_missing(s.get(PEARSON_R_CI_HIGH)):
                interval = f"(no CI: {not_estimable_reason(details or {}, best, 'ci')})"
            else:
                interval = f"[{fmt(s[PEARSON_R_CI_LOW])}, {fmt(s[PEARSON_R_CI_HIGH])}]"
            p = (f"p = {fmt(s[ELEMENT_P])}" if not is_missing(s.get(ELEMENT_P))
                 else f"no p: {not_estimable_reason(details or {}, best, 'p')}")
            if feature_details(details or {}, best).get("trained_baseline") and not is_missing(s.get(ELEMENT_P)):
                p += refit_note(calibration)
            lines.append(f"Strongest: {context.feature_label(best)} r = {fmt(s[ELEMENT_PEARSON_R])} {interval}, {p}.")
    lines.append(calibration_sentence(calibration, settings))
    mismatch = context.mismatch()
    if mismatch:
        lines.append(f"Warning: {mismatch}")
    return "  \n".join(lines[:5])


def spearman_text(element: Mapping[str, Any]) -> str:
    """Spearman's rho with its interval and p (what the verdict rests on) from a feature's details.json
    `element_level` block (summary.json has them for the headline feature only)."""
    rho, low, high, p = (element.get(k) for k in (ELEMENT_SPEARMAN_RHO, SPEARMAN_CI_LOW, SPEARMAN_CI_HIGH,
                                                  ELEMENT_SPEARMAN_P))
    if is_missing(rho):
        return "Spearman ρ not estimable"
    interval = f" [{fmt(low)}, {fmt(high)}]" if not (is_missing(low) or is_missing(high)) else ""
    reason = element.get("spearman_p_reason")
    p_text = f"p = {fmt(p)}" if not is_missing(p) else f"no p: {reason}" if reason else "no p"
    return f"Spearman ρ = {fmt(rho)}{interval}, {p_text}"
