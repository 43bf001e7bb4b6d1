"""From the oligo table to one experiment's benchmark rows and model inputs (V1, V2, V3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mprabench.activity import PreparedActivity
from mprabench.config import InputContext, InputMode, Params, SubsetConfig
from mprabench.design import design_from_counts, local_design_path, read_design
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
    in_flanks,
    motif_mismatch_records,
    oriented_element_input,
)


SUBSET_EXCLUSION = "outside_dataset_subset"  # qc.json's excluded reason for rows left out by dataset.subset
FOLD = "fold"  # the column a dataset's reader fills with each row's fold, where the deposit has one


def select_subset(oligos: pd.DataFrame, subset: SubsetConfig, dataset: str) -> tuple[pd.DataFrame, int]:
    """(the rows of the sampled elements or folds, rows left out); every row when subset is unset.

    Elements are drawn without replacement from the sorted element ids with `seed`, so the same
    settings give the same sample on every machine."""
    kept = oligos
    if subset.folds is not None:
        if FOLD not in oligos:
            raise ConfigError(f"dataset.subset.folds = {subset.folds}: dataset {dataset} has no `{FOLD}` column; "
                              "sample elements instead (-S dataset.subset.n_elements=150) or set folds to null")
        known = sorted(oligos[FOLD].dropna().unique().tolist())
        unknown = sorted(set(subset.folds) - set(known))
        if unknown:
            raise ConfigError(f"dataset.subset.folds: {unknown} are not folds of {dataset} (it has {known})")
        kept = kept[kept[FOLD].isin(subset.folds)]
    if subset.n_elements is not None:
        elements = sorted(kept[ELEMENT_ID].unique())
        if subset.n_elements > len(elements):
            raise ConfigError(
                f"dataset.subset.n_elements = {subset.n_elements} is more than the {len(elements):,} elements of "
                f"{dataset}{' in the chosen folds' if subset.folds is not None else ''}; lower it, or set it to "
                "null for the whole library")
        rng = np.random.default_rng(subset.seed)
        chosen = set(rng.choice(np.array(elements, dtype=object), size=subset.n_elements, replace=False))
        kept = kept[kept[ELEMENT_ID].isin(chosen)]
    return kept, len(oligos) - len(kept)


def build_experiment_inputs(oligos: pd.DataFrame, params: Params, genome_cache: Path, raw_dir: Path) -> BuiltInputs:
    """Rows and distinct inputs as `experiment.inputs` says, for the rows dataset.subset keeps."""
    oligos, outside = select_subset(oligos, params.dataset.subset, params.dataset.name)
    built = _build_inputs(oligos, params, genome_cache, raw_dir)
    if outside:
        built.excluded = {**built.excluded, SUBSET_EXCLUSION: outside}
    return built


def _build_inputs(oligos: pd.DataFrame, params: Params, genome_cache: Path, raw_dir: Path) -> BuiltInputs:
    experiment = params.experiment
    if experiment.inputs is InputMode.aggregated:
        return _aggregated_inputs(oligos, params, genome_cache)
    if experiment.inputs is InputMode.individual:
        windows = {s.element_id: centred_window(s, experiment.window) for s in element_sites(oligos)}
        references = read_windows(windows.values(), params.genome, genome_cache)
        return build_individual_inputs(oligos, windows, references, experiment.seed_strand_bug)
    return _designed_inputs(oligos, params, genome_cache, raw_dir)


def _aggregated_inputs(oligos: pd.DataFrame, params: Params, genome_cache: Path) -> BuiltInputs:
    """V1 rows, each element's motif in the context experiment.context names."""
    experiment = params.experiment
    if experiment.context is InputContext.n_pad:
        return build_aggregated_inputs(oligos, experiment.window)
    if experiment.context is InputContext.flanks:
        left, right = experiment.flanks.left or "", experiment.flanks.right or ""
        return build_aggregated_inputs(oligos, experiment.window,
                                       lambda _element, motif: in_flanks(motif, left, right, experiment.window))
    # genome: the element's reference window with the name's motif in place, as V2 builds it
    windows = {s.element_id: centred_window(s, experiment.window) for s in element_sites(oligos)}
    references = read_windows(windows.values(), params.genome, genome_cache)
    by_element = {s.element_id: oriented_element_input(s, windows[s.element_id], references[windows[s.element_id]],
                                                       experiment.seed_strand_bug) for s in element_sites(oligos)}
    built = build_aggregated_inputs(oligos, experiment.window, lambda element, _motif: by_element[element])
    built.motif_mismatches = motif_mismatch_records(oligos, windows, references)
    return built


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
