"""report.md: the results document, generated only from metrics, detail files and params.

The headline comes from metrics/summary.json (declared in schema.py, described in the
README's "Reading the numbers": one block per primary feature, plus `design`); everything else is read defensively from details.json,
calibration.json, qc_details.json and provenance.json, any of which may be absent. Every
table is GitHub-flavoured Markdown (cells escaped), every "n.e." carries a reason, and
links are built from one `Links` value so the same report renders in the repository and
in the MLflow artifact view.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mprabench.plots.labels import RunContext, target_label
from mprabench.plots.style import NOT_ESTIMABLE
from mprabench.stats.calibration import COVERAGE_TOLERANCE, TYPE_I_TOLERANCE, calibration_misses, worst_nulls
from mprabench.schema import (
    CALIBRATION_ALPHA,
    CALIBRATION_CI_LEVEL,
    CALIBRATION_FAMILYWISE,
    CALIBRATION_FLAGS,
    CALIBRATION_INTERVALS,
    CALIBRATION_TESTS,
    ELEMENT_SPEARMAN_P,
    ELEMENT_SPEARMAN_RHO,
    LOO_R_MAX,
    LOO_R_MIN,
    LOO_VERDICT_CHANGERS,
    DETAILS_ALPHA,
    DETAILS_PER_FEATURE,
    DETAILS_SENSITIVITY,
    DETAILS_TARGET,
    DETAILS_WITH_ZERO_RNA_DROPOUTS,
    ELEMENT_BONFERRONI_SIGNIFICANT,
    ELEMENT_NEGLOG10_P,
    ELEMENT_P,
    ELEMENT_PEARSON_R,
    PEARSON_R_CI_HIGH,
    PEARSON_R_CI_LOW,
    QC_MOTIF_MISMATCHES,
    SUMMARY_DESIGN,
    WITHIN_ELEMENT_P,
    WITHIN_ELEMENT_R,
)


QUESTIONS = {
    "aggregated": (
        "**Between-element activity.** One row per base element (mean log2 ratio of its oligos); the "
        "model sees only the motif in N padding. n is the number of elements. Variant effects inside an "
        "element are not addressed."
    ),
    "individual": (
        "**Between-element activity at oligo resolution.** Every oligo is a row, but the model sees its "
        "element's genomic window without the designed perturbation, so all oligos of an element share one "
        "input: the information is between elements, and the element-level analysis is the honest test. "
        "Variant effects inside an element cannot be seen."
    ),
    "designed": (
        "**Within-element variant effects** (and between-element activity). Each oligo's own designed "
        "sequence sits in its genomic window, so the model sees the perturbation: the within-element "
        "analysis asks whether predicted changes track measured changes relative to the element's wild type."
    ),
}

FIGURE_CAPTIONS = {
    "forest": "Headline: element-level Pearson r with its confidence interval, per primary feature.",
    "scatter": "Prediction against measured activity, per feature.",
    "roc": "ROC curves (activity above its median is positive).",
    "spearman_heatmap": "Spearman correlations among features and the target.",
    "distributions": "Distributions of the predictions over distinct model inputs.",
    "within_element": "Within-element effects, relative to each element's wild type.",
    "calibration_qq": "Calibration: null p-values against the uniform distribution.",
}


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
    params: Mapping[str, Any]
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


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def fmt(value: Any, digits: int = 3) -> str:
    """Numbers for tables: r to 3 decimals, small p in scientific notation, None as n.e."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NOT_ESTIMABLE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float) and value != 0 and abs(value) < 10 ** (-digits):
        return f"{value:.2e}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 feature', '6 features' (never '1 features')."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def escape_cell(text: Any) -> str:
    """A table cell: pipes escaped and line breaks flattened, so the row stays one GFM row."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(escape_cell(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(escape_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Not-estimable reasons
# --------------------------------------------------------------------------------------------


class Reasons:
    """Collects the reason of every n.e. cell; each distinct reason gets one letter."""

    def __init__(self) -> None:
        self.letters: dict[str, str] = {}
        self.where: dict[str, list[str]] = {}

    def mark(self, reason: str, where: str) -> str:
        if reason not in self.letters:
            self.letters[reason] = chr(ord("a") + len(self.letters) % 26)
        self.where.setdefault(reason, []).append(where)
        return f"{NOT_ESTIMABLE} ({self.letters[reason]})"

    def cell(self, value: Any, reason: str, where: str, digits: int = 3) -> str:
        return self.mark(reason, where) if _missing(value) else fmt(value, digits)

    def legend(self) -> str:
        if not self.letters:
            return ""
        lines = [f"- {NOT_ESTIMABLE} ({letter}) — {reason} ({', '.join(dict.fromkeys(self.where[reason]))})"
                 for reason, letter in self.letters.items()]
        return "Why each not-estimable cell is empty:\n\n" + "\n".join(lines)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


# Where evaluate writes each reason (evaluation.Evaluation.details): per_feature.<feature>.<block>.<key>.
REASON_KEYS = {
    "r": (("element_level", "r_reason"),),
    "p": (("element_level", "p_reason"),),
    "ci": (("element_level", "ci_reason"),),
    "within": (("within_element", "p_reason"), ("within_element", "reason"), ("within_element", "summary", "reason")),
    "spearman": (("element_level", "spearman_p_reason"),),
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


def not_estimable_reason(details: Mapping[str, Any], feature: str, quantity: str) -> str:
    """Why `quantity` ('r', 'p', 'ci' of the element r, or 'within') of a feature is missing: details.json."""
    block = feature_details(details, feature)
    for path in REASON_KEYS[quantity]:
        reason = _at(block, path)
        if isinstance(reason, str) and reason.strip():
            return reason.strip().rstrip(".")
    return f"details.json gives no reason for the missing {quantity} value"


# --------------------------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------------------------


def primary_features(summary: Mapping[str, Any]) -> list[str]:
    return [k for k, v in summary.items() if k != SUMMARY_DESIGN and isinstance(v, Mapping)]


def design_of(summary: Mapping[str, Any]) -> Mapping[str, Any]:
    """summary.json's `design` block."""
    design = summary.get(SUMMARY_DESIGN) or {}
    return design if isinstance(design, Mapping) else {}


