"""From the oligo table to one experiment's benchmark rows and model inputs (V1, V2, V3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mprabench.config import InputContext, InputMode, Params, SubsetConfig
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
from mprabench.readers.base import ReadLibrary
from mprabench.schema import (
    CHROM,
    ELEMENT_ID,
    END,
    N_OLIGOS,
    ORIENTATION,
    ORIENTATION_REVERSE,
    QC_MOTIF_CHECKED,
    QC_MOTIF_MISMATCHES,
    ROW_ID,
    SEQUENCE,
    START,
    STRAND,
    ZERO_RNA_DROPOUT,
)
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
    genome_flank_windows,
    in_flanks,
    in_genome,
    motif_mismatch_records,
    oriented_element_input,
)


# Input modes for datasets whose rows are measured inserts (a sequence table): `given`, and V2's
# `individual` (one input per row), which for such rows is the row's own insert.
INSERT_MODES = (InputMode.given, InputMode.individual)
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


def build_experiment_inputs(oligos: pd.DataFrame, params: Params, genome_cache: Path, raw_dir: Path,
                            measured_inserts: bool = False) -> BuiltInputs:
    """Rows and distinct inputs as `experiment.inputs` says, for the rows dataset.subset keeps."""
    oligos, outside = select_subset(oligos, params.dataset.subset, params.dataset.name)
    built = _build_inputs(oligos, params, genome_cache, raw_dir, measured_inserts)
    if outside:
        built.excluded = {**built.excluded, SUBSET_EXCLUSION: outside}
    return built


def _build_inputs(oligos: pd.DataFrame, params: Params, genome_cache: Path, raw_dir: Path,
                  measured_inserts: bool) -> BuiltInputs:
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
        if experiment.inputs is InputMode.given:  # experiment.context applies to the insert experiments
            return _given_inputs(oligos, params, genome_cache)
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
        return _aggregated_inputs(oligos, params, genome_cache)
    if experiment.inputs is InputMode.individual:
        windows = {s.element_id: centred_window(s, experiment.window) for s in element_sites(oligos)}
        references = read_windows(windows.values(), params.genome, genome_cache)
        return build_individual_inputs(oligos, windows, references, experiment.seed_strand_bug)
    return _designed_inputs(oligos, params, genome_cache, raw_dir)


def _given_inputs(oligos: pd.DataFrame, params: Params, genome_cache: Path) -> BuiltInputs:
    """Each measured insert (adapters included) in the context experiment.context names."""
    experiment, width = params.experiment, params.experiment.window
    if experiment.context is InputContext.n_pad:
        return build_given_inputs(oligos, width)
    if experiment.context is InputContext.flanks:
        left, right = experiment.flanks.left or "", experiment.flanks.right or ""
        return build_given_inputs(oligos, width, lambda _row, insert: in_flanks(insert, left, right, width))
    coordinates = oligos[[CHROM, START, END]].notna().all(axis=1) if {CHROM, START, END} <= set(oligos) else None
    if coordinates is None or not coordinates.all():
        missing = len(oligos) if coordinates is None else int((~coordinates).sum())
        raise ConfigError(
            f"experiment.context=genome needs each element's coordinates, and {missing:,} of {len(oligos):,} rows "
            f"of dataset {params.dataset.name} have none (dataset.columns chrom/start/end): use "
            "-S experiment.context=flanks (the construct around the insert) or n_pad, or a dataset with coordinates")
    strands = [_reading_strand(strand, orientation) for strand, orientation in
               zip(oligos.get(STRAND, pd.Series([None] * len(oligos))), oligos.get(ORIENTATION, [None] * len(oligos)))]
    lengths = oligos[SEQUENCE].str.len().tolist()
    flanks = [genome_flank_windows(str(row), str(chrom), int(start), int(end), strand, length, width)
              for row, chrom, start, end, strand, length in
              zip(oligos[ROW_ID], oligos[CHROM], oligos[START], oligos[END], strands, lengths, strict=True)]
    references = read_windows([w for pair in flanks for w in pair], params.genome, genome_cache)
    return build_given_inputs(oligos, width, lambda i, insert: in_genome(
        insert, references[flanks[i][0]], references[flanks[i][1]], strands[i]))


def _reading_strand(strand: object, orientation: object) -> str:
    """The strand an insert reads on: its element's strand (+ when unknown), flipped when measured reversed."""
    plus = strand != "-"
    return "+" if plus != (orientation == ORIENTATION_REVERSE) else "-"


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
