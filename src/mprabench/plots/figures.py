"""The figures, one function each; every title says what is shown and on which n.

Figures are built on `matplotlib.figure.Figure` directly (Agg canvas, no pyplot state, no
display), so nothing stays registered after saving.
"""

from __future__ import annotations

import math

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from mprabench.evaluation import Evaluation, FeatureEvaluation
from mprabench.plots.data import (
    element_level_table,
    roc_points,
    spearman_matrix,
    stratum_labels,
    within_element_deltas,
)
from mprabench.plots.labels import RunContext, feature_label, target_label
from mprabench.plots.layout import (
    Header,
    figure_with_axes,
    legend_anchor,
    panel_grid,
    sizes_text,
    text_width,
)
from mprabench.plots.style import (
    ACCENT,
    DIVERGING_CMAP,
    FIT,
    MISSING_CELL,
    MUTED,
    NOT_ESTIMABLE,
    NOT_ESTIMABLE_COLOR,
    SEQUENTIAL_CMAP,
    LineStyle,
    fmt_interval,
    fmt_p,
    fmt_r,
)
from mprabench.schema import ELEMENT_ID
from mprabench.stats.association import is_constant
from mprabench.stats.strata import METHOD_R_LABELS
from mprabench.stats.within_element import SUMMARY_METHOD_SHORT

STRATUM_KIND_LABELS = {"tf": "TF", "strand": "strand", "chrom": "chromosome", "element": "element",
                       "class": "element class"}
HEX_GRIDSIZE = 35
MIN_BINS, MAX_BINS = 5, 50
STRATA_MAX_COLUMNS = 6
HISTOGRAM_FACE = "#BDBDBD"  # one neutral fill with black bar edges: readable in grayscale
PANEL_INK = "#333333"  # points in titled one-feature panels


def label_of(feature: str, context: RunContext | None) -> str:
    """The human label of a feature (one label table: mprabench.plots.labels)."""
    return context.feature_label(feature) if context else feature_label(feature)


def with_subtitle(title: str, context: RunContext | None) -> str:
    """The figure title plus a line naming dataset, experiment, predictor and biosample."""
    return f"{title}\n{context.subtitle}" if context else title


def short_element_label(element_id: str) -> str:
    """`PPREwt_12_chr9_100_116_-_AGG…` -> `PPREwt_12 chr9:100 (−)`; other ids come back unchanged.

    Element ids are `{prefix}_{chrom}_{start}_{end}_{strand}_{motif}` and the prefix may itself
    contain `_`, so the chromosome is found from the end.
    """
    parts = str(element_id).split("_")
    if len(parts) >= 6 and parts[-4].isdigit() and parts[-3].isdigit():
        prefix, chrom, start, strand = "_".join(parts[:-5]), parts[-5], parts[-4], parts[-2]
        return f"{prefix} {chrom}:{start} ({strand.replace('-', '−')})"
    return str(element_id)


# --------------------------------------------------------------------------------------------
# 1. Feature vs target
# --------------------------------------------------------------------------------------------


def element_test_label(evaluation: Evaluation) -> str:
    return f"permutation test ({evaluation.config.n_permutations:,} permutations of element means)"


def scatter_stats_text(result: FeatureEvaluation) -> str:
    """The numbers printed under one scatter panel (methods and n are in the figure's notes)."""
    pooled, element = result.pooled, result.element
    low, high = result.ci
    return "\n".join([
        f"element means: r = {fmt_r(element.r)}, p = {fmt_p(result.element_p)}",
        f"{element.ci_level:.0%} CI of element r {fmt_interval(low, high)}",
        (f"naive row-level r = {fmt_r(pooled.pearson_r)} (p = {fmt_p(pooled.pearson_p)}), "
         f"ρ = {fmt_r(pooled.spearman_rho)}"),
    ])  # fmt: skip


def scatter_notes(evaluation: Evaluation) -> str:
    """What every panel's numbers mean, with the n each rests on."""
    sizes = evaluation.sizes
    trained = [f for f in evaluation.features if evaluation.results[f].trained is not None]
    text = (
        f"Naive row-level p treats the {sizes.n_rows:,} rows as independent; they carry only "
        f"{sizes.n_unique_inputs:,} distinct model inputs from {sizes.n_elements:,} elements.\n"
        f"CI: Fisher-z interval of the element-mean r (n = elements). "
        f"Element means: Pearson r over the {sizes.n_elements:,} element means, p from a "
        f"{element_test_label(evaluation)}"
    )
    if not trained:
        return text + "."
    return (text + f", except for the trained baseline{'s' if len(trained) > 1 else ''} {', '.join(trained)}: "
            "p from re-running its whole out-of-fold fit under element-permuted targets (refit null), no CI.")