def render_report(inputs: ReportInputs, links: Links) -> str:
    reasons = Reasons()
    sections = [
        _title(inputs),
        _headline(inputs, reasons),
        _calibration(inputs.calibration, printed_statistics(inputs.summary, inputs.details)),
        _sensitivity(inputs, reasons),
        reasons.legend(),
        _within_element(inputs, links),
        _trained_baseline(inputs.details),
        _question(inputs.params),
        _effective_n(design_of(inputs.summary)),
        _strata(inputs.strata, links, design_of(inputs.summary)),
        _qc(inputs.qc, inputs.qc_details),
        _prediction(inputs.prediction),
        _figures(inputs.figures, links),
        _detail_files(inputs, links),
        _configuration(inputs.params),
        _provenance(inputs),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _title(inputs: ReportInputs) -> str:
    ctx = inputs.context
    experiment = inputs.params.get("experiment") or {}
    lines = [
        f"# MPRA benchmark — {ctx.dataset}, experiment {ctx.experiment}, predictor: {ctx.predictor}",
        str(experiment.get("description") or "").strip(),
        "\n".join([
            f"- **Dataset:** {ctx.dataset} (assay biosample: {ctx.assay_text})",
            f"- **Experiment:** {ctx.experiment}",
            f"- **Predictor:** {ctx.predictor}" + (f" (source: {ctx.source})" if ctx.source != ctx.predictor else ""),
            f"- **Biosample of the predictions:** {ctx.biosample_text}",
            f"- **Target:** {target_label(str((inputs.params.get('evaluate') or {}).get('target', '')))}",
            f"- **MLflow run:** `{inputs.run_id}`",
        ]),
    ]
    if not ctx.provenance_found:
        lines.append("> **Provenance unknown:** the predict stage wrote no provenance.json, so the "
                     "predictor's source and the biosample names could not be checked.")
    mismatch = ctx.mismatch()
    if mismatch:
        lines.append(f"> **Warning — {mismatch}**")
    return "\n\n".join(line for line in lines if line)


def _headline(inputs: ReportInputs, reasons: Reasons) -> str:
    summary, details, ctx = inputs.summary, inputs.details, inputs.context
    design = design_of(summary)
    features = primary_features(summary)
    level = _ci_level(inputs.calibration, inputs.params)
    header = ["feature", f"element r [{level:.0%} CI]", "element p", "−log10 p", "Spearman ρ (p)",
              "leave-one-out r", "within-element r", "within-element p", "verdict (Bonferroni)"]
    rows = []
    changed: list[str] = []
    for feature in features:
        s = summary[feature]
        where = f"`{feature}`"
        r_reason, p_reason = (not_estimable_reason(details, feature, q) for q in ("r", "p"))
        within_reason = not_estimable_reason(details, feature, "within")
        element = feature_details(details, feature).get("element_level") or {}
        trained = bool(feature_details(details, feature).get("trained_baseline"))
        spearman = (f"{fmt(element.get(ELEMENT_SPEARMAN_RHO))} "
                    f"({reasons.cell(element.get(ELEMENT_SPEARMAN_P), not_estimable_reason(details, feature, 'spearman'), where)})"
                    if not _missing(element.get(ELEMENT_SPEARMAN_RHO))
                    else reasons.mark(not_estimable_reason(details, feature, "spearman"), where))
        loo = (f"{fmt(element.get(LOO_R_MIN))} to {fmt(element.get(LOO_R_MAX))}"
               if not _missing(element.get(LOO_R_MIN)) else reasons.mark(not_estimable_reason(details, feature, "loo"), where))
        if element.get(LOO_VERDICT_CHANGERS):
            changed.append(f"{ctx.feature_label(feature)}: without {', '.join(f'`{e}`' for e in element[LOO_VERDICT_CHANGERS])}")
        if _missing(s.get(ELEMENT_PEARSON_R)):
            r_and_ci = reasons.mark(r_reason, where)  # no r, so no interval of it
        elif _missing(s.get(PEARSON_R_CI_LOW)) or _missing(s.get(PEARSON_R_CI_HIGH)):
            r_and_ci = (f"{fmt(s[ELEMENT_PEARSON_R])} "
                        f"{reasons.mark(not_estimable_reason(details, feature, 'ci'), where)}")
        else:
            r_and_ci = f"{fmt(s[ELEMENT_PEARSON_R])} [{fmt(s[PEARSON_R_CI_LOW])}, {fmt(s[PEARSON_R_CI_HIGH])}]"
        # A trained baseline's p is its refit null, which calibrate does not simulate: say so beside it.
        element_p = reasons.cell(s.get(ELEMENT_P), p_reason, where) + (
            " (refit null; not simulated)" if trained and not _missing(s.get(ELEMENT_P)) else "")
        rows.append((
            f"{ctx.feature_label(feature)} (`{feature}`)",
            r_and_ci,
            element_p,
            reasons.cell(s.get(ELEMENT_NEGLOG10_P), p_reason, where, digits=2),
            spearman,
            loo,
            reasons.cell(s.get(WITHIN_ELEMENT_R), within_reason, where),
            reasons.cell(s.get(WITHIN_ELEMENT_P), within_reason, where),
            reasons.cell(s.get(ELEMENT_BONFERRONI_SIGNIFICANT), p_reason, where),
        ))
    n_elements = design.get("n_elements")
    alpha = details.get(DETAILS_ALPHA, (inputs.params.get("evaluate") or {}).get("alpha"))
    text = (
        f"## Headline\n\nElement-level association (n = {_cell(n_elements)} elements; "
        f"{_cell(design.get('n_unique_inputs'))} distinct model inputs, {_cell(design.get('n_rows'))} rows): "
        f"Pearson r of the element-mean prediction against the element-mean "
        f"{target_label(str(details.get(DETAILS_TARGET) or (inputs.params.get('evaluate') or {}).get('target')))}, "
        f"its permutation p over elements, Spearman's ρ of the same means with its own permutation p, and the "
        f"range of r leaving out one element at a time. The verdict is Bonferroni over the "
        f"{plural(len(features), 'primary feature')} at α = {_cell(alpha)} on the Spearman p (a trained baseline: "
        f"its refit-null p): in the null simulations one high-leverage element made the Pearson p reject far "
        f"too often, where the rank-based p held.\n\n"
        + table(header, rows)
    )
    if changed:
        text += ("\n\nOne element changes the verdict: " + "; ".join(changed)
                 + " (the verdict flips when that element is left out).")
    return text


def _ci_level(calibration: Mapping[str, Any] | None, params: Mapping[str, Any]) -> float:
    level = (calibration or {}).get(CALIBRATION_CI_LEVEL) or (params.get("evaluate") or {}).get("ci_level") or 0.95
    return float(level)


def calibration_sentence(calibration: Mapping[str, Any] | None) -> str:
    """'calibrated for this design: ...' only when every worst case over the null family is within
    tolerance; otherwise each failing statistic with the null where it fails; or why there is none.

    Within tolerance: type-I rate within TYPE_I_TOLERANCE of alpha, coverage within COVERAGE_TOLERANCE of
    the CI level, a flag rate at most alpha + TYPE_I_TOLERANCE (stats.calibration). Statistics calibrate
    does not simulate for this design are not in calibration.json; the report marks them "not simulated".
    """
    if not calibration:
        return ("Calibration: not simulated for this run (no metrics/calibration.json), so the p-values "
                "and intervals above are not verified for this design.")
    alpha, level = calibration.get(CALIBRATION_ALPHA), calibration.get(CALIBRATION_CI_LEVEL)
    tests = calibration.get(CALIBRATION_TESTS) or {}
    intervals = calibration.get(CALIBRATION_INTERVALS) or {}
    flags = calibration.get(CALIBRATION_FLAGS) or {}
    misses = calibration_misses(dict(calibration))
    failing = {m.key for m in misses}
    nulls = worst_nulls(dict(calibration))
    held = ([f"`{k}` type I {_rate(t, 'type_I', nulls.get(f'{CALIBRATION_TESTS}.{k}'))}"
             for k, t in tests.items() if k not in failing]
            + [f"`{k}` coverage {_rate(c, 'coverage', nulls.get(f'{CALIBRATION_INTERVALS}.{k}'))}"
               for k, c in intervals.items() if k not in failing]
            + [f"`{k}` family-wise rate {_rate(f, CALIBRATION_FAMILYWISE, nulls.get(f'{CALIBRATION_FLAGS}.{k}'))}"
               for k, f in flags.items() if k not in failing])
    tolerance = (f"type I within ±{TYPE_I_TOLERANCE} of α = {_cell(alpha)}, coverage within ±{COVERAGE_TOLERANCE} "
                 f"of {_cell(level)}, flag rates at most α + {TYPE_I_TOLERANCE}")
    scope = (f"worst case per statistic over the family of null simulations with this dataset's structure "
             f"(metrics/calibration_details.json; {tolerance})")
    if not misses:
        return f"p-values and intervals calibrated for this design, {scope}: " + "; ".join(held) + "."
    failed = "; ".join(f"`{m.key}` {m.kind} {fmt(m.rate)} ± {_cell(m.mcse)} under the null `{m.null}` "
                       f"(nominal {'at most ' if m.kind == 'flag rate' else ''}{_cell(m.nominal)})" for m in misses)
    return (f"**Calibration fails for this design** ({scope}): {failed}. Read these with the rates in mind. "
            + ("Within tolerance in every null: " + "; ".join(held) + "." if held else ""))


def _rate(entry: Any, key: str, null: str | None) -> str:
    """'0.052 ± 0.005 (worst: null `t2_noise`)' from a calibration.json entry and its worst null."""
    if not isinstance(entry, Mapping):
        return "not simulated"
    return f"{_cell(entry.get(key))} ± {_cell(entry.get('mcse'))} (worst: null `{null}`)"


def _calibration(calibration: Mapping[str, Any] | None, printed: Sequence[str]) -> str:
    """The calibration sentence, then every statistic the headline prints that calibrate did not simulate."""
    text = calibration_sentence(calibration)
    simulated = set((calibration or {}).get(CALIBRATION_TESTS) or {}) | set((calibration or {}).get(CALIBRATION_INTERVALS) or {})
    missing = [key for key in printed if key not in simulated]
    if calibration and missing:
        text += (" Not simulated for this design, so not called calibrated: "
                 + ", ".join(f"`{key}`" for key in missing) + ".")
    return text


def printed_statistics(summary: Mapping[str, Any], details: Mapping[str, Any]) -> list[str]:
    """The calibration keys of the p-values and intervals the headline table prints for some feature
    (a trained baseline's refit-null p is marked "not simulated" in its own cell)."""
    features = primary_features(summary)
    plain = [f for f in features if not feature_details(details, f).get("trained_baseline")]
    element = {f: feature_details(details, f).get("element_level") or {} for f in plain}
    shown = {
        ELEMENT_P: any(not _missing(summary[f].get(ELEMENT_P)) for f in plain),
        ELEMENT_SPEARMAN_P: any(not _missing(element[f].get(ELEMENT_SPEARMAN_P)) for f in plain),
        WITHIN_ELEMENT_P: any(not _missing(summary[f].get(WITHIN_ELEMENT_P)) for f in plain),
        "pearson_r_ci": any(not _missing(summary[f].get(PEARSON_R_CI_LOW)) for f in plain),
    }
    return [key for key, printed in shown.items() if printed]


def _sensitivity(inputs: ReportInputs, reasons: Reasons) -> str:
    """The headline with zero-RNA dropout rows kept, next to the headline without them."""
    sensitivity = (inputs.details.get(DETAILS_SENSITIVITY) or {}) if isinstance(inputs.details, Mapping) else {}
    kept = sensitivity.get(DETAILS_WITH_ZERO_RNA_DROPOUTS) if isinstance(sensitivity, Mapping) else None
    heading = "## Headline with and without zero-RNA dropouts"
    if not isinstance(kept, Mapping) or not kept:
        return (f"{heading}\n\nNot computed: details.json has no `sensitivity.with_zero_rna_dropouts` "
                "(rows with 0 RNA reads but adequate plasmid reads are excluded as dropouts when the "
                "activity config says so; see Quality control).")
    headline_target = str(inputs.details.get(DETAILS_TARGET) or (inputs.params.get("evaluate") or {}).get("target") or "")
    target, n_dropouts = str(kept.get("target") or headline_target), kept.get("n_dropout_rows")
    intro = (f"{_cell(kept.get('n_rows'))} rows, {_cell(n_dropouts)} of them flagged as zero-RNA dropouts; "
             f"the dropouts-kept columns use the target `{target}`")
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
    return (f"{heading}\n\n{intro}.\n\n"
            + table(["feature", "element r, dropouts excluded", "element p, dropouts excluded",
                     "element r, dropouts kept", "element p, dropouts kept"], rows))


def _within_element(inputs: ReportInputs, links: Links) -> str:
    """Where the within-element effect stands: why it is missing, or where its per-element values are."""
    heading = "## Within-element effects (Δ relative to each element's wild type)"
    features = primary_features(inputs.summary)
    missing = [f for f in features if _missing(inputs.summary[f].get(WITHIN_ELEMENT_R))]
    if features and len(missing) == len(features):
        reason = not_estimable_reason(inputs.details, features[0], "within")
        return f"{heading}\n\nNot estimable: {reason}."
    per_element = [n for n in inputs.tables if n.endswith("within_element.csv")]
    where = (f" Per-element correlations: [{per_element[0]}]({links(per_element[0])})." if per_element else "")
    return (f"{heading}\n\nOne correlation per element over its distinct inputs, pooled across elements by a "
            f"one-sample t-test of the per-element Fisher z (headline columns `within-element r` and `p`).{where}")


def find_out_of_fold_r2(details: Mapping[str, Any]) -> list[tuple[str, float]]:
    """Every numeric leaf whose key names an out-of-fold R² (e.g. `oof_r2`, `out_of_fold_r2`)."""
    found = []

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, (*path, str(key)))
        elif isinstance(node, (int, float)) and not isinstance(node, bool) and path:
            name = ".".join(path).lower()
            if ("r2" in name or "r_squared" in name) and ("oof" in name or "out_of_fold" in name):
                found.append((".".join(path), float(node)))

    walk(details, ())
    return found


