"""The result sections of report.md: headline, calibration, dropout sensitivity, within-element, trained baseline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mprabench.config import CalibrationConfig
from mprabench.headline import (
    HEADLINE,
    HeadlineStatistic,
    bounds,
    calibration_key,
    headline_feature,
    primary_features,
    report_columns,
    withheld_reason,
)
from mprabench.plots.labels import target_label
from mprabench.plots.style import NOT_ESTIMABLE
from mprabench.readers.registry import layout_of
from mprabench.report.format import UNKNOWN, WITHHELD, Reasons, fmt, is_missing, plural, table
from mprabench.report.inputs import (
    SENSITIVITY_REASON_KEYS,
    Links,
    ReportInputs,
    design_of,
    feature_details,
    not_estimable_reason,
)
from mprabench.schema import (
    CALIBRATION_ALPHA,
    CALIBRATION_CI_LEVEL,
    CALIBRATION_FAMILYWISE,
    CALIBRATION_FLAGS,
    CALIBRATION_INTERVALS,
    CALIBRATION_TESTS,
    DETAILS_ALPHA,
    DETAILS_ORIENTATION,
    DETAILS_PER_FEATURE,
    DETAILS_SENSITIVITY,
    DETAILS_TARGET,
    DETAILS_WITH_ZERO_RNA_DROPOUTS,
    ELEMENT_BONFERRONI_SIGNIFICANT,
    ELEMENT_NEGLOG10_P,
    ELEMENT_P,
    ELEMENT_PEARSON_R,
    ELEMENT_R_CI,
    ELEMENT_SPEARMAN_P,
    ELEMENT_SPEARMAN_RHO,
    LOO_R_MAX,
    LOO_R_MIN,
    LOO_VERDICT_CHANGERS,
    ORIENTATION_NULL,
    ORIENTATION_P,
    ORIENTATION_R_CI,
    PEARSON_R_CI_HIGH,
    PEARSON_R_CI_LOW,
    REFIT_ELEMENT_P,
    SPEARMAN_CI_HIGH,
    SPEARMAN_CI_LOW,
    SPEARMAN_RHO_CI,
    WITHIN_ELEMENT_P,
    WITHIN_ELEMENT_R,
)
from mprabench.stats.calibration_verdict import calibration_misses, worst_nulls
from mprabench.tracking import flatten

HEADLINE_BY_KEY = {s.key: s for s in HEADLINE}
# Leverage beside the element r (details.json element_level), shown after this headline column.
LEVERAGE_AFTER = ELEMENT_NEGLOG10_P
LEVERAGE_LABELS = ["Spearman ρ [{level:.0%} CI] (p)", "leave-one-out r"]
# The calibration.json keys of the leverage columns (their "not calibrated" mark)
LEVERAGE_NULLS = ((SPEARMAN_RHO_CI, ELEMENT_SPEARMAN_P), ())


def headline_section(inputs: ReportInputs, reasons: Reasons) -> str:
    summary, details, ctx = inputs.summary, inputs.details, inputs.context
    design = design_of(summary)
    features = primary_features(summary)
    uncalibrated = uncalibrated_statistics(inputs)
    header, columns = ["feature"], report_columns()
    trained = {bool(feature_details(details, f).get("trained_baseline")) for f in features}
    for s in columns:  # the check of each feature's value (a trained baseline's p: its refit null)
        keys = tuple(dict.fromkeys(calibration_key(s, t) for t in sorted(trained))) or (s.null.key,)
        header.append(column_label(s, inputs.ci_level) + not_calibrated_mark(keys, uncalibrated))
        if s.key == LEVERAGE_AFTER:
            header += [label.format(level=inputs.ci_level) + not_calibrated_mark(keys, uncalibrated)
                       for label, keys in zip(LEVERAGE_LABELS, LEVERAGE_NULLS)]
    rows, changed = [], []
    shown = headline_feature(summary)
    for feature in features:
        row = [f"{ctx.feature_label(feature)} (`{feature}`{', headline' if feature == shown else ''})"]
        for s in columns:
            row.append(headline_cell(s, summary[feature], details, feature, reasons, refit_note(inputs.calibration)))
            if s.key == LEVERAGE_AFTER:
                row += leverage_cells(details, feature, reasons)
        rows.append(row)
        changers = (feature_details(details, feature).get("element_level") or {}).get(LOO_VERDICT_CHANGERS)
        if changers:
            changed.append(f"{ctx.feature_label(feature)}: without {', '.join(f'`{e}`' for e in changers)}")
    alpha = details.get(DETAILS_ALPHA, inputs.settings.evaluate.alpha)
    target = str(details.get(DETAILS_TARGET) or inputs.settings.evaluate.target)
    text = (
        f"## Headline\n\nElement-level association (n = {fmt(design.get('n_elements'), none=UNKNOWN)} elements; "
        f"{fmt(design.get('n_unique_inputs'), none=UNKNOWN)} distinct model inputs, "
        f"{fmt(design.get('n_rows'), none=UNKNOWN)} rows): "
        f"Pearson r of the element-mean prediction against the element-mean {target_label(target)}, "
        f"its permutation p over elements, Spearman's ρ of the same means with its own permutation p, and the "
        f"range of r leaving out one element at a time. The verdict is Bonferroni over the "
        f"{plural(len(features), 'primary feature')} at α = {fmt(alpha, none=UNKNOWN)} on the Spearman p (a trained "
        f"baseline: its refit-null p): in the null simulations one high-leverage element made the Pearson p reject "
        f"far too often, where the rank-based p held.\n\n"
        + table(header, rows)
    )
    if shown is not None:
        text += (f"\n\nThe predictor's headline feature, the one it is compared by across predictors, is `{shown}`: "
                 "summary.json repeats its numbers in the block `headline` (`dvc exp show`, `dvc metrics diff`).")
    if changed:
        text += ("\n\nOne element changes the verdict: " + "; ".join(changed)
                 + " (the verdict flips when that element is left out).")
    return text


def uncalibrated_statistics(inputs: ReportInputs) -> dict[str, str | None]:
    """calibration.json key -> the null where its worst case misses the tolerance (evaluate.calibration)."""
    if not inputs.calibration:
        return {}
    settings = inputs.settings.evaluate.calibration
    return {m.key: m.null for m in calibration_misses(dict(inputs.calibration), settings.type_i_tolerance,
                                                      settings.coverage_tolerance)}


def not_calibrated_mark(keys: Sequence[str], uncalibrated: Mapping[str, str | None]) -> str:
    """' (not calibrated: `null`)' for a column whose p or interval misses its tolerance, else ''."""
    nulls = [f"`{uncalibrated[k]}`" for k in keys if k in uncalibrated]
    return f" (not calibrated: {', '.join(dict.fromkeys(nulls))})" if nulls else ""


def leverage_cells(details: Mapping[str, Any], feature: str, reasons: Reasons) -> list[str]:
    """Spearman ρ [its interval] (its permutation p) and the leave-one-element-out range of r, or n.e. with
    the reason."""
    where = f"`{feature}`"
    element = feature_details(details, feature).get("element_level") or {}
    spearman_reason = not_estimable_reason(details, feature, "spearman")
    rho = element.get(ELEMENT_SPEARMAN_RHO)
    ci_low, ci_high = element.get(SPEARMAN_CI_LOW), element.get(SPEARMAN_CI_HIGH)
    interval = (f" [{fmt(ci_low)}, {fmt(ci_high)}]" if not is_missing(ci_low) and not is_missing(ci_high)
                else "" if "spearman_ci_reason" not in element
                else f" {reasons.mark(str(element.get('spearman_ci_reason') or 'not in details.json'), where)}")
    spearman = (f"{fmt(rho)}{interval} ({reasons.cell(element.get(ELEMENT_SPEARMAN_P), spearman_reason, where)})"
                if not is_missing(rho) else reasons.mark(spearman_reason, where))
    low, high = element.get(LOO_R_MIN), element.get(LOO_R_MAX)
    loo = (f"{fmt(low)} to {fmt(high)}" if not is_missing(low)
           else reasons.mark(not_estimable_reason(details, feature, "loo"), where))
    return [spearman, loo]


def column_label(statistic: HeadlineStatistic, level: float) -> str:
    return f"{statistic.label} [{level:.0%} CI]" if bounds(statistic) else statistic.label


def refit_note(calibration: Mapping[str, Any] | None) -> str:
    """Beside a trained baseline's p: its refit null, and whether calibrate simulated it (calibration.json)."""
    simulated = REFIT_ELEMENT_P in ((calibration or {}).get(CALIBRATION_TESTS) or {})
    return f" (refit null; calibration: `{REFIT_ELEMENT_P}`)" if simulated else " (refit null; not simulated)"