def ols_line(ax: Axes, x: np.ndarray, y: np.ndarray, **style: object) -> None:
    """Least-squares line over the x range (nothing if x is constant)."""
    if len(x) < 2 or is_constant(x):
        return
    slope, intercept = np.polyfit(x, y, 1)
    ends = np.array([x.min(), x.max()])
    ax.plot(ends, intercept + slope * ends, **style)


def one_row_per_element(evaluation: Evaluation) -> bool:
    """V1-like tables: every row is its own element, so each point is an element and can be named."""
    return evaluation.sizes.n_rows == evaluation.sizes.n_elements


def draw_feature_scatter(ax: Axes, feature: str, table: pd.DataFrame, elements: pd.DataFrame,
                         evaluation: Evaluation, context: RunContext | None = None):
    """Hexbin of rows, element means on top, row and element OLS lines, stats underneath.

    With one row per element (V1) there is nothing to bin: every element is a labelled point.
    """
    target = evaluation.target
    x, y = table[feature].to_numpy(float), table[target].to_numpy(float)
    density = None
    labelled = one_row_per_element(evaluation)
    if is_constant(x):
        ax.text(0.5, 0.5, "constant feature", transform=ax.transAxes, ha="center", color=MUTED)
    elif not labelled:
        density = ax.hexbin(x, y, gridsize=HEX_GRIDSIZE, norm=LogNorm(), mincnt=1,
                            cmap=SEQUENTIAL_CMAP, linewidths=0)
        ols_line(ax, x, y, color=FIT, lw=1.8)
    ex, ey, n = (elements[c].to_numpy(float) for c in (feature, target, "n_rows"))
    sizes = 28 if labelled else 12 + 60 * n / n.max()
    ax.scatter(ex, ey, s=sizes, color=ACCENT, edgecolors="black", linewidths=0.5, alpha=0.9, zorder=3)
    ols_line(ax, ex, ey, color=ACCENT, lw=1.5, ls="--")
    if labelled:
        middle = (np.nanmin(ex) + np.nanmax(ex)) / 2 if len(ex) else 0.0
        for element, xi, yi in zip(elements.index, ex, ey):
            right_half = xi > middle  # label towards the centre, so it stays inside the panel
            ax.annotate(short_element_label(element), (xi, yi), xytext=(-3 if right_half else 3, 2),
                        textcoords="offset points", ha="right" if right_half else "left",
                        fontsize=5.5, color="#333333")
    label = label_of(feature, context)
    ax.set_title(label, fontweight="bold", fontsize=9)
    ax.set_xlabel(f"{label}, predicted")
    ax.set_ylabel(target_label(target))
    ax.locator_params(nbins=5)
    ax.annotate(scatter_stats_text(evaluation.results[feature]), xy=(0, 0),
                xycoords="axes fraction", xytext=(0, -32), textcoords="offset points",
                va="top", ha="left", fontsize=8)
    return density


def scatter_figure(table: pd.DataFrame, evaluation: Evaluation, context: RunContext | None = None) -> Figure:
    """All features in one grid (one file keeps the evaluate stage inside its time budget)."""
    features, sizes = evaluation.features, evaluation.sizes
    elements = element_level_table(table, features, evaluation.target)
    labelled = one_row_per_element(evaluation)
    what = (f"one labelled point per element ({sizes.n_elements:,} elements, one row each)" if labelled else
            f"hexagons count rows, markers are the {sizes.n_elements:,} element means")
    header = Header(
        title=with_subtitle(f"Predicted feature vs measured {target_label(evaluation.target)}: {what}\n"
                            f"{sizes_text(sizes)}", context),
        notes=scatter_notes(evaluation), legend_row=True)
    fig, axes, page = panel_grid(len(features), panel=(3.6, 2.6), header=header,
                                 gaps=(0.8, 1.55), margins=(0.75, 1.1, 0.3, 1.2))
    densities = [draw_feature_scatter(ax, f, table, elements, evaluation, context)
                 for ax, f in zip(axes, features)]
    add_shared_density_colorbar(fig, axes, [d for d in densities if d is not None])
    handles = [] if labelled else [Line2D([], [], color=FIT, lw=1.8, label="OLS fit over rows")]
    handles += [
        Line2D([], [], color=ACCENT, lw=1.5, ls="--", label="OLS fit over element means"),
        Line2D([], [], color=ACCENT, marker="o", ls="", markeredgecolor="black",
               label="element" if labelled else "element mean (size ∝ rows)"),
    ]  # fmt: skip
    fig.legend(handles=handles, loc="upper left", ncols=3, frameon=False,
               bbox_to_anchor=legend_anchor(fig, page), borderaxespad=0)
    return fig