def _trained_baseline(details: Mapping[str, Any]) -> str:
    values = find_out_of_fold_r2(details)
    if not values:
        return ""
    rows = [(f"`{path}`", fmt(value)) for path, value in values]
    return ("## Trained baseline: out-of-fold fit\n\nOut-of-fold R² (folds grouped by element; details.json):"
            "\n\n" + table(["quantity", "R²"], rows))


def _question(params: Mapping[str, Any]) -> str:
    mode = str((params.get("experiment") or {}).get("inputs", ""))
    return "## What this experiment answers\n\n" + QUESTIONS.get(mode, f"inputs mode `{mode}`")


def _effective_n(design: Mapping[str, Any]) -> str:
    rows, inputs, elements = (design.get(k) for k in ("n_rows", "n_unique_inputs", "n_elements"))
    if None in (rows, inputs, elements):
        return "## Effective sample size\n\nsummary.json has no complete `design` block."
    text = (f"## Effective sample size\n\n{plural(rows, 'row')} carry **{plural(inputs, 'distinct model input')}** "
            f"from **{plural(elements, 'base element')}**.")
    if inputs < rows:
        text += (f" Rows that share an input share its prediction exactly, so a naive p-value over "
                 f"{plural(rows, 'row')} treats copies as independent evidence and is far too small; "
                 f"naive row-level statistics are in details.json, labelled naive, and feed no verdict.")
    return text