def headline_cell(statistic: HeadlineStatistic, values: Mapping[str, Any], details: Mapping[str, Any], feature: str,
                  reasons: Reasons, trained_note: str = " (refit null; not simulated)") -> str:
    """A statistic's value (with its interval, if it has one), or n.e. with the reason from details.json."""
    value = values.get(statistic.key)
    interval = bounds(statistic)
    if not interval or is_missing(value):  # no r, so no interval of it
        if not is_missing(value):
            cell = fmt(value, statistic.digits)
        else:
            cell = missing_mark(statistic, values, details, feature, reasons)
        # A trained baseline's p is its refit null: say so beside it, and whether calibrate simulated it.
        if statistic.key == ELEMENT_P and not is_missing(value) and feature_details(details, feature).get(
                "trained_baseline"):
            cell += trained_note
        return cell
    low, high = (values.get(b.key) for b in interval)
    if is_missing(low) or is_missing(high):
        mark = missing_mark(interval[0], values, details, feature, reasons)
        return f"{fmt(value, statistic.digits)} [{mark}]" if mark.startswith(WITHHELD) else (
            f"{fmt(value, statistic.digits)} {mark}")
    return f"{fmt(value, statistic.digits)} [{fmt(low, statistic.digits)}, {fmt(high, statistic.digits)}]"