def add_shared_density_colorbar(fig: Figure, axes: list[Axes], densities: list) -> None:
    """One colour scale for every hexbin panel, so densities compare across panels."""
    if not densities:
        return
    vmax = max(float(d.get_array().max()) for d in densities)
    for d in densities:
        d.set_clim(1, max(vmax, 2))
    right = max(ax.get_position().x1 for ax in axes)
    width = fig.get_figwidth()
    cax = fig.add_axes((right + 0.3 / width, 0.3, 0.15 / width, 0.4))
    bar = fig.colorbar(densities[0], cax=cax)
    bar.set_label("rows per hexagon")
    bar.ax.minorticks_off()  # log-scale minor ticks are slow to draw and add nothing here
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # no mathtext


# --------------------------------------------------------------------------------------------
# 2. ROC
# --------------------------------------------------------------------------------------------


def roc_figure(table: pd.DataFrame, evaluation: Evaluation, styles: dict[str, LineStyle],
               context: RunContext | None = None) -> Figure:
    """ROC of every feature for target > median; AUROC in the legend, best first."""
    y = table[evaluation.target].to_numpy(float)
    order = sorted(evaluation.features, key=lambda f: -(evaluation.results[f].pooled.auroc or -1))
    labels = {f: roc_label(label_of(f, context), evaluation.results[f].pooled.auroc) for f in order}
    sizes = evaluation.sizes
    header = Header(with_subtitle(
        f"ROC, {target_label(evaluation.target)} above its median is positive; {sizes_text(sizes)}\n"
        "rows of an element share one input, so a curve has at most "
        f"{sizes.n_unique_inputs:,} distinct thresholds", context))
    legend_width = 0.6 + text_width(max(labels.values(), key=len))
    fig, ax, _ = figure_with_axes((0.8, 0.6, 4.4, 4.4), right=legend_width, header=header)
    for feature in order:
        if evaluation.results[feature].pooled.auroc is None:
            ax.plot([], [], color=MUTED, label=labels[feature])
            continue
        fpr, tpr = roc_points(table[feature].to_numpy(float), y)
        style = styles[feature]
        ax.plot(fpr, tpr, color=style.color, ls=style.linestyle, lw=1.6, label=labels[feature])
    ax.plot([0, 1], [0, 1], color=MUTED, lw=1, ls=":", label="chance (AUROC 0.5)")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate")
    ax.legend(loc="upper left", bbox_to_anchor=(1.03, 1), frameon=False,
              title="feature (best first)", alignment="left")
    return fig


def roc_label(feature: str, auroc: float | None) -> str:
    return f"{feature}: AUROC {NOT_ESTIMABLE if auroc is None else format(auroc, '.3f')}"


# --------------------------------------------------------------------------------------------
# 3. Spearman heatmap, 4. distributions
# --------------------------------------------------------------------------------------------