DESIGN_STRATA = ("tf",)  # defined by the designed perturbation, which V1/V2 inputs do not contain


def _strata(strata: Mapping[str, pd.DataFrame], links: Links, design: Mapping[str, Any]) -> str:
    if not strata:
        return ""
    inputs_vary = (design.get("n_unique_inputs") or 0) > (design.get("n_elements") or 0)
    rows = []
    for kind, frame in strata.items():
        estimable = int(frame["estimable"].astype(bool).sum()) if "estimable" in frame else None
        if kind in DESIGN_STRATA and not inputs_vary:
            estimable = ("0: a TF label's perturbation is not in the model input (one input per "
                         "element), so its r would be a between-element correlation")
        n = frame["stratum"].nunique() if "stratum" in frame else len(frame)
        rows.append((kind, fmt(int(n)), _cell(estimable), _table_link(kind, links)))
    return ("## Strata\n\nA stratum is estimable only where the model can see what defines it (≥ the minimum "
            "number of distinct inputs); its p-values are not part of the headline. Per kind: strata, how many "
            "rows of the table are estimable (feature × stratum), and the full table.\n\n"
            + table(["kind", "strata", "estimable rows", "table"], rows))


def _table_link(kind: str, links: Links) -> str:
    name = f"tables/strata_{kind}.csv"
    return f"[strata_{kind}.csv]({links(name)})"


