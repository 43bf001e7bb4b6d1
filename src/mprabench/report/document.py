"""report.md: its sections in order (results first, then what was run)."""

from __future__ import annotations

from mprabench.readers.registry import layout_of
from mprabench.report.format import Reasons
from mprabench.report.inputs import Links, ReportInputs, design_of
from mprabench.report.qc import qc_section
from mprabench.report.results import (
    calibration_section,
    headline_section,
    orientation_section,
    sensitivity_section,
    trained_baseline_section,
    within_element_section,
)
from mprabench.report.run import (
    configuration_section,
    detail_files_section,
    effective_n_section,
    figures_section,
    prediction_section,
    provenance_section,
    question_section,
    strata_section,
    title_section,
)


def render_report(inputs: ReportInputs, links: Links) -> str:
    """The whole document; every table is GitHub-flavoured Markdown, every n.e. carries a reason, and
    links are built from one `Links` value so the same report renders in the repository and in MLflow."""
    reasons = Reasons()
    design = design_of(inputs.summary)
    sections = [
        title_section(inputs),
        headline_section(inputs, reasons),
        calibration_section(inputs),
        sensitivity_section(inputs, reasons),
        within_element_section(inputs, links),
        orientation_section(inputs, reasons),
        reasons.legend(),  # after every section that marks an n.e. cell
        trained_baseline_section(inputs.details),
        question_section(inputs.settings),
        effective_n_section(design),
        strata_section(inputs.strata, links, design),
        qc_section(inputs.qc, inputs.qc_details, motif_sites=layout_of(inputs.settings.dataset).motif_sites),
        prediction_section(inputs.prediction, inputs.context.source),
        figures_section(inputs.figures, links),
        detail_files_section(inputs, links),
        configuration_section(inputs.settings),
        provenance_section(inputs),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"