def heatmap_figure(inputs: pd.DataFrame, evaluation: Evaluation, context: RunContext | None = None) -> Figure:
    """Annotated Spearman ρ among features and the per-input mean target."""
    target_name = f"{target_label(evaluation.target)} (mean per input)"
    matrix = spearman_matrix(inputs, evaluation.features, target_name)
    matrix = matrix.rename(index=lambda f: label_of(f, context), columns=lambda f: label_of(f, context))
    n, cell = len(matrix), 0.5
    label = 0.3 + text_width(max(matrix.columns, key=len))
    header = Header(with_subtitle(
        f"Spearman ρ over {len(inputs):,} distinct inputs (one value per input; the target averaged "
        f"over the input's rows); {NOT_ESTIMABLE}: not estimable, a constant feature", context))
    # x labels are rotated by 45°, so they need about 0.75 of their length vertically.
    fig, ax, _ = figure_with_axes((label, 0.75 * label, n * cell, n * cell), right=1.3,
                                  header=header)
    cmap = mpl.colormaps[DIVERGING_CMAP].with_extremes(bad=MISSING_CELL)
    values = matrix.to_numpy(float)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=-1, vmax=1)
    for (i, j), value in np.ndenumerate(values):
        text = NOT_ESTIMABLE if np.isnan(value) else f"{value:.2f}"
        ax.text(j, i, text, ha="center", va="center", fontsize=7,
                color="white" if abs(np.nan_to_num(value)) > 0.6 else "black")
    ax.set_xticks(range(n), matrix.columns, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), matrix.index)
    ax.spines[:].set_visible(False)
    box, width = ax.get_position(), fig.get_figwidth()
    cax = fig.add_axes((box.x1 + 0.25 / width, box.y0, 0.15 / width, box.height))
    fig.colorbar(image, cax=cax).set_label("Spearman ρ")
    return fig


def histogram_bins(n_values: int) -> int:
    """√n bins within [5, 50]: unlike numpy's "auto", never explodes on heavy-tailed values."""
    return int(np.clip(round(math.sqrt(n_values)), MIN_BINS, MAX_BINS))


def distribution_figure(inputs: pd.DataFrame, evaluation: Evaluation,
                        styles: dict[str, LineStyle] | None = None, context: RunContext | None = None) -> Figure:
    """Histogram of each feature over distinct inputs (one value per input, not per row).

    Each panel is one feature and is named by its title, so every panel has the same neutral
    fill with black bar edges: nothing depends on telling colours apart (grayscale-safe).
    """
    features = evaluation.features
    header = Header(with_subtitle(
        f"Prediction distributions over distinct model inputs (n = {len(inputs):,} per panel; "
        f"the table has {evaluation.sizes.n_rows:,} rows)", context))
    fig, axes, _ = panel_grid(len(features), panel=(3.0, 1.8), header=header, gaps=(0.65, 0.9),
                              margins=(0.7, 0.3, 0.3, 0.55))
    for ax, feature in zip(axes, features):
        values = inputs[feature].to_numpy(float)
        counts, edges = np.histogram(values, bins=histogram_bins(len(values)))
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=HISTOGRAM_FACE,
               edgecolor="black", linewidth=0.6)
        label = label_of(feature, context)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(f"{label}, predicted", fontsize=8)
        ax.set_ylabel("distinct inputs")
        ax.locator_params(nbins=5)
    return fig


# --------------------------------------------------------------------------------------------
# 5. Strata
# --------------------------------------------------------------------------------------------