def missing_mark(statistic: HeadlineStatistic, values: Mapping[str, Any], details: Mapping[str, Any], feature: str,
                 reasons: Reasons) -> str:
    """A missing value's mark: `withheld (x)` where this design's calibration fails its check (the reason
    summary.json gives beside it, `<check>_reason`), else `n.e. (x)` with why it is not estimable (details.json)."""
    withheld = withheld_reason(values, statistic.key)
    if withheld:
        return reasons.mark(withheld, f"`{feature}`", WITHHELD)
    return reasons.mark(not_estimable_reason(details, feature, statistic.reason), f"`{feature}`")


def calibration_sentence(calibration: Mapping[str, Any] | None, settings: CalibrationConfig) -> str:
    """'calibrated for this design: ...' only when every worst case over the null family is within
    tolerance; otherwise each failing statistic with the null where it fails; or why there is none.

    Within tolerance (evaluate.calibration): type-I rate within `settings.type_i_tolerance` of alpha,
    coverage within `settings.coverage_tolerance` of the CI level, a flag rate at most alpha + the type-I
    tolerance. Statistics calibrate does not simulate for this design are not in calibration.json; the
    report marks them "not simulated".
    """
    if not calibration:
        return ("Calibration: not simulated for this run (no metrics/calibration.json), so the p-values "
                "and intervals above are not verified for this design.")
    alpha, level = calibration.get(CALIBRATION_ALPHA), calibration.get(CALIBRATION_CI_LEVEL)
    tests = calibration.get(CALIBRATION_TESTS) or {}
    intervals = calibration.get(CALIBRATION_INTERVALS) or {}
    flags = calibration.get(CALIBRATION_FLAGS) or {}
    type_i, coverage = settings.type_i_tolerance, settings.coverage_tolerance
    misses = calibration_misses(dict(calibration), type_i, coverage)
    failing = {m.key for m in misses}
    nulls = worst_nulls(dict(calibration))
    held = ([f"`{k}` type I {_rate(t, 'type_I', nulls.get(f'{CALIBRATION_TESTS}.{k}'))}"
             for k, t in tests.items() if k not in failing]
            + [f"`{k}` coverage {_rate(c, 'coverage', nulls.get(f'{CALIBRATION_INTERVALS}.{k}'))}"
               for k, c in intervals.items() if k not in failing]
            + [f"`{k}` family-wise rate {_rate(f, CALIBRATION_FAMILYWISE, nulls.get(f'{CALIBRATION_FLAGS}.{k}'))}"
               for k, f in flags.items() if k not in failing])
    tolerance = (f"type I within ±{type_i} of α = {fmt(alpha, none=UNKNOWN)}, coverage within ±{coverage} "
                 f"of {fmt(level, none=UNKNOWN)}, flag rates at most α + {type_i}")
    scope = (f"worst case per statistic over the family of null simulations with this dataset's structure "
             f"(metrics/calibration_details.json; {tolerance})")
    if not misses:
        return f"p-values and intervals calibrated for this design, {scope}: " + "; ".join(held) + "."
    failed = "; ".join(f"`{m.key}` {m.kind} {fmt(m.rate)} ± {fmt(m.mcse, none=UNKNOWN)} under the null `{m.null}` "
                       f"(nominal {'at most ' if m.kind == 'flag rate' else ''}{fmt(m.nominal, none=UNKNOWN)})"
                       for m in misses)
    headline = {s.null.key for s in HEADLINE} | {calibration_key(s, trained=True) for s in HEADLINE}
    withheld = [f"`{m.key}`" for m in misses if m.key in headline]
    others = [f"`{m.key}`" for m in misses if m.key not in headline]
    consequence = ((f"The headline's {', '.join(withheld)} {'is' if len(withheld) == 1 else 'are'} withheld: "
                    "summary.json gives the reason beside each (`<check>_reason`) and the table marks the cell "
                    "withheld; Spearman's ρ, its interval and p stand in their place where they held. ")
                   if withheld else "")
    consequence += (f"Where {', '.join(others)} {'is' if len(others) == 1 else 'are'} printed (not in the headline), "
                    + ("read it as a description, not as a test or an interval. " if len(others) == 1 else
                       "read them as descriptions, not as tests or intervals. ") if others else "")
    return (f"**Not calibrated for this design** ({scope}): {failed}. {consequence}"
            + ("Within tolerance in every null: " + "; ".join(held) + "." if held else ""))


