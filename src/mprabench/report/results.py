"""The result sections of report.md: headline, calibration, dropout sensitivity, within-element, trained baseline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mprabench.config import CalibrationConfig
from mprabench.headline import (
    ELEMENT_BONFERRONI_SIGNIFICANT,
    ELEMENT_P,
    ELEMENT_PEARSON_R,
    HEADLINE,
    PEARSON_R_CI_HIGH,
    PEARSON_R_CI_LOW,
    WITHIN_ELEMENT_R,
    HeadlineStatistic,
    bounds,
    primary_features,
)
from mprabench.plots.labels import target_label
from mprabench.report.format import UNKNOWN, Reasons, fmt, is_missing, plural, table
from mprabench.report.inputs import (
    SENSITIVITY_REASON_KEYS,
    Links,
    ReportInputs,
    design_of,
    not_estimable_reason,
)
from mprabench.schema import (
    CALIBRATION_ALPHA,
    CALIBRATION_CI_LEVEL,
    CALIBRATION_INTERVALS,
    CALIBRATION_N_REPLICATES,
    CALIBRATION_TESTS,
    DETAILS_ALPHA,
    DETAILS_PER_FEATURE,
    DETAILS_SENSITIVITY,
    DETAILS_TARGET,
    DETAILS_WITH_ZERO_RNA_DROPOUTS,
)
from mprabench.stats.calibration import calibration_misses
from mprabench.tracking import flatten

# The headline table's columns: every statistic of the contract shown in the report, an interval
# inside the cell of the statistic it bounds.
HEADLINE_COLUMNS = [s for s in HEADLINE if s.in_report_table and not s.bounds_of]


def headline_section(inputs: ReportInputs, reasons: Reasons) -> str:
    summary, details, ctx = inputs.summary, inputs.details, inputs.context
    design = design_of(summary)
    features = primary_features(summary)
    header = ["feature", *(column_label(s, inputs.ci_level) for s in HEADLINE_COLUMNS)]
    rows = [(f"{ctx.feature_label(feature)} (`{feature}`)",
             *(headline_cell(s, summary[feature], details, feature, reasons) for s in HEADLINE_COLUMNS))
            for feature in features]
    alpha = details.get(DETAILS_ALPHA, inputs.settings.evaluate.alpha)
    target = str(details.get(DETAILS_TARGET) or inputs.settings.evaluate.target)
    return (
        f"## Headline\n\nElement-level association (n = {fmt(design.get('n_elements'), none=UNKNOWN)} elements; "
        f"{fmt(design.get('n_unique_inputs'), none=UNKNOWN)} distinct model inputs, "
        f"{fmt(design.get('n_rows'), none=UNKNOWN)} rows): "
        f"Pearson r of the element-mean prediction against the element-mean {target_label(target)}, "
        f"its permutation p over elements, and "
        f"Bonferroni over the {plural(len(features), 'primary feature')} at α = {fmt(alpha, none=UNKNOWN)}.\n\n"
        + table(header, rows)
    )


def column_label(statistic: HeadlineStatistic, level: float) -> str:
    return f"{statistic.label} [{level:.0%} CI]" if bounds(statistic) else statistic.label


def headline_cell(statistic: HeadlineStatistic, values: Mapping[str, Any], details: Mapping[str, Any], feature: str,
                  reasons: Reasons) -> str:
    """A statistic's value (with its interval, if it has one), or n.e. with the reason from details.json."""
    where = f"`{feature}`"
    value = values.get(statistic.key)
    interval = bounds(statistic)
    if not interval or is_missing(value):  # no r, so no interval of it
        return reasons.cell(value, not_estimable_reason(details, feature, statistic.reason), where, statistic.digits)
    low, high = (values.get(b.key) for b in interval)
    if is_missing(low) or is_missing(high):
        reason = not_estimable_reason(details, feature, interval[0].reason)
        return f"{fmt(value, statistic.digits)} {reasons.mark(reason, where)}"
    return f"{fmt(value, statistic.digits)} [{fmt(low, statistic.digits)}, {fmt(high, statistic.digits)}]"