def _qc(qc: Mapping[str, Any], qc_details: Mapping[str, Any] | None) -> str:
    rows = [(key, _cell(value)) for key, value in _flat(qc).items()]
    parts = ["## Quality control", table(["quantity", "value"], rows) if rows else "qc.json is empty."]
    parts += _qc_details(qc_details)
    return "\n\n".join(parts)


def _qc_details(qc_details: Mapping[str, Any] | None) -> list[str]:
    """Whatever qc_details.json holds, as tables; a visible warning for motif mismatches."""
    if not qc_details:
        return ["No qc_details.json (pool offsets, dropouts, motif mismatches) for this run."]
    parts = []
    for key, value in qc_details.items():
        if key == QC_MOTIF_MISMATCHES:
            parts.append(_motif_mismatch(key, value))
            continue
        parts.append(f"**{key.replace('_', ' ')}**\n\n" + _any_table(value))
    return parts


def _motif_mismatch(key: str, value: Any) -> str:
    names = [_element_name(v) for v in value] if isinstance(value, list) else (
        list(value) if isinstance(value, Mapping) else [])
    if not names:
        return f"**{key.replace('_', ' ')}**: none — every checked motif matches the reference."
    detail = _any_table(value) if isinstance(value, (list, Mapping)) else ""
    return (f"> **Warning — the motif in the oligo name does not match the reference for "
            f"{plural(len(names), 'element')}:** {', '.join(f'`{n}`' for n in names)}. Their model input "
            f"may not contain the assayed site.\n\n{detail}")


