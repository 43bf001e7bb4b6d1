"""From the oligo table to one experiment's benchmark rows and model inputs (V1, V2, V3)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mprabench.config import InputMode, Params
from mprabench.genome import read_windows
from mprabench.sequences import (
    BuiltInputs,
    build_aggregated_inputs,
    build_individual_inputs,
    centred_window,
    element_sites,
)


def build_experiment_inputs(oligos: pd.DataFrame, params: Params, genome_cache: Path) -> BuiltInputs:
    """Rows and distinct inputs as `experiment.inputs` says."""
    experiment = params.experiment
    if experiment.inputs is InputMode.aggregated:
        return build_aggregated_inputs(oligos, experiment.window)
    if experiment.inputs is InputMode.individual:
        windows = {s.element_id: centred_window(s, experiment.window) for s in element_sites(oligos)}
        references = read_windows(windows.values(), params.genome, genome_cache)
        return build_individual_inputs(oligos, windows, references, experiment.seed_strand_bug)
    raise NotImplementedError(f"experiment.inputs = {experiment.inputs.value}")


def qc_metrics(
    library: pd.DataFrame, oligos: pd.DataFrame, excluded: dict[str, int], built: BuiltInputs
) -> dict[str, object]:
    """metrics/qc.json: what went in, what was excluded and why, what the model will see."""
    return {
        "rows_in": len(library),
        "rows_used": len(oligos),
        "excluded": dict(excluded),
        "benchmark_rows": len(built.rows),
        "elements": int(built.rows["element_id"].nunique()),
        "distinct_inputs": len(built.inputs),
        "motif_checked": built.motif_checked,
        "motif_matches_reference": built.motif_matches,
    }