def strata_figure(bars: pd.DataFrame, kind: str, evaluation: Evaluation,
                  styles: dict[str, LineStyle], context: RunContext | None = None,
                  hidden: list[str] | None = None) -> Figure:
    """Horizontal bars of r per estimable stratum (one panel per family feature), CIs as whiskers.

    `hidden`: strata left out because no feature is estimable in them; named in the notes.
    """
    features = [f for f in evaluation.family if f in set(bars["feature"])]
    strata = list(bars["stratum"].cat.categories)
    positions = np.arange(len(strata))[::-1].astype(float)  # first stratum on top
    labels = stratum_labels(bars)
    config, kind_label = evaluation.config, STRATUM_KIND_LABELS.get(kind, kind)
    notes = hidden_strata_notes(evaluation.strata, kind, hidden or [], features)
    r_label = stratum_r_label(evaluation.strata, kind, features)
    drawn = bars[bars["feature"].isin(features)]
    has_ci = bool((drawn["estimable"].astype("boolean").fillna(False)
                   & np.isfinite(drawn["ci_low"].to_numpy(float, na_value=np.nan))
                   & np.isfinite(drawn["ci_high"].to_numpy(float, na_value=np.nan))).any())
    whiskers = f", {config.ci_level:.0%} element-aware CI (whiskers)" if has_ci else ""
    header = Header(with_subtitle(
        f"{r_label} of feature vs {target_label(evaluation.target)} per {kind_label} stratum (bars)"
        f"{whiskers}; {sizes_text(evaluation.sizes)}", context),
        notes=notes, legend_row=True)
    ncols = min(len(features), STRATA_MAX_COLUMNS)
    fig, axes, page = panel_grid(
        len(features), panel=(2.2, max(1.2, 0.19 * len(strata))), header=header, gaps=(0.2, 0.9),
        margins=(0.65 + text_width(max(labels, key=len)), 0.2, 0.3, 0.55), ncols=ncols)
    any_not_estimable = False
    for i, (ax, feature) in enumerate(zip(axes, features)):
        any_not_estimable |= draw_stratum_bars(ax, bars[bars["feature"] == feature], strata, positions,
                                               LineStyle(HISTOGRAM_FACE, "-"), xlabel=r_label)  # one grayscale-safe fill
        ax.set_title(label_of(feature, context), fontsize=8)
        ax.set_ylim(-0.7, len(strata) - 0.3)
        # Labels in the first column only; not sharey, which would lay out hidden labels everywhere.
        if i % ncols == 0:
            ax.set_yticks(positions, labels)
            ax.set_ylabel(f"{kind_label} (distinct inputs)")
        else:
            ax.set_yticks([])
    handles = stratum_legend_handles(ci=has_ci, not_estimable=any_not_estimable)  # only what is drawn
    if handles:
        fig.legend(handles=handles, loc="upper left", ncols=2, frameon=False,
                   bbox_to_anchor=legend_anchor(fig, page), borderaxespad=0)
    return fig


def stratum_rows(strata_table: pd.DataFrame, kind: str, features: list[str]) -> pd.DataFrame:
    """The strata table's rows of one kind and the drawn features."""
    if strata_table.empty:
        return strata_table
    return strata_table[(strata_table["kind"] == kind) & strata_table["feature"].isin(features)]


def stratum_r_label(strata_table: pd.DataFrame, kind: str, features: list[str]) -> str:
    """What the bars are, from the strata table's `method` column (e.g. a pooled within-element r for TFs)."""
    rows = stratum_rows(strata_table, kind, features)
    methods = [m for m in dict.fromkeys(rows["method"].dropna()) if m] if "method" in rows else []
    labels = list(dict.fromkeys(METHOD_R_LABELS.get(m, "r") for m in methods))
    return " / ".join(labels) if labels else "r"


def hidden_strata_notes(strata_table: pd.DataFrame, kind: str, hidden: list[str], features: list[str]) -> str:
    """The strata left out, grouped by their reason as the strata table gives it."""
    if not hidden:
        return ""
    rows = stratum_rows(strata_table, kind, features)
    by_reason: dict[str, list[str]] = {}
    for stratum in hidden:
        reasons = rows.loc[rows["stratum"].astype(str) == stratum, "reason"].dropna() if len(rows) else []
        reason = "; ".join(dict.fromkeys(str(r) for r in reasons if str(r))) or "no reason in the strata table"
        by_reason.setdefault(reason, []).append(stratum)
    parts = [f"{', '.join(names)} ({reason})" for reason, names in by_reason.items()]
    return "Not shown, not estimable: " + "; ".join(parts) + "."


