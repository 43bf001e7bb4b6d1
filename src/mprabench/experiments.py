"""From the oligo table to one experiment's benchmark rows and model inputs (V1, V2, V3)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mprabench.config import InputMode, Params
from mprabench.design import design_from_counts, local_design_path, read_design
from mprabench.errors import ConfigError
from mprabench.genome import read_windows
from mprabench.readers.base import ReadLibrary
from mprabench.schema import ELEMENT_ID, N_OLIGOS, QC_MOTIF_CHECKED, QC_MOTIF_MISMATCHES, ROW_ID, ZERO_RNA_DROPOUT
from mprabench.sequences import (
    BuiltInputs,
    build_aggregated_inputs,
    build_designed_inputs,
    build_given_inputs,
    build_reference_inputs,
    build_individual_inputs,
    centred_window,
    designed_window,
    element_spans,
    element_sites,
)


# Input modes for datasets whose rows are measured inserts (a sequence table): `given`, and V2's
# `individual` (one input per row), which for such rows is the row's own insert.
INSERT_MODES = (InputMode.given, InputMode.individual)


def build_experiment_inputs(oligos: pd.DataFrame, params: Params, genome_cache: Path, raw_dir: Path,
                            measured_inserts: bool = False) -> BuiltInputs:
    """Rows and distinct inputs as `experiment.inputs` says.

    `measured_inserts`: the reader's rows carry the sequence that was measured (readers/), so
    each row's input is that insert; modes built from motif sites need GSE84888's names.
    """
    experiment = params.experiment
    if measured_inserts:
        if experiment.inputs not in INSERT_MODES:
            raise ConfigError(
                f"experiment {experiment.name} ({experiment.inputs.value}) builds inputs from motif sites in "
                f"genomic windows, which dataset {params.dataset.name} does not have: its rows are measured "
                "inserts. Use `-S experiment=insert` (each insert as given)."
            )
        return build_given_inputs(oligos, experiment.window)
    if experiment.inputs is InputMode.given:
        raise ConfigError(
            f"experiment {experiment.name} uses each row's measured insert, and dataset {params.dataset.name} "
            f"(reader {params.dataset.reader}) has none: choose an experiment for its layout, e.g. `-S experiment=v2`"
        )
    if experiment.inputs is InputMode.reference:
        spans = element_spans(oligos)
        return build_reference_inputs(oligos, spans, read_windows(spans.values(), params.genome, genome_cache),
                                      experiment.window)
    if experiment.inputs is InputMode.aggregated:
        return build_aggregated_inputs(oligos, experiment.window)
    if experiment.inputs is InputMode.individual:
        windows = {s.element_id: centred_window(s, experiment.window) for s in element_sites(oligos)}
        references = read_windows(windows.values(), params.genome, genome_cache)
        return build_individual_inputs(oligos, windows, references, experiment.seed_strand_bug)
    return _designed_inputs(oligos, params, genome_cache, raw_dir)


def _designed_inputs(oligos: pd.DataFrame, params: Params, genome_cache: Path, raw_dir: Path) -> BuiltInputs:
    design = library_design(oligos, params, raw_dir)
    lengths = oligos[ROW_ID].map(design).str.len().fillna(0)
    margins = lengths.groupby(oligos[ELEMENT_ID]).max()
    sites = [s for s in element_sites(oligos) if margins[s.element_id] > 0]
    windows = {s.element_id: designed_window(s, params.experiment.window, int(margins[s.element_id])) for s in sites}
    references = read_windows(windows.values(), params.genome, genome_cache)
    return build_designed_inputs(oligos, design, params.experiment.window, windows, references)


def library_design(oligos: pd.DataFrame, params: Params, raw_dir: Path) -> dict[str, str]:
    """The design file when dataset.design is set, else a `sequence` column of the fetched counts files."""
    if params.dataset.design:
        return read_design(local_design_path(params.dataset.design, raw_dir))
    design = design_from_counts(oligos)
    if not design:
        raise ConfigError(
            f"experiment {params.experiment.name} builds inputs from the library design, and the fetched counts "
            "files have no `sequence` column: set dataset.design to its FASTA/TSV/CSV (a path or URL), e.g. "
            "`dvc exp run -S dataset.design=path/to/design.tsv`"
        )
    return design


def qc_metrics(rows_in: int, prepared: ReadLibrary, built: BuiltInputs) -> dict[str, object]:
    """metrics/qc.json, a DVC metric kept small: what went in, what was excluded and why, what the model sees.

    `rows_used` counts the oligo rows whose target enters the headline: flagged dropouts
    stay among the benchmark rows of per-oligo experiments but are not used.
    """
    excluded = dict(prepared.excluded) | built.excluded
    return {
        "rows_in": rows_in,
        "rows_used": rows_used(built.rows),
        "excluded": excluded,
        "benchmark_rows": len(built.rows),
        "elements": int(built.rows[ELEMENT_ID].nunique()),
        "distinct_inputs": len(built.inputs),
        QC_MOTIF_CHECKED: built.motif_checked,
        "motif_matches_reference": built.motif_matches,
    } | ({} if prepared.pool_offset_log2 is None else {"pool_offset_log2": prepared.pool_offset_log2})


def rows_used(rows: pd.DataFrame) -> int:
    """Oligos behind the headline targets: n_oligos of V1 elements, or the unflagged per-oligo rows."""
    return int(rows.loc[~rows[ZERO_RNA_DROPOUT].astype(bool), N_OLIGOS].sum())


def qc_details(prepared: ReadLibrary, built: BuiltInputs) -> dict[str, object]:
    """metrics/qc_details.json (not a metric): everything else prepare knows, for the report."""
    mismatch_rows: dict[str, int] = {}
    for record in built.motif_mismatches:
        mismatch_rows[str(record["reason"])] = mismatch_rows.get(str(record["reason"]), 0) + int(record["rows"])
    return {
        "activity": prepared.details,
        QC_MOTIF_MISMATCHES: built.motif_mismatches,
        "motif_mismatch_rows": mismatch_rows,
        "elements_without_target": built.elements_without_target,
        "design": dict(built.notes),
    }


def motif_mismatch_warning(built: BuiltInputs) -> str | None:
    """One line naming every element whose motif differs from the reference, or None."""
    if not built.motif_mismatches:
        return None
    named = "; ".join(f"{r[ELEMENT_ID]} ({r['rows']:,} rows, {r['reason']}: reference {r['reference_motif']} "
                      f"vs name {r['name_motif']})" for r in built.motif_mismatches)
    return (f"the name's motif does not match the reference for {len(built.motif_mismatches)} element(s), "
            f"{built.motif_checked - built.motif_matches:,} of {built.motif_checked:,} rows: {named}")
