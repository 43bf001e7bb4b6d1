"""The headline figure: element-level Pearson r with its CI per primary feature (a forest plot).

Drawn from metrics/summary.json alone (the headline contract), so it needs no evaluation
object: one summary gives one experiment; several summaries (e.g. from `git show
<rev>:metrics/summary.json`) are drawn side by side, one marker per experiment. The same
rows are written as plots/forest.csv for `dvc plots diff` (template .dvc/plots/forest.json).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from mprabench.files import write_csv
from mprabench.plots.layout import Header, figure_with_axes, legend_anchor, save_figure, text_width
from mprabench.plots.style import MUTED, NOT_ESTIMABLE, OKABE_ITO, RC_PARAMS, fmt_p
from mprabench.headline import feature_statistics, forest_statistics, primary_features, withheld_pearson
from mprabench.schema import SUMMARY_DESIGN

# The reason(s) a row's Pearson interval or p is withheld (this design's calibration fails them), or empty.
WITHHELD_COLUMN = "withheld"



def forest_columns() -> list[str]:
    """plots/forest.csv's columns: the run and feature, then one per headline statistic drawn (mprabench.headline)."""
    return ["experiment", "feature", "label", *(s.forest_column for s in forest_statistics()), WITHHELD_COLUMN]


def number_columns() -> list[str]:
    return [s.forest_column for s in forest_statistics() if not s.flag]

MARKERS = ("o", "s", "D", "^", "v", "P", "X")