def draw_stratum_bars(ax: Axes, bars: pd.DataFrame, strata: list[str], positions: np.ndarray,
                      style: LineStyle, xlabel: str = "r") -> bool:
    """Bars where estimable; an × at zero where not, so a missing value never reads as r = 0.

    Returns whether any × was drawn (the legend names only what is drawn).
    """
    rows = bars.set_index("stratum").reindex(strata)
    estimable = rows["estimable"].astype("boolean").fillna(False).to_numpy(bool)
    r, low, high = (rows[c].to_numpy(float, na_value=np.nan) for c in ("r", "ci_low", "ci_high"))
    add_horizontal_bars(ax, positions[estimable], r[estimable], style.color)
    has_ci = estimable & np.isfinite(low) & np.isfinite(high)
    ax.hlines(positions[has_ci], low[has_ci], high[has_ci], color="black", lw=0.9)
    ax.scatter(np.zeros((~estimable).sum()), positions[~estimable], marker="x", s=24,
               color=NOT_ESTIMABLE_COLOR, linewidths=1.3, zorder=3)
    ax.axvline(0, color=MUTED, lw=0.8)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xticks([-1, -0.5, 0, 0.5, 1], ["−1", "−.5", "0", ".5", "1"])
    ax.grid(axis="x", color="#E5E5E5", lw=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel(xlabel)
    return bool((~estimable).any())


def add_horizontal_bars(ax: Axes, positions: np.ndarray, widths: np.ndarray, color: str,
                        height: float = 0.72) -> None:
    """Bars from 0 to each width as one collection (a Rectangle per bar is several times slower)."""
    y0, y1 = positions - height / 2, positions + height / 2
    zero = np.zeros_like(widths)
    corners = np.stack([np.column_stack(c) for c in
                        ((zero, y0), (widths, y0), (widths, y1), (zero, y1))], axis=1)
    ax.add_collection(PolyCollection(corners, facecolors=color, edgecolors="black", linewidths=0.5),
                      autolim=False)


def stratum_legend_handles(ci: bool, not_estimable: bool) -> list[Line2D]:
    """Legend entries for the whiskers and the × marks, each only when the figure draws it."""
    handles = []
    if ci:
        handles.append(Line2D([], [], color="black", lw=0.9, label="element-aware CI"))
    if not_estimable:
        handles.append(Line2D([], [], color=NOT_ESTIMABLE_COLOR, marker="x", ls="", markeredgewidth=1.3,
                              label=f"{NOT_ESTIMABLE}: not estimable (no bar)"))
    return handles


# --------------------------------------------------------------------------------------------
# 6. Within-element effects
# --------------------------------------------------------------------------------------------


def within_element_features(evaluation: Evaluation) -> list[str]:
    """Features whose within-element summary exists (inputs vary inside elements)."""
    return [f for f in evaluation.features
            if evaluation.results[f].within.estimable and evaluation.results[f].within.summary
            and evaluation.results[f].within.summary.n_elements_used > 0]


def summary_elements(result: FeatureEvaluation) -> set[str]:
    """Elements that entered the random-effects summary of one feature."""
    excluded = result.within.summary.excluded_elements if result.within.summary else {}
    return {e.element_id for e in result.within.elements if e.element_id not in excluded}


def within_panel_title(feature: str, result: FeatureEvaluation, n_rows: int) -> str:
    s = result.within.summary
    return (f"{feature}\nrandom-effects r = {fmt_r(s.pooled_r)} {fmt_interval(s.ci_low, s.ci_high)}, "
            f"p = {fmt_p(s.p)}\n{s.n_elements_used} elements, {n_rows:,} rows")


def within_element_figure(table: pd.DataFrame, evaluation: Evaluation, features: list[str],
                          styles: dict[str, LineStyle], context: RunContext | None = None) -> Figure:
    """Δtarget vs Δfeature (relative to each element's wild type) for the summarised elements."""
    deltas = within_element_deltas(table, features, evaluation.target)
    header = Header(with_subtitle(
        "Within-element effects: each oligo minus its element's wild type (mean over wild-type "
        f"rows), rows of the elements in the summary\n{SUMMARY_METHOD_SHORT}, "
        f"{evaluation.config.ci_level:.0%} CI; "
        f"{sizes_text(evaluation.sizes)}", context))
    fig, axes, _ = panel_grid(len(features), panel=(3.6, 3.0), header=header, gaps=(0.8, 1.3),
                              margins=(0.8, 0.3, 0.75, 0.6))
    for ax, feature in zip(axes, features):
        result = evaluation.results[feature]
        used = deltas[deltas[ELEMENT_ID].astype(str).isin(summary_elements(result))]
        # One dark colour for every panel (each is titled): a pale palette colour such as
        # yellow would vanish on white and in grayscale.
        ax.scatter(used[feature], used["delta_target"], s=5, alpha=0.35, linewidths=0,
                   color=PANEL_INK)
        ax.axhline(0, color=MUTED, lw=0.7)
        ax.axvline(0, color=MUTED, lw=0.7)
        ax.set_title(within_panel_title(label_of(feature, context), result, len(used)), fontsize=8.5)
        ax.set_xlabel(f"Δ {label_of(feature, context)}")
        ax.set_ylabel(f"Δ {target_label(evaluation.target)}")
        ax.locator_params(nbins=5)
    return fig