def calibration_sentence(calibration: Mapping[str, Any] | None, settings: CalibrationConfig) -> str:
    """'p-values calibrated for this design: type I 0.049 ± 0.007 (...)', 'NOT calibrated ...', or why there is none.

    Calibrated means every simulated type-I rate is within `settings.type_i_tolerance` of alpha and every
    coverage within `settings.coverage_tolerance` of the CI level (evaluate.calibration).
    """
    if not calibration:
        return ("Calibration: not measured for this run (no metrics/calibration.json), so the p-values "
                "and intervals above are not verified for this design.")
    alpha, n = calibration.get(CALIBRATION_ALPHA), calibration.get(CALIBRATION_N_REPLICATES)
    tests = calibration.get(CALIBRATION_TESTS) or {}
    intervals = calibration.get(CALIBRATION_INTERVALS) or {}
    level = calibration.get(CALIBRATION_CI_LEVEL)
    parts = [f"type I {fmt(t.get('type_I'), none=UNKNOWN)} ± {fmt(t.get('mcse'), none=UNKNOWN)} (`{k}`, "
             f"nominal {fmt(alpha, none=UNKNOWN)})" for k, t in tests.items() if isinstance(t, Mapping)]
    covered = [f"coverage {fmt(c.get('coverage'), none=UNKNOWN)} ± {fmt(c.get('mcse'), none=UNKNOWN)} (`{k}`, "
               f"nominal {fmt(level, none=UNKNOWN)})" for k, c in intervals.items() if isinstance(c, Mapping)]
    type_i, coverage = settings.type_i_tolerance, settings.coverage_tolerance
    tolerance = f"type I within ±{type_i} of α, coverage within ±{coverage} of the level"
    misses = calibration_misses(dict(calibration), type_i, coverage)
    if misses:
        failed = "; ".join(f"`{m.key}` {m.kind} {fmt(m.rate)} ± {fmt(m.mcse, none=UNKNOWN)} "
                           f"(nominal {fmt(m.nominal, none=UNKNOWN)})" for m in misses)
        sentence = (f"**NOT calibrated for this design:** {failed}. Read the affected p-values and intervals with "
                    "these rates in mind. All simulated: " + "; ".join(parts))
    else:
        sentence = "p-values calibrated for this design: " + ("; ".join(parts) or "no test calibrated")
    if covered:
        sentence += "; intervals: " + "; ".join(covered)
    return (sentence + f" — {fmt(n, none=UNKNOWN)} null simulations with the dataset's structure "
            f"(`{calibration.get('structure', UNKNOWN)}`; {tolerance}).")


def sensitivity_section(inputs: ReportInputs, reasons: Reasons) -> str:
    """The headline with zero-RNA dropout rows kept, next to the headline without them."""
    sensitivity = (inputs.details.get(DETAILS_SENSITIVITY) or {}) if isinstance(inputs.details, Mapping) else {}
    kept = sensitivity.get(DETAILS_WITH_ZERO_RNA_DROPOUTS) if isinstance(sensitivity, Mapping) else None
    heading = "## Headline with and without zero-RNA dropouts"
    if not isinstance(kept, Mapping) or not kept:
        return (f"{heading}\n\nNot computed: details.json has no `sensitivity.with_zero_rna_dropouts` "
                "(rows with 0 RNA reads but adequate plasmid reads are excluded as dropouts when the "
                "activity config says so; see Quality control).")
    headline_target = str(inputs.details.get(DETAILS_TARGET) or inputs.settings.evaluate.target)
    target, n_dropouts = str(kept.get("target") or headline_target), kept.get("n_dropout_rows")
    intro = (f"{fmt(kept.get('n_rows'), none=UNKNOWN)} rows, {fmt(n_dropouts, none=UNKNOWN)} of them flagged as "
             f"zero-RNA dropouts; the dropouts-kept columns use the target `{target}`")
    if n_dropouts == 0 and target == headline_target:
        return (f"{heading}\n\n{intro}. No row is a dropout and the target is the headline's, so the "
                "headline above already rests on every row: there is nothing to compare.")
    if target != headline_target:
        intro += f" (the element targets recomputed with the dropouts; the headline uses `{headline_target}`)"
    rows = []
    for feature in primary_features(inputs.summary):
        main, other = inputs.summary[feature], (kept.get(DETAILS_PER_FEATURE) or {}).get(feature)
        where = f"`{feature}` (dropouts kept)"
        other = other if isinstance(other, Mapping) else {}

        def kept_reason(quantity: str, values: Mapping[str, Any] = other) -> str:
            reason = values.get(SENSITIVITY_REASON_KEYS[quantity])
            return reason.strip().rstrip(".") if isinstance(reason, str) and reason.strip() else (
                "not in the sensitivity analysis of details.json")

        rows.append((
            inputs.context.feature_label(feature),
            reasons.cell(main.get(ELEMENT_PEARSON_R), not_estimable_reason(inputs.details, feature, "r"),
                         f"`{feature}`"),
            reasons.cell(main.get(ELEMENT_P), not_estimable_reason(inputs.details, feature, "p"), f"`{feature}`"),
            reasons.cell(other.get(ELEMENT_PEARSON_R), kept_reason("r"), where),
            reasons.cell(other.get(ELEMENT_P), kept_reason("p"), where),
        ))
    moves = moves_beyond_ci(inputs, kept)
    callout = ("\n\n> **The headline depends on excluding the dropouts:** keeping them moves element r by "
               "more than the half-width of its confidence interval for\n"
               + "\n".join(f"> - {line}" for line in moves)) if moves else ""
    return (f"{heading}\n\n{intro}.\n\n"
            + table(["feature", "element r, dropouts excluded", "element p, dropouts excluded",
                     "element r, dropouts kept", "element p, dropouts kept"], rows) + callout)