def forest_table(summaries: Mapping[str, Mapping[str, Any]], label: Callable[[str], str],
                 details: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """One row per (experiment, primary feature) from each summary.json (Spearman's numbers of a feature other
    than the headline one from that experiment's details.json, when given); missing values stay NaN."""
    rows = [forest_row(experiment, feature, label(feature),
                       feature_statistics(summary, feature, (details or {}).get(experiment)))
            for experiment, summary in summaries.items() for feature in primary_features(summary)]
    return pd.DataFrame(rows, columns=forest_columns())


def forest_row(experiment: str, feature: str, label: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """One row of plots/forest.csv from a feature's block of summary.json (or the `headline` block)."""
    return {"experiment": experiment, "feature": feature, "label": label} | {
        s.forest_column: _flag(values.get(s.key)) if s.flag else _number(values.get(s.key))
        for s in forest_statistics()} | {WITHHELD_COLUMN: "; ".join(reason for _, reason in withheld_pearson(values))}


def _flag(value: Any) -> str:
    return {True: "yes", False: "no"}.get(value, NOT_ESTIMABLE)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")


def write_forest_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Numbers with six significant digits; a missing (not estimable) value is an empty cell."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = frame[forest_columns()].astype(object)
    for column in number_columns():
        text[column] = [format(v, ".6g") if np.isfinite(v) else "" for v in frame[column].to_numpy(float)]
    return write_csv(text, path)


def forest_figure(frame: pd.DataFrame, subtitle: str, n_elements: Any, ci_level: float,
                  rows: str = "per feature") -> Figure:
    """r and CI per feature (rows), experiments side by side within a row; n.e. written out.
    `rows` says in the title what a row is (the leaderboard's rows are experiments)."""
    labels = list(dict.fromkeys(frame["label"]))
    experiments = list(dict.fromkeys(frame["experiment"]))
    k = len(experiments)
    partial = k > 1 and len(frame) < k * len(labels)
    withheld = frame[WITHHELD_COLUMN].fillna("").astype(str).str.len().gt(0).any() if WITHHELD_COLUMN in frame else False
    header = Header(
        (f"Element-level Pearson r; Spearman's ρ with {ci_level:.0%} CI (Pearson CI withheld), "
         if withheld else f"Element-level Pearson r with {ci_level:.0%} CI, ")
        + f"{rows} (n = {n_elements} elements)\n{subtitle}",
        notes=("Filled marker: Bonferroni-significant over the primary features (Spearman permutation p; a trained "
               "baseline: its refit-null p); open: not significant. p is printed beside each interval; "
               "n.e. = not estimable."
               + (" Grey ◇ with its interval: Spearman's ρ, where this design's calibration withholds the Pearson "
                  "interval and p (not calibrated: summary.json gives the reason); its p is then Spearman's."
                  if withheld else "")
               + (" A row without a marker of an experiment: that experiment's predictor has no such feature."
                  if partial else "")),
        legend_row=k > 1)
    label_width = 0.3 + text_width(max(labels, key=len) if labels else "", 8.0)
    row_height = 0.28 + 0.22 * k
    annotation = "r = -0.00, ρ = -0.00, p(ρ) = 1.0e-04 (Pearson CI, p withheld)" if withheld else "r = -0.00, p = 1.0e-04"
    fig, ax, page = figure_with_axes((label_width, 0.55, 4.2, row_height * max(1, len(labels))),
                                     right=0.2 + text_width(annotation, 7.5), header=header)
    step = min(0.22, 0.7 / k)
    positions = np.arange(len(labels))[::-1].astype(float)  # first feature on top
    # Per row, the experiments that make its feature, offset around the row (first experiment on top);
    # a feature an experiment does not make is no "not estimable" value: it is left blank.
    makers = {label: list(dict.fromkeys(frame.loc[frame["label"] == label, "experiment"])) for label in labels}
    for j, experiment in enumerate(experiments):
        part = frame[frame["experiment"] == experiment].set_index("label").reindex(labels)
        color, marker = OKABE_ITO[j % len(OKABE_ITO)] if k > 1 else "black", MARKERS[j % len(MARKERS)]
        for position, (label, row) in zip(positions, part.iterrows()):
            if experiment in makers[label]:
                rank, n = makers[label].index(experiment), len(makers[label])
                _draw_interval(ax, position - (rank - (n - 1) / 2) * step, row, color, marker)
    ax.axvline(0, color=MUTED, lw=0.8, ls="--")
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.set_yticks(positions, labels)
    ax.set_xlabel("element-level Spearman ρ (◇), Pearson r (○ ●)" if withheld else
                  "element-level Pearson r (prediction vs measured activity, element means)")
    ax.grid(axis="x", color="#E5E5E5", lw=0.6)
    ax.set_axisbelow(True)
    if k > 1:
        handles = [Line2D([], [], color=OKABE_ITO[j % len(OKABE_ITO)], marker=MARKERS[j % len(MARKERS)],
                          label=e) for j, e in enumerate(experiments)]
        fig.legend(handles=handles, loc="upper left", ncols=min(k, 5), frameon=False,
                   bbox_to_anchor=legend_anchor(fig, page), borderaxespad=0, title=None)
    return fig


def _draw_interval(ax: Any, y: float, row: pd.Series, color: str, marker: str) -> None:
    r, low, high = row["r"], row["ci_low"], row["ci_high"]
    if not np.isfinite(r):
        ax.text(0, y, f"{NOT_ESTIMABLE} (not estimable)", ha="center", va="center", fontsize=8, color="black",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
        return
    if np.isfinite(low) and np.isfinite(high):
        ax.hlines(y, low, high, color=color, lw=1.6)
    filled = row["significant"] == "yes"
    withheld = isinstance(row.get(WITHHELD_COLUMN), str) and bool(row.get(WITHHELD_COLUMN))
    rho = row.get("rho", np.nan)
    if withheld and np.isfinite(rho):  # the calibrated interval in place of the withheld Pearson one
        rho_low, rho_high = row.get("rho_ci_low", np.nan), row.get("rho_ci_high", np.nan)
        if np.isfinite(rho_low) and np.isfinite(rho_high):
            ax.hlines(y - 0.08, rho_low, rho_high, color=MUTED, lw=1.2)
        ax.plot([rho], [y - 0.08], marker="D", ms=4, color=MUTED, markerfacecolor="white", ls="")
    ax.plot([r], [y], marker=marker, ms=6, color=color, markerfacecolor=color if filled else "white",
            markeredgewidth=1.4, ls="")
    if withheld:
        rho_p = row.get("spearman_p", np.nan)
        text = (f"r = {r:+.2f}, ρ = {rho:+.2f}, p(ρ) = {fmt_p(rho_p if np.isfinite(rho_p) else None)} "
                "(Pearson CI, p withheld)") if np.isfinite(rho) else f"r = {r:+.2f} (Pearson CI, p withheld)"
    else:
        p = row["p"] if np.isfinite(row["p"]) else None
        text = f"r = {r:+.2f}, p = {fmt_p(p)}"
    ax.annotate(text, xy=(1.03, y), xycoords=("axes fraction", "data"),
                va="center", ha="left", fontsize=7.5, annotation_clip=False)


def write_forest(summary: Mapping[str, Any], experiment: str, label: Callable[[str], str], subtitle: str,
                 ci_level: float, csv_path: Path, figure_path: Path, dpi: int,
                 details: Mapping[str, Any] | None = None) -> list[Path]:
    """plots/forest.csv and the forest PNG of one run's summary.json (and details.json)."""
    frame = forest_table({experiment: summary}, label, {experiment: details} if details else None)
    n_elements = (summary.get(SUMMARY_DESIGN) or {}).get("n_elements", "?")
    figure_path.parent.mkdir(parents=True, exist_ok=True)
    with mpl.rc_context(RC_PARAMS):
        figure = forest_figure(frame, subtitle, n_elements, ci_level)
        return [write_forest_csv(frame, csv_path), save_figure(figure, figure_path, dpi)]
