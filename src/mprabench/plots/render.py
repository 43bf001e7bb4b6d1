"""render_figures: every figure of an evaluation, drawn once, in parallel where possible."""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import matplotlib as mpl
import pandas as pd
from matplotlib.figure import Figure

from mprabench.evaluation import Evaluation
from mprabench.plots.data import input_level_table, stratum_bar_data
from mprabench.plots.figures import (
    distribution_figure,
    heatmap_figure,
    roc_figure,
    scatter_figure,
    strata_figure,
    within_element_features,
    within_element_figure,
)
from mprabench.plots.labels import RunContext
from mprabench.plots.layout import save_figure
from mprabench.plots.style import RC_PARAMS, feature_styles

log = logging.getLogger(__name__)

SCATTER_FIGURE = "scatter.png"
ROC_FIGURE = "roc.png"
HEATMAP_FIGURE = "spearman_heatmap.png"
DISTRIBUTION_FIGURE = "distributions.png"
WITHIN_ELEMENT_FIGURE = "within_element.png"
STRATUM_FIGURE_KINDS = ("tf", "strand", "chrom", "class")


def strata_figure_name(kind: str) -> str:
    return f"strata_{kind}.png"


# Strata defined by the design (TF labels) are visible to the model only when inputs vary within
# elements; otherwise a "per-TF" r is a between-element correlation and is not drawn (PROTOCOL.md).
DESIGN_STRATA = ("tf",)


def strata_bars(evaluation: Evaluation) -> dict[str, tuple[pd.DataFrame, list[str]]]:
    """Per drawn stratum kind: bars of its estimable strata, and the names of those left out.

    A kind with no estimable stratum gets no figure; nor do design strata when the model
    inputs do not vary within elements.
    """
    if evaluation.strata.empty:
        return {}
    inputs_vary = evaluation.sizes.n_unique_inputs > evaluation.sizes.n_elements
    drawn = {}
    for kind in STRATUM_FIGURE_KINDS:
        if kind in DESIGN_STRATA and not inputs_vary:
            continue
        bars = stratum_bar_data(evaluation.strata, kind, evaluation.family)
        estimable = bars.groupby("stratum", observed=True)["estimable"].any()
        keep = [s for s in estimable.index if estimable[s]]
        if not keep:
            continue
        hidden = [str(s) for s in estimable.index if not estimable[s]]
        kept = bars[bars["stratum"].isin(keep)].copy()
        kept["stratum"] = kept["stratum"].cat.remove_unused_categories()
        drawn[kind] = (kept.reset_index(drop=True), hidden)
    return drawn


def drawn_subset(table: pd.DataFrame, evaluation: Evaluation, max_features: int) -> tuple[pd.DataFrame, Evaluation]:
    """The table and evaluation restricted to the features figures show: the family first, then the
    others in order, at most `max_features` (so figure memory does not grow with the feature count)."""
    ordered = [*evaluation.family, *(f for f in evaluation.features if f not in evaluation.family)]
    drawn = ordered[:max_features]
    if len(drawn) == len(evaluation.features):
        return table, evaluation
    left_out = [f for f in evaluation.features if f not in drawn]
    log.info("figures show %d of %d features (evaluate.max_figure_features = %d); left out of the figures, "
             "not of the tables: %s%s", len(drawn), len(evaluation.features), max_features,
             ", ".join(left_out[:10]), " ..." if len(left_out) > 10 else "")
    keep = set(drawn)
    subset = dataclasses.replace(
        evaluation, features=[f for f in evaluation.features if f in keep],
        family=[f for f in evaluation.family if f in keep],
        results={f: r for f, r in evaluation.results.items() if f in keep},
        element_significant={f: v for f, v in evaluation.element_significant.items() if f in keep},
        strata=evaluation.strata[evaluation.strata["feature"].isin(keep)] if not evaluation.strata.empty
        else evaluation.strata)
    return table.drop(columns=left_out), subset