def moves_beyond_ci(inputs: ReportInputs, kept: Mapping[str, Any]) -> list[str]:
    """Primary features whose r with the dropouts kept lies further from the headline r than its CI half-width."""
    moves = []
    for feature in primary_features(inputs.summary):
        main = inputs.summary[feature]
        other = (kept.get(DETAILS_PER_FEATURE) or {}).get(feature) or {}
        r, r_kept = main.get(ELEMENT_PEARSON_R), other.get(ELEMENT_PEARSON_R)
        low, high = main.get(PEARSON_R_CI_LOW), main.get(PEARSON_R_CI_HIGH)
        if any(is_missing(v) for v in (r, r_kept, low, high)):
            continue  # no interval to judge the move by (e.g. a trained baseline has none)
        half_width = (high - low) / 2
        if abs(r_kept - r) > half_width:
            moves.append(f"{inputs.context.feature_label(feature)}: r {fmt(r)} → {fmt(r_kept)} "
                         f"(half-width {fmt(half_width)})")
    return moves


def verdict_sentence(summary: Mapping[str, Any], details: Mapping[str, Any] | None) -> str:
    """One sentence: how many primary features predict activity across elements (the Bonferroni flag)."""
    design = design_of(summary)
    features = primary_features(summary)
    flags = [summary[f].get(ELEMENT_BONFERRONI_SIGNIFICANT) for f in features]
    alpha = (details or {}).get(DETAILS_ALPHA)
    scope = (f"element-level permutation p, Bonferroni over {plural(len(features), 'primary feature')}"
             + (f" at α = {fmt(alpha)}" if alpha is not None else "")
             + f"; n = {fmt(design.get('n_elements'), none=UNKNOWN)} elements")
    significant = sum(flag is True for flag in flags)
    if significant:
        return (f"Verdict: {significant} of {plural(len(features), 'primary feature')} "
                f"{'predicts' if significant == 1 else 'predict'} activity across elements ({scope}).")
    if any(flag is False for flag in flags):
        return f"Verdict: no primary feature predicts activity across elements ({scope})."
    return f"Verdict: not estimable, no primary feature has an element-level p ({scope})."


def within_element_section(inputs: ReportInputs, links: Links) -> str:
    """Where the within-element effect stands: why it is missing, or where its per-element values are."""
    heading = "## Within-element effects (Δ relative to each element's wild type)"
    features = primary_features(inputs.summary)
    missing = [f for f in features if is_missing(inputs.summary[f].get(WITHIN_ELEMENT_R))]
    if features and len(missing) == len(features):
        reason = not_estimable_reason(inputs.details, features[0], "within")
        return f"{heading}\n\nNot estimable: {reason}."
    per_element = [n for n in inputs.tables if n.endswith("within_element.csv")]
    where = (f" Per-element correlations: [{per_element[0]}]({links(per_element[0])})." if per_element else "")
    return (f"{heading}\n\nOne correlation per element over its distinct inputs, pooled with random effects "
            f"across elements (headline columns `within-element r` and `p`).{where}")


def find_out_of_fold_r2(details: Mapping[str, Any]) -> list[tuple[str, float]]:
    """Every numeric leaf whose key names an out-of-fold R² (e.g. `oof_r2`, `out_of_fold_r2`)."""
    found = []
    for path, value in flatten(details, lists=False).items():
        name = path.lower()
        if (isinstance(value, (int, float)) and not isinstance(value, bool)
                and ("r2" in name or "r_squared" in name) and ("oof" in name or "out_of_fold" in name)):
            found.append((path, float(value)))
    return found


def trained_baseline_section(details: Mapping[str, Any]) -> str:
    values = find_out_of_fold_r2(details)
    if not values:
        return ""
    rows = [(f"`{path}`", fmt(value)) for path, value in values]
    return ("## Trained baseline: out-of-fold fit\n\nOut-of-fold R² (folds grouped by element; details.json):"
            "\n\n" + table(["quantity", "R²"], rows))
