"""The sections of report.md that say what was run: question, design, strata, predictions, figures,
detail files, configuration and provenance (QC: report/qc.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from mprabench.config import InputContext, InputMode, Params
from mprabench.plots.labels import target_label
from mprabench.report.format import UNKNOWN, fmt, plural, table
from mprabench.report.inputs import Links, ReportInputs
from mprabench.provenance import SOURCE_OFFLINE
from mprabench.readers.registry import layout_of
from mprabench.report.results import verdict_sentence
from mprabench.settings import as_plain
from mprabench.tracking import flatten

QUESTIONS = {
    InputMode.aggregated: (
        "**Between-element activity.** One row per base element (mean log2 ratio of its oligos); the "
        "model sees only the motif in N padding. n is the number of elements. Variant effects inside an "
        "element are not addressed."
    ),
    InputMode.individual: (
        "**Between-element activity at oligo resolution.** Every oligo is a row, but the model sees its "
        "element's genomic window without the designed perturbation, so all oligos of an element share one "
        "input: the information is between elements, and the element-level analysis is the honest test. "
        "Variant effects inside an element cannot be seen."
    ),
    InputMode.designed: (
        "**Within-element variant effects** (and between-element activity). Each oligo's own designed "
        "sequence sits in its genomic window, so the model sees the perturbation: the within-element "
        "analysis asks whether predicted changes track measured changes relative to the element's wild type."
    ),
    InputMode.given: (
        "**Activity across elements, from each measured sequence.** Every row is a sequence that was "
        "measured, and the model input is that sequence itself ({context}). The rows of one element (e.g. its "
        "two orientations) are averaged per element, and n is the number of elements."
    ),
    InputMode.reference: (
        "**Activity across elements, from the reference genome.** Every element's own span of the reference "
        "genome, on its strand and centred in N padding, is the model input; n is the number of elements."
    ),
}
# How experiment.context surrounds a measured insert (experiments.py builds the inputs this way)
INSERT_CONTEXTS = {
    InputContext.n_pad: "centred in N padding up to the model window",
    InputContext.genome: "in its own genomic context from the reference",
    InputContext.flanks: "between the configured reporter flanks, then N padding",
}


def insert_context(settings: Params) -> InputContext | None:
    """What surrounds each measured insert in the model input, or None when the inputs are not the
    measured inserts. V2's `individual` mode on a sequence table is the insert centred in N
    (experiments.build_given_inputs), whatever experiment.context says."""
    experiment = settings.experiment
    if not layout_of(settings.dataset).measured_inserts:
        return None
    if experiment.inputs is InputMode.individual:
        return InputContext.n_pad
    return experiment.context if experiment.inputs is InputMode.given else None

FIGURE_CAPTIONS = {
    "forest": "Headline: element-level Pearson r with its confidence interval, per primary feature.",
    "scatter": "Prediction against measured activity, per feature.",
    "roc": "ROC curves (activity above its median is positive).",
    "spearman_heatmap": "Spearman correlations among features and the target.",
    "distributions": "Distributions of the predictions over distinct model inputs.",
    "within_element": "Within-element effects, relative to each element's wild type.",
    "strata_class": "Strata by element class (e.g. enhancer, promoter, control): Spearman ρ of element means.",
    "strata_strand": "Strata by strand: Spearman ρ of element means.",
    "strata_chrom": "Strata by chromosome: Spearman ρ of element means.",
    "strata_tf": "Strata by transcription-factor label: the within-element effect of the label's rows.",
    "calibration_qq": "Calibration: null p-values against the uniform distribution.",
}


def flat(data: Mapping[str, Any]) -> dict[str, Any]:
    """Nested blocks as dotted keys; a list stays one value (one table cell)."""
    return flatten(data, lists=False)


def title_section(inputs: ReportInputs) -> str:
    ctx, experiment = inputs.context, inputs.settings.experiment
    description = experiment.description.strip()
    if layout_of(inputs.settings.dataset).measured_inserts and experiment.inputs is InputMode.individual:
        # The default experiment (v2) on a sequence table: its description is about GSE84888's windows.
        description = (f"Experiment {experiment.name} on {ctx.dataset}: each row's measured sequence, centred in N "
                       f"padding up to {experiment.window:,} bp, is its model input (the `individual` inputs of a "
                       f"sequence table; `-S experiment=insert` names this setup).")
    lines = [
        f"# MPRA benchmark — {ctx.dataset}, experiment {ctx.experiment}, predictor: {ctx.predictor}",
        f"**{verdict_sentence(inputs.summary, inputs.details)}**",  # also the MLflow description's
        description,
        "\n".join([
            f"- **Dataset:** {ctx.dataset} (assay biosample: {ctx.assay_text})",
            f"- **Experiment:** {ctx.experiment}",
            f"- **Predictor:** {ctx.predictor}" + (f" (source: {ctx.source})" if ctx.source != ctx.predictor else ""),
            f"- **Biosample of the predictions:** {ctx.biosample_text}"
            + (f", chosen by {ctx.tracks_chosen_by}" if ctx.tracks_chosen_by else ""),
            f"- **Target:** {target_label(inputs.settings.evaluate.target)}",
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


def question_section(settings: Params) -> str:
    """What the experiment's inputs let the model see, in the dataset's terms (readers/registry.Layout)."""
    experiment = settings.experiment
    mode = experiment.inputs
    context = insert_context(settings)
    if context is not None:
        context_text = INSERT_CONTEXTS.get(context, f"context `{context.value}`")
        return "## What this experiment answers\n\n" + QUESTIONS[InputMode.given].format(context=context_text)
    question = QUESTIONS.get(mode)
    if question is None:  # a mode added without its question: say what is known, not a GSE84888 story
        question = (f"Model inputs built by `experiment.inputs` = `{mode.value}` "
                    f"({experiment.description.strip() or 'no description'}); n is the number of elements.")
    return "## What this experiment answers\n\n" + question


def effective_n_section(design: Mapping[str, Any]) -> str:
    rows, inputs, elements = (design.get(k) for k in ("n_rows", "n_unique_inputs", "n_elements"))
    if None in (rows, inputs, elements):
        return "## Effective sample size\n\nsummary.json has no complete `design` block."
    text = (f"## Effective sample size\n\n{plural(rows, 'row')} carry **{plural(inputs, 'distinct model input')}** "
            f"from **{plural(elements, 'element')}**.")
    if inputs < rows:
        text += (f" Rows that share an input share its prediction exactly, so a naive p-value over "
                 f"{plural(rows, 'row')} treats copies as independent evidence and is far too small; "
                 f"naive row-level statistics are in details.json, labelled naive, and feed no verdict.")
    return text


DESIGN_STRATA = ("tf",)  # defined by the designed perturbation, which V1/V2 inputs do not contain


def strata_section(strata: Mapping[str, pd.DataFrame], links: Links, design: Mapping[str, Any]) -> str:
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
        rows.append((kind, fmt(int(n)), fmt(estimable, none=UNKNOWN), _table_link(kind, links)))
    return ("## Strata\n\nA stratum is estimable only where the model can see what defines it (≥ the minimum "
            "number of distinct inputs); its p-values are not part of the headline. Per kind: strata, how many "
            "rows of the table are estimable (feature × stratum), and the full table.\n\n"
            + table(["kind", "strata", "estimable rows", "table"], rows))


def _table_link(kind: str, links: Links) -> str:
    name = f"tables/strata_{kind}.csv"
    return f"[strata_{kind}.csv]({links(name)})"


def prediction_section(prediction: Mapping[str, Any], source: str) -> str:
    if source == SOURCE_OFFLINE:  # no service behind it: no request, store or retry to report
        return (f"## Predictions\n\nComputed offline for {fmt(prediction.get('distinct_inputs'))} distinct inputs "
                f"({fmt(prediction.get('failed', 0))} failed): an offline baseline sends no request and keeps no store.")
    rows = [(key.replace("_", " "), fmt(value, none=UNKNOWN)) for key, value in flat(prediction).items()]
    return "## Predictions\n\n" + (table(["quantity", "value"], rows) if rows else "predict.json is empty.")


def figures_section(figures: Sequence[str], links: Links) -> str:
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


def detail_files_section(inputs: ReportInputs, links: Links) -> str:
    items = [f"- [{name}]({links(name)})" for name in [*inputs.detail_files, *inputs.tables]]
    return "## Detail files\n\n" + "\n".join(items) if items else ""


def configuration_section(settings: Params) -> str:
    experiment, dataset, genome = settings.experiment, settings.dataset, settings.genome
    activity = getattr(dataset, "activity", None)  # counts layouts compute it; a table gives it as measured
    genome_text = f"{genome.assembly}, " + (f"FASTA `{genome.fasta}`" if genome.fasta else f"UCSC API `{genome.ucsc_api}`")
    if insert_context(settings) in (InputContext.n_pad, InputContext.flanks):
        genome_text = f"not read (the model inputs are the measured sequences; configured: {genome_text})"
    rows = [
        ("experiment", (f"{experiment.name}: inputs `{experiment.inputs.value}`, window "
                        f"{experiment.window} bp, seed_strand_bug {experiment.seed_strand_bug}")),
        ("dataset", f"{dataset.name} from `{dataset.source}`"),
        ("activity", f"{activity.method.value} (pseudocount {activity.pseudocount})" if activity is not None
                     else f"as measured, read by `{dataset.reader}`"),
        ("genome", genome_text),
        ("predictor", ", ".join(f"{k} `{v}`" for k, v in flat(as_plain(settings.predictor)).items()
                                if not k.startswith("api_key"))),
        ("evaluation", ", ".join(f"{k} `{v}`" for k, v in flat(as_plain(settings.evaluate)).items())),
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


def provenance_section(inputs: ReportInputs) -> str:
    ctx, provenance = inputs.context, inputs.provenance or {}
    rows = [("MLflow run", f"`{inputs.run_id}`"), ("tracking URI", f"`{inputs.tracking_uri}`"),
            ("predictor", ctx.predictor), ("prediction source", ctx.source),
            ("model version", provenance_value(provenance, "model_version")),
            ("organism", ctx.organism or "unknown"), ("biosamples", ctx.biosample_text),
            ("store key", provenance_value(provenance, "store_key", code=True))]
    tracks = provenance.get("tracks")
    if isinstance(tracks, Mapping):
        rows += [(f"tracks: {k}", fmt(v, none=UNKNOWN) if not isinstance(v, Mapping) else ", ".join(
            f"{a}={fmt(b, none=UNKNOWN)}" for a, b in flat(v).items())) for k, v in tracks.items()]
    shown = {"predictor", "predictor.source", "biosample", "biosample_mismatch"}
    rows += [(key, f"`{value}`") for key, value in inputs.tags.items()
             if not key.startswith("mlflow.") and key not in shown]
    return "## Provenance\n\n" + table(["", "value"], rows)


# --------------------------------------------------------------------------------------------
# The MLflow run description
