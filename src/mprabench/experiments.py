"""From the oligo table to one experiment's benchmark rows and model inputs (V1, V2, V3)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mprabench.activity import PreparedActivity
from mprabench.config import InputMode, Params
from mprabench.design import (
    design_checksum,
    design_from_counts,
    local_design_path,
    read_design,
    require_fitting_length,
    verify_design,
)
from mprabench.errors import ConfigError
from mprabench.genome import read_windows
from mprabench.schema import ELEMENT_ID, N_OLIGOS, QC_MOTIF_MISMATCHES, ROW_ID, ZERO_RNA_DROPOUT
from mprabench.sequences import (
    BuiltInputs,
    build_aggregated_inputs,
    build_designed_inputs,
    build_individual_inputs,
    centred_window,
    designed_window,
    element_sites,
)


def build_experiment_inputs(oligos: pd.DataFrame, params: Params, genome_cache: Path, raw_dir: Path) -> BuiltInputs:
    """Rows and distinct inputs as `experiment.inputs` says."""
    experiment = params.experiment
    if experiment.inputs is InputMode.aggregated:
        return build_aggregated_inputs(oligos, experiment.window)
    if experiment.inputs is InputMode.individual:
        windows = {s.element_id: centred_window(s, experiment.window) for s in element_sites(oligos)}
        references = read_windows(windows.values(), params.genome, genome_cache)
        return build_individual_inputs(oligos, windows, references, experiment.seed_strand_bug)
    return _designed_inputs(oligos, params, genome_cache, raw_dir)


def _designed_inputs(oligos: pd.DataFrame, params: Params, genome_cache: Path, raw_dir: Path) -> BuiltInputs:
    design = library_design(oligos, params, raw_dir)
    require_fitting_length(design, params.experiment.window)
    lengths = oligos[ROW_ID].map(design).str.len().fillna(0)
    margins = lengths.groupby(oligos[ELEMENT_ID]).max()
    sites = [s for s in element_sites(oligos) if margins[s.element_id] > 0]
    windows = {s.element_id: designed_window(s, params.experiment.window, int(margins[s.element_id])) for s in sites}
    references = read_windows(windows.values(), params.genome, genome_cache)
    return build_designed_inputs(oligos, design, params.experiment.window, windows, references)


def library_design(oligos: pd.DataFrame, params: Params, raw_dir: Path) -> dict[str, str]:
    """The design file when dataset.design is set, else a `sequence` column of the fetched counts files."""
    if params.dataset.design:
        path = local_design_path(params.dataset.design, raw_dir)
        verify_design(path, design_checksum(params.dataset))
        return read_design(path, params.dataset.max_line_columns)
    design = design_from_counts(oligos)
    if not design:
        raise ConfigError(
            f"experiment {params.experiment.name} builds inputs from the library design, and the fetched counts "
            "files have no `sequence` column: set dataset.design to its FASTA/TSV/CSV (a path or URL), e.g. "
            "`dvc exp run -S dataset.design=path/to/design.tsv`"
        )
    return design


def qc_metrics(library: pd.DataFrame, prepared: PreparedActivity, built: BuiltInputs) -> dict[str, object]:
    """metrics/qc.json, a DVC metric kept small: what went in, what was excluded and why, what the model sees.

    `rows_used` counts the oligo rows whose target enters the headline: flagged dropouts
    stay among the benchmark rows of per-oligo experiments but are not used.
    """
    excluded = dict(prepared.excluded) | built.excluded
    return {
        "rows_in": len(library),
        "rows_used": rows_used(built.rows),
        "excluded": excluded,
        "benchmark_rows": len(built.rows),
        "elements": int(built.rows[ELEMENT_ID].nunique()),
        "distinct_inputs": len(built.inputs),
        "motif_checked": built.motif_checked,
        "motif_matches_reference": built.motif_matches,
        "pool_offset_log2": prepared.pool_offset_log2,
    }


def rows_used(rows: pd.DataFrame) -> int:
    """Oligos behind the headline targets: n_oligos of V1 elements, or the unflagged per-oligo rows."""
    return int(rows.loc[~rows[ZERO_RNA_DROPOUT].astype(bool), N_OLIGOS].sum())


def qc_details(prepared: PreparedActivity, built: BuiltInputs) -> dict[str, object]:
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