def _element_name(item: Any) -> str:
    if isinstance(item, Mapping):
        for key in ("element_id", "element", "name", "id"):
            if key in item:
                return str(item[key])
    return str(item)


def _any_table(value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        columns = list(dict.fromkeys(k for v in value for k in v))
        return table(columns, [[_cell(v.get(c)) for c in columns] for v in value])
    if isinstance(value, Mapping):
        flat = _flat(value)
        return table(["key", "value"], [(k, _cell(v)) for k, v in flat.items()]) if flat else "(empty)"
    if isinstance(value, list):
        return ", ".join(f"`{v}`" for v in value) if value else "(none)"
    return _cell(value)


def _cell(value: Any) -> str:
    """A value in prose or a generic table; a missing value is 'unknown' (n.e. is for estimates)."""
    if value is None:
        return "unknown"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return value if isinstance(value, str) else fmt(value)


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= _flat(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def _prediction(prediction: Mapping[str, Any]) -> str:
    rows = [(key.replace("_", " "), _cell(value)) for key, value in _flat(prediction).items()]
    return "## Predictions\n\n" + (table(["quantity", "value"], rows) if rows else "predict.json is empty.")


def _figures(figures: Sequence[str], links: Links) -> str:
    if not figures:
        return "## Figures\n\nNo figures."
    blocks = []
    for name in sorted(figures, key=lambda f: (_stem(f) != "forest", f)):
        stem = _stem(name)
        caption = FIGURE_CAPTIONS.get(stem) or FIGURE_CAPTIONS.get(stem.split("_")[0], stem.replace("_", " "))
        # The plain link as well: MLflow's artifact viewer shows Markdown images as text.
        blocks.append(f"**{caption}** ([{name}]({links(name)}))\n\n![{stem}]({links(name)})")
    return "## Figures\n\n" + "\n\n".join(blocks)


def _stem(name: str) -> str:
    return name.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def _detail_files(inputs: ReportInputs, links: Links) -> str:
    items = [f"- [{name}]({links(name)})" for name in [*inputs.detail_files, *inputs.tables]]
    return "## Detail files\n\n" + "\n".join(items) if items else ""


def _configuration(params: Mapping[str, Any]) -> str:
    experiment, dataset = params.get("experiment") or {}, params.get("dataset") or {}
    genome, predictor, evaluate = params.get("genome") or {}, params.get("predictor") or {}, params.get("evaluate") or {}
    activity = dataset.get("activity") or {}
    rows = [
        ("experiment", (f"{experiment.get('name')}: inputs `{experiment.get('inputs')}`, window "
                        f"{experiment.get('window')} bp, seed_strand_bug {experiment.get('seed_strand_bug')}")),
        ("dataset", f"{dataset.get('name')} from `{dataset.get('source')}`"),
        ("activity", f"{activity.get('method')} (pseudocount {activity.get('pseudocount')})"),
        ("genome", f"{genome.get('assembly')}, " + (f"FASTA `{genome['fasta']}`" if genome.get("fasta")
                                                    else f"UCSC API `{genome.get('ucsc_api')}`")),
        ("predictor", ", ".join(f"{k} `{v}`" for k, v in _flat(predictor).items() if not k.startswith("api_key"))),
        ("evaluation", ", ".join(f"{k} `{v}`" for k, v in _flat(evaluate).items())),
    ]
    return "## Configuration\n\n" + table(["", "setting"], rows)


def provenance_value(provenance: Mapping[str, Any], key: str, code: bool = False) -> str:
    """A provenance.json value; None (an offline predictor has no model version or store key) is
    'not applicable', an absent key 'unknown'."""
    if key not in provenance:
        return "unknown"
    value = provenance[key]
    if value is None:
        return "not applicable"
    return f"`{value}`" if code else str(value)


def _provenance(inputs: ReportInputs) -> str:
    ctx, provenance = inputs.context, inputs.provenance or {}
    rows = [("MLflow run", f"`{inputs.run_id}`"), ("tracking URI", f"`{inputs.tracking_uri}`"),
            ("predictor", ctx.predictor), ("prediction source", ctx.source),
            ("model version", provenance_value(provenance, "model_version")),
            ("organism", ctx.organism or "unknown"), ("biosamples", ctx.biosample_text),
            ("store key", provenance_value(provenance, "store_key", code=True))]
    tracks = provenance.get("tracks")
    if isinstance(tracks, Mapping):
        rows += [(f"tracks: {k}", _cell(v) if not isinstance(v, Mapping) else ", ".join(
            f"{a}={_cell(b)}" for a, b in _flat(v).items())) for k, v in tracks.items()]
    shown = {"predictor", "predictor.source", "biosample", "biosample_mismatch"}
    rows += [(key, f"`{value}`") for key, value in inputs.tags.items()
             if not key.startswith("mlflow.") and key not in shown]
    return "## Provenance\n\n" + table(["", "value"], rows)


# --------------------------------------------------------------------------------------------
# The MLflow run description
# --------------------------------------------------------------------------------------------


def headline_note(context: RunContext, summary: Mapping[str, Any], calibration: Mapping[str, Any] | None,
                  details: Mapping[str, Any] | None = None) -> str:
    """3–5 lines for `mlflow.note.content`: what ran, the headline, its calibration, any mismatch."""
    design = design_of(summary)
    features = primary_features(summary)
    significant = [f for f in features if summary[f].get(ELEMENT_BONFERRONI_SIGNIFICANT) is True]
    estimable = [f for f in features if not _missing(summary[f].get(ELEMENT_PEARSON_R))]
    lines = [
        (f"**{context.dataset} · experiment {context.experiment} · {context.predictor} · "
         f"{context.biosample_text}**"),
        (f"Element-level (n = {_cell(design.get('n_elements'))} elements, "
         f"{_cell(design.get('n_unique_inputs'))} distinct inputs, {_cell(design.get('n_rows'))} rows): "
         f"{len(significant)} of {plural(len(features), 'primary feature')} Bonferroni-significant."),
    ]
    if estimable:
        best = max(estimable, key=lambda f: abs(summary[f][ELEMENT_PEARSON_R]))
        s = summary[best]
        block = feature_details(details or {}, best)
        if _missing(s.get(PEARSON_R_CI_LOW)) or _missing(s.get(PEARSON_R_CI_HIGH)):
            interval = f"(no CI: {not_estimable_reason(details or {}, best, 'ci')})"
        else:
            interval = f"[{fmt(s[PEARSON_R_CI_LOW])}, {fmt(s[PEARSON_R_CI_HIGH])}]"
        p = (f"p = {fmt(s[ELEMENT_P])}" if not _missing(s.get(ELEMENT_P))
             else f"no p: {not_estimable_reason(details or {}, best, 'p')}")
        if block.get("trained_baseline") and not _missing(s.get(ELEMENT_P)):
            p += " (refit null; not simulated by calibrate)"
        lines.append(f"Strongest: {context.feature_label(best)} r = {fmt(s['element_pearson_r'])} {interval}, {p}.")
    lines.append(calibration_sentence(calibration))
    mismatch = context.mismatch()
    if mismatch:
        lines.append(f"Warning: {mismatch}")
    return "  \n".join(lines[:5])