def _rate(entry: Any, key: str, null: str | None) -> str:
    """'0.052 ± 0.005 (worst: null `t2_noise`)' from a calibration.json entry and its worst null."""
    if not isinstance(entry, Mapping):
        return "not simulated"
    return f"{fmt(entry.get(key), none=UNKNOWN)} ± {fmt(entry.get('mcse'), none=UNKNOWN)} (worst: null `{null}`)"


def calibration_section(inputs: ReportInputs) -> str:
    """The calibration sentence, then every statistic the headline prints that calibrate did not simulate."""
    calibration = inputs.calibration
    text = calibration_sentence(calibration, inputs.settings.evaluate.calibration)
    simulated = (set((calibration or {}).get(CALIBRATION_TESTS) or {})
                 | set((calibration or {}).get(CALIBRATION_INTERVALS) or {}))
    missing = [key for key in printed_statistics(inputs.summary, inputs.details) if key not in simulated]
    if calibration and missing:
        text += (" Not simulated for this design, so not called calibrated: "
                 + ", ".join(f"`{key}`" for key in missing) + ".")
    return text


def printed_statistics(summary: Mapping[str, Any], details: Mapping[str, Any]) -> Sequence[str]:
    """The calibration keys of the p-values and intervals the headline table prints for some feature
    (a trained baseline's p: its refit null, `refit_element_p`)."""
    features = primary_features(summary)
    plain = [f for f in features if not feature_details(details, f).get("trained_baseline")]
    trained = [f for f in features if feature_details(details, f).get("trained_baseline")]
    element = {f: feature_details(details, f).get("element_level") or {} for f in plain}
    shown = {
        ELEMENT_P: any(not is_missing(summary[f].get(ELEMENT_P)) for f in plain),
        ELEMENT_SPEARMAN_P: any(not is_missing(element[f].get(ELEMENT_SPEARMAN_P)) for f in plain),
        WITHIN_ELEMENT_P: any(not is_missing(summary[f].get(WITHIN_ELEMENT_P)) for f in plain),
        ELEMENT_R_CI: any(not is_missing(summary[f].get(PEARSON_R_CI_LOW)) for f in plain),
        SPEARMAN_RHO_CI: any(not is_missing(element[f].get(SPEARMAN_CI_LOW)) for f in plain),
        REFIT_ELEMENT_P: any(not is_missing(summary[f].get(ELEMENT_P)) for f in trained),
    }
    for s in HEADLINE:  # a statistic of the contract simulated through its own function (headline.NullCheck)
        if s.null.simulate is not None and s.null.kind in (CALIBRATION_TESTS, CALIBRATION_INTERVALS):
            shown[s.null.key] = shown.get(s.null.key) or any(not is_missing(summary[f].get(s.key)) for f in plain)
    return [key for key, printed in shown.items() if printed]