def figure_builders(table: pd.DataFrame, evaluation: Evaluation,
                    context: RunContext | None = None) -> dict[str, Callable[[], Figure]]:
    """File name → builder for every figure this evaluation supports (each drawn once)."""
    styles = feature_styles(evaluation.features)
    inputs = input_level_table(table, evaluation.features, evaluation.target)
    # Most expensive first, so parallel workers finish at about the same time.
    builders: dict[str, Callable[[], Figure]] = {
        SCATTER_FIGURE: lambda: scatter_figure(table, evaluation, context),
    }
    within = within_element_features(evaluation)
    if within:
        builders[WITHIN_ELEMENT_FIGURE] = (
            lambda: within_element_figure(table, evaluation, within, styles, context))
    for kind, (bars, hidden) in strata_bars(evaluation).items():
        builders[strata_figure_name(kind)] = (
            lambda bars=bars, kind=kind, hidden=hidden: strata_figure(bars, kind, evaluation, styles,
                                                                      context, hidden))
    builders[DISTRIBUTION_FIGURE] = lambda: distribution_figure(inputs, evaluation, styles, context)
    builders[HEATMAP_FIGURE] = lambda: heatmap_figure(inputs, evaluation, context)
    builders[ROC_FIGURE] = lambda: roc_figure(table, evaluation, styles, context)
    return builders


def render_figures(table: pd.DataFrame, evaluation: Evaluation, out_dir: Path, dpi: int,
                   workers: int | None = None, context: RunContext | None = None) -> list[Path]:
    """Draw every figure into out_dir as PNG; returns the written paths (stable names).

    ``context``: dataset, experiment, predictor and biosample for every figure's subtitle, and
    the feature labels (:func:`mprabench.plots.labels.run_context`); None leaves them out.

    ``workers``: processes drawing in parallel (default: one per available core, at most one
    per figure). Matplotlib spends most of its time in pure Python, so separate processes
    are the only way to use more than one core. Figures this evaluation does not support
    (e.g. within-element effects in V2) are removed if an earlier run left them in out_dir.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    builders = figure_builders(table, evaluation, context)
    remove_stale_figures(out_dir, set(builders))
    workers = min(available_cores(), len(builders)) if workers is None else workers
    with mpl.rc_context(RC_PARAMS):
        if workers > 1 and can_fork_safely():
            return render_in_processes(builders, out_dir, dpi, workers)
        return [save_figure(build(), out_dir / name, dpi) for name, build in builders.items()]


def remove_stale_figures(out_dir: Path, current: set[str]) -> None:
    """Delete this module's optional figures that the current evaluation does not draw."""
    optional = {WITHIN_ELEMENT_FIGURE, *(strata_figure_name(k) for k in STRATUM_FIGURE_KINDS)}
    for name in optional - current:
        (out_dir / name).unlink(missing_ok=True)


# Builders handed to forked workers: a fork inherits them, so no figure code is pickled.
_FORKED_BUILDERS: dict[str, Callable[[], Figure]] = {}


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def can_fork_safely() -> bool:
    """Fork only where it exists and no other Python thread could hold a lock at fork time."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def render_in_processes(builders: dict[str, Callable[[], Figure]], out_dir: Path, dpi: int,
                        workers: int) -> list[Path]:
    """Each figure drawn in one of `workers` forked processes (rcParams are inherited).

    A worker's exception is re-raised here; a worker that dies raises BrokenProcessPool
    instead of hanging.
    """
    _FORKED_BUILDERS.update(builders)
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            jobs = [(name, str(out_dir), dpi) for name in builders]
            return [Path(path) for path in pool.map(_render_forked, jobs)]
    finally:
        _FORKED_BUILDERS.clear()


def _render_forked(job: tuple[str, str, int]) -> str:
    name, out_dir, dpi = job
    return str(save_figure(_FORKED_BUILDERS[name](), Path(out_dir) / name, dpi))

