"""report.md: the results document, generated only from metrics, tables and params."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

NOT_ESTIMABLE = "n.e."

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


@dataclass
class ReportInputs:
    params: Mapping[str, Any]
    qc: Mapping[str, Any]
    prediction: Mapping[str, Any]
    summary: Mapping[str, Mapping[str, Any]]
    details: Mapping[str, Any]
    strata: Mapping[str, pd.DataFrame]
    figures: Sequence[Path]
    report_path: Path
    run_id: str
    tracking_uri: str
    tags: Mapping[str, str]


def render_report(inputs: ReportInputs) -> str:
    sections = [
        _title(inputs),
        _configuration(inputs.params),
        _question(inputs.params),
        _effective_n(inputs.details),
        _headline(inputs.summary, inputs.details),
        _element_aware(inputs.details),
        _within_element(inputs.details),
        _strata(inputs.strata, inputs.details),
        _qc(inputs.qc, inputs.params),
        _prediction(inputs.prediction, inputs.params),
        _figures(inputs.figures, inputs.report_path),
        _provenance(inputs),
    ]
    return "\n\n".join(sections) + "\n"


def fmt(value: Any, digits: int = 3) -> str:
    """Numbers for tables: r to 3 decimals, small p in scientific notation, None as n.e."""
    if value is None:
        return NOT_ESTIMABLE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float) and value != 0 and abs(value) < 10 ** (-digits):
        return f"{value:.2e}"
    return f"{value:.{digits}f}"


def _title(inputs: ReportInputs) -> str:
    experiment = inputs.params["experiment"]
    return (
        f"# MPRA benchmark — {inputs.params['dataset']['name']}, experiment `{experiment['name']}`\n\n"
        f"{experiment.get('description', '')}\n\n"
        f"Predictor: `{inputs.params['predictor']['name']}` · target: `{inputs.details['target']}` · "
        f"MLflow run: `{inputs.run_id}`"
    )


def _configuration(params: Mapping[str, Any]) -> str:
    experiment, dataset, genome = params["experiment"], params["dataset"], params["genome"]
    predictor, evaluate = params["predictor"], params["evaluate"]
    rows = [
        ("experiment", f"{experiment['name']}: inputs `{experiment['inputs']}`, window {experiment['window']} bp, "
                       f"seed_strand_bug {experiment['seed_strand_bug']}"),
        ("dataset", f"{dataset['name']} from `{dataset['source']}`"),
        ("activity", f"{dataset['activity']['method']} (pseudocount {dataset['activity']['pseudocount']})"),
        ("genome", f"{genome['assembly']}, " + (f"FASTA `{genome['fasta']}`" if genome["fasta"] else
                                                f"UCSC API `{genome['ucsc_api']}`")),
        ("predictor", ", ".join(f"{k} `{v}`" for k, v in predictor.items() if k not in ("api_key_help",))),
        ("evaluation", f"target `{evaluate['target']}`, {evaluate['n_permutations']} element permutations, "
                       f"CI from {evaluate['min_elements_ci']} elements, α = {evaluate['alpha']}, seed {evaluate['seed']}"),
    ]
    return "## Configuration\n\n" + _table(["", "setting"], rows)


def _question(params: Mapping[str, Any]) -> str:
    mode = str(params["experiment"]["inputs"])
    return "## What this experiment answers\n\n" + QUESTIONS.get(mode, f"inputs mode `{mode}`")


def _effective_n(details: Mapping[str, Any]) -> str:
    sizes = details["effective_sample_size"]
    rows, inputs, elements = sizes["n_rows"], sizes["n_unique_inputs"], sizes["n_elements"]
    text = (
        f"## Effective sample size\n\n{rows:,} rows carry **{inputs:,} distinct model inputs** from "
        f"**{elements:,} base elements**."
    )
    if inputs < rows:
        text += (
            f" Rows that share an input share its prediction exactly, so pooled p-values over {rows:,} rows "
            f"treat copies as independent evidence and are far too small. The element-level analysis "
            f"(n = {elements}) and its intervals are the numbers to trust."
        )
    return text


def _headline(summary: Mapping[str, Mapping[str, Any]], details: Mapping[str, Any]) -> str:
    header = ["feature", "n rows / inputs / elements", "element r [CI]", "element p", "within-element r",
              "within-element p", "naive row r (p)", "Bonferroni (element p)"]
    design = summary.get("design", details["effective_sample_size"])
    rows = []
    for feature, s in summary.items():
        if feature == "design":
            continue
        naive = details["per_feature"][feature]["naive"]
        rows.append((
            f"`{feature}`" + (" *" if feature in details["bonferroni_family"] else ""),
            f"{design['n_rows']:,} / {design['n_unique_inputs']:,} / {design['n_elements']:,}",
            f"{fmt(s['element_pearson_r'])} [{fmt(s['pearson_r_ci_low'])}, {fmt(s['pearson_r_ci_high'])}]",
            fmt(s["element_p"]), fmt(s["within_element_r"]), fmt(s["within_element_p"]),
            f"{fmt(naive['naive_pearson_r'])} ({fmt(naive['naive_pearson_p'])})",
            fmt(s["element_bonferroni_significant"]),
        ))
    return (
        "## Headline\n\n" + _table(header, rows) + "\n\n"
        f"\\* in the Bonferroni family ({len(details['bonferroni_family'])} features, α = {details['alpha']}); "
        f"{NOT_ESTIMABLE} = not estimable (reasons below). The naive row-level r and p treat rows as "
        "independent: descriptions only, never a verdict."
    )


def _element_aware(details: Mapping[str, Any]) -> str:
    per_feature = details["per_feature"]
    lines = [
        "## Element-aware results",
        f"Element-level p: {details['methods']['element_p']}.",
        f"Intervals: {details['methods']['pearson_r_ci']}.",
    ]
    reasons = [
        f"- `{f}`: {d['element_level']['p_reason'] or d['element_level']['r_reason'] or d['element_level']['ci_reason']}"
        for f, d in per_feature.items()
        if d["element_level"]["p"] is None or d["element_level"]["ci_low"] is None
    ]
    if reasons:
        lines.append("Not estimable:\n" + "\n".join(reasons))
    return "\n\n".join(lines)


def _within_element(details: Mapping[str, Any]) -> str:
    per_feature = details["per_feature"]
    heading = "## Within-element effects (per element over its distinct inputs, random-effects pooled)"
    if not any(d["within_element"]["estimable"] for d in per_feature.values()):
        reason = next(iter(per_feature.values()))["within_element"]["reason"]
        return f"{heading}\n\nNot estimable: {reason}."
    rows = []
    for feature, d in per_feature.items():
        summary = d["within_element"]["summary"] or {}
        rows.append((f"`{feature}`", fmt(summary.get("n_elements_used")), fmt(summary.get("pooled_r")),
                     f"[{fmt(summary.get('ci_low'))}, {fmt(summary.get('ci_high'))}]", fmt(summary.get("p")),
                     fmt(summary.get("tau2")), summary.get("reason") or d["within_element"]["reason"] or ""))
    method = next(d["within_element"]["summary"]["method"] for d in per_feature.values() if d["within_element"]["summary"])
    return (f"{heading}\n\n{method}. Per element: `metrics/tables/within_element.csv`.\n\n"
            + _table(["feature", "elements", "random-effects r", "95% CI", "p", "τ² (z scale)", "note"], rows))


def _strata(strata: Mapping[str, pd.DataFrame], details: Mapping[str, Any]) -> str:
    family = details["bonferroni_family"]
    rows = []
    for kind, frame in strata.items():
        for feature in family:
            part = frame[frame["feature"] == feature]
            estimable = part["estimable"].astype(bool)
            significant = part["bh_significant"].eq(True)  # missing (not estimable) counts as not significant
            rows.append((kind, f"`{feature}`", f"{len(part):,}", f"{int(estimable.sum()):,}",
                         f"{int(significant.sum()):,}", _top_stratum(part[estimable])))
    return (
        "## Strata\n\nPer stratum kind and feature of the Bonferroni family: strata, how many are estimable "
        "(≥ the minimum distinct inputs, non-constant feature and target), and how many pass "
        "Benjamini–Hochberg within the kind, on element-aware p-values (element permutation for strand and "
        "chromosome, random-effects within-element for TF labels, distinct inputs for one element). "
        "Full tables: `metrics/tables/strata_<kind>.csv`.\n\n"
        + _table(["kind", "feature", "strata", "estimable", "BH significant", "strongest |r| (n inputs)"], rows)
    )


def _top_stratum(frame: pd.DataFrame) -> str:
    if frame.empty:
        return NOT_ESTIMABLE
    best = frame.loc[frame["r"].astype(float).abs().idxmax()]
    return f"{best['stratum']}: r = {fmt(float(best['r']))} ({int(best['n_unique_inputs'])})"


def _qc(qc: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    excluded = ", ".join(f"{reason} {count:,}" for reason, count in qc["excluded"].items()) or "none"
    motif = (f"{qc['motif_matches_reference']:,} of {qc['motif_checked']:,} names match the reference"
             if qc["motif_checked"] else "not checked (this experiment reads no genome)")
    return (
        "## Quality control\n\n" + _table(["", "value"], [
            ("oligo rows in", f"{qc['rows_in']:,}"),
            ("rows used", f"{qc['rows_used']:,}"),
            ("excluded by reason", excluded),
            ("benchmark rows", f"{qc['benchmark_rows']:,}"),
            ("base elements", f"{qc['elements']:,}"),
            ("distinct model inputs", f"{qc['distinct_inputs']:,}"),
            ("motif vs reference", motif),
            ("activity method", str(params["dataset"]["activity"]["method"])),
        ])
    )


def _prediction(prediction: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    rows = [(key.replace("_", " "), fmt(value, 1) if isinstance(value, float) else fmt(value))
            for key, value in prediction.items()]
    workers = params["predictor"].get("max_workers")
    if workers is not None:
        rows.append(("max workers", fmt(workers)))
    return "## Predictions\n\n" + _table(["", "value"], rows)


def _figures(figures: Sequence[Path], report_path: Path) -> str:
    images = [f"![{f.stem}]({os.path.relpath(f, report_path.parent)})" for f in sorted(figures)]
    return "## Figures\n\n" + ("\n\n".join(images) if images else "No figures.")


def _provenance(inputs: ReportInputs) -> str:
    rows = [("MLflow run", f"`{inputs.run_id}`"), ("tracking URI", f"`{inputs.tracking_uri}`")]
    rows += [(key, f"`{value}`") for key, value in inputs.tags.items()]
    return "## Provenance\n\n" + _table(["", "value"], rows)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)