def sensitivity_section(inputs: ReportInputs, reasons: Reasons) -> str:
    """The headline with zero-RNA dropout rows kept, next to the headline without them."""
    sensitivity = (inputs.details.get(DETAILS_SENSITIVITY) or {}) if isinstance(inputs.details, Mapping) else {}
    kept = sensitivity.get(DETAILS_WITH_ZERO_RNA_DROPOUTS) if isinstance(sensitivity, Mapping) else None
    heading = "## Headline with and without zero-RNA dropouts"
    if not layout_of(inputs.settings.dataset).read_counts:
        return (f"{heading}\n\nNot applicable: {inputs.context.dataset} gives activity as measured, without RNA "
                "and DNA read counts, so no row can be a zero-RNA dropout; the headline rests on every row.")
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

        kept_p = kept_reason("p")
        rows.append((
            inputs.context.feature_label(feature),
            reasons.cell(main.get(ELEMENT_PEARSON_R), not_estimable_reason(inputs.details, feature, "r"),
                         f"`{feature}`"),
            fmt(main[ELEMENT_P]) if not is_missing(main.get(ELEMENT_P)) else missing_mark(
                HEADLINE_BY_KEY[ELEMENT_P], main, inputs.details, feature, reasons),
            reasons.cell(other.get(ELEMENT_PEARSON_R), kept_reason("r"), where),
            reasons.cell(other.get(ELEMENT_P), kept_p, where,
                         label=WITHHELD if kept_p.startswith("not calibrated") else NOT_ESTIMABLE),
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
    scope = (f"element-level Spearman permutation p (a trained baseline: its refit-null p), Bonferroni over {plural(len(features), 'primary feature')}"
             + (f" at α = {fmt(alpha)}" if alpha is not None else "")
             + f"; n = {fmt(design.get('n_elements'), none=UNKNOWN)} elements")
    significant = sum(flag is True for flag in flags)
    withheld = next((r for f in features if (r := withheld_reason(summary[f], ELEMENT_BONFERRONI_SIGNIFICANT))), None)
    if withheld and not significant and not any(flag is False for flag in flags):
        return f"Verdict: withheld, {withheld} ({scope})."
    if significant:
        return (f"Verdict: {significant} of {plural(len(features), 'primary feature')} "
                f"{'predicts' if significant == 1 else 'predict'} activity across elements ({scope}).")
    if any(flag is False for flag in flags):
        return f"Verdict: no primary feature predicts activity across elements ({scope})."
    return f"Verdict: not estimable, no primary feature has an element-level p ({scope})."


def within_element_section(inputs: ReportInputs, links: Links) -> str:
    """Where the within-element effect stands: why it is missing, or where its per-element values are."""
    heading = "## Within-element effects"
    features = primary_features(inputs.summary)
    missing = [f for f in features if is_missing(inputs.summary[f].get(WITHIN_ELEMENT_R))]
    if features and len(missing) == len(features):
        reason = not_estimable_reason(inputs.details, features[0], "within")
        text = f"{heading}\n\nNot estimable: {reason}."
        if inputs.details.get(DETAILS_ORIENTATION):  # two inputs per element: too few for an r within it
            text += (" Here an element's distinct inputs are its orientations, too few for a correlation within "
                     "one element: the orientation analysis below is this dataset's within-element test.")
        return text
    per_element = [n for n in inputs.tables if n.endswith("within_element.csv")]
    where = (f" Per-element correlations: [{per_element[0]}]({links(per_element[0])})." if per_element else "")
    return (f"{heading}\n\nOne correlation per element over its distinct inputs (e.g. the designed variants of "
            f"one element), pooled across elements by a one-sample t-test of the per-element Fisher z (headline "
            f"columns `within-element r` and `p`).{where}")


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


def orientation_section(inputs: ReportInputs, reasons: Reasons) -> str:
    """Where the dataset measures elements in both orientations: the model's forward − reverse effect
    against the measured one (details.json `orientation`), its calibration and a sentence per feature."""
    orientation = inputs.details.get(DETAILS_ORIENTATION) if isinstance(inputs.details, Mapping) else None
    if not isinstance(orientation, Mapping) or not orientation:
        return ""
    features = [f for f in primary_features(inputs.summary) if isinstance(orientation.get(f), Mapping)]
    if not features:
        return ""
    ctx, level = inputs.context, inputs.ci_level
    alpha = inputs.details.get(DETAILS_ALPHA, inputs.settings.evaluate.alpha)
    n_pairs = max(int(orientation[f].get("n_elements") or 0) for f in features)
    rows, sentences = [], []
    for feature in features:
        effect, where = orientation[feature], f"`{feature}` (orientation)"
        r, p, low, high = (effect.get(k) for k in ("r", "p", "ci_low", "ci_high"))
        reason = str(effect.get("reason") or "details.json gives no reason for the missing orientation r").rstrip(".")
        if is_missing(r):
            rows.append((ctx.feature_label(feature), fmt(effect.get("n_elements"), none=UNKNOWN),
                         reasons.mark(reason, where), reasons.mark(reason, where)))
            sentences.append(f"- **{ctx.feature_label(feature)}**: not estimable ({reason}).")
            continue
        interval = (f"[{fmt(low)}, {fmt(high)}]" if not (is_missing(low) or is_missing(high))
                    else reasons.mark("no interval in details.json", where))
        rows.append((ctx.feature_label(feature), fmt(effect.get("n_elements"), none=UNKNOWN),
                     f"{fmt(r)} {interval}", reasons.cell(p, reason, where)))
        sentences.append(f"- **{ctx.feature_label(feature)}**: " + orientation_reading(r, p, alpha, interval))
    text = (
        f"## Orientation: does the model tell which orientation is more active?\n\n"
        f"{ctx.dataset} measures {plural(n_pairs, 'element')} in both orientations. Per element, the model's "
        f"forward − reverse difference is set against the measured forward − reverse difference; the table gives "
        f"their Pearson r across elements with its {level:.0%} Fisher-z CI (n = elements measured in both "
        f"orientations) and a permutation p over elements. Each element contributes one difference, so the "
        f"element stays the unit of replication. The headline averages both orientations of an element and "
        f"cannot see this. These p-values are not in the verdict and not corrected for the number of features.\n\n"
        + table(["feature", "elements in both orientations", f"orientation r [{level:.0%} CI]", "permutation p"], rows)
        + "\n\n" + "\n".join(sentences)
        + "\n\n" + orientation_calibration(inputs.calibration, inputs.settings.evaluate.calibration)
    )
    return text


def orientation_reading(r: float, p: float | None, alpha: float, interval: str) -> str:
    """One sentence a reader can act on: follows, runs against, or shows no detectable relation."""
    numbers = f"r = {fmt(r)} {interval}, p = {fmt(p)}"
    if is_missing(p) or p > alpha:
        return (f"no detectable relation between the model's orientation effect and the measured one ({numbers}; "
                f"p > α = {fmt(alpha)}): it does not tell which orientation of an element is measured more active.")
    if r > 0:
        return (f"the model's orientation effect follows the measured one ({numbers}): where an element is "
                f"measured more active forward than reverse, the model also predicts it higher forward.")
    return (f"the model's orientation effect runs against the measured one ({numbers}): it predicts the "
            f"orientation measured as less active to be the more active one.")


def orientation_calibration(calibration: Mapping[str, Any] | None, settings: CalibrationConfig) -> str:
    """Whether calibrate checked the orientation p and CI on this dataset's pairs, in one sentence."""
    tests = (calibration or {}).get(CALIBRATION_TESTS) or {}
    intervals = (calibration or {}).get(CALIBRATION_INTERVALS) or {}
    if not calibration or ORIENTATION_P not in tests:
        why = "no metrics/calibration.json" if not calibration else "calibration.json has no `orientation_p`"
        return (f"Calibration: not simulated ({why}), so this p and interval are not verified for this "
                f"dataset's pairs.")
    misses = {m.key: m for m in calibration_misses(dict(calibration), settings.type_i_tolerance,
                                                     settings.coverage_tolerance)}
    alpha, level = calibration.get(CALIBRATION_ALPHA), calibration.get(CALIBRATION_CI_LEVEL)
    null = worst_nulls(dict(calibration)).get(f"{CALIBRATION_TESTS}.{ORIENTATION_P}", ORIENTATION_NULL)
    parts = [f"type-I rate {fmt(tests[ORIENTATION_P].get('type_I'))} ± {fmt(tests[ORIENTATION_P].get('mcse'))} "
             f"at α = {fmt(alpha, none=UNKNOWN)}"]
    if ORIENTATION_R_CI in intervals:
        parts.append(f"CI coverage {fmt(intervals[ORIENTATION_R_CI].get('coverage'))} ± "
                     f"{fmt(intervals[ORIENTATION_R_CI].get('mcse'))} (nominal {fmt(level, none=UNKNOWN)})")
    failed = [key for key in (ORIENTATION_P, ORIENTATION_R_CI) if key in misses]
    verdict = ("**not calibrated** (outside the tolerance: " + ", ".join(f"`{k}`" for k in failed) + ")" if failed
               else f"calibrated (type I within ±{settings.type_i_tolerance} of α, coverage within "
                    f"±{settings.coverage_tolerance} of the level)")
    return (f"Calibration on this dataset's own pairs (null `{null}`: model orientation effects independent of "
            f"the measured ones, metrics/calibration.json): {'; '.join(parts)}: {verdict}.")
