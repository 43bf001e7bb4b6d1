"""Figure layout in inches and saving.

Sizes are computed, not measured: constrained/tight layout would cost more than the drawing
itself. Titles and notes are wrapped to the figure's width, and the figure gets the height
they need, so a one-feature evaluation gets the same readable header as a nine-feature one.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mprabench.files import atomic_path

if TYPE_CHECKING:  # an annotation only (see plots/data.py)
    from mprabench.stats.association import EffectiveSampleSize

GRID_COLUMNS = 3
MIN_FIGURE_WIDTH = 7.5  # inches: room for a wrapped two-line title and a one-row legend
EDGE = 0.12  # inches between the figure edge and the title / notes
LEGEND_ROW = 0.32  # inches for a one-row legend under the title
PNG_COMPRESS_LEVEL = 1  # fast zlib level: ~20 % larger files, less time in the evaluate stage


@dataclass(frozen=True)
class Header:
    """Figure-level text: a title above the panels and optional notes below them."""

    title: str
    notes: str = ""
    title_size: float = 10.5
    notes_size: float = 8.0
    legend_row: bool = False  # reserve a row under the title for a figure legend


def text_width(text: str, points: float = 8.0) -> float:
    """Rough width in inches of a DejaVu Sans string (for layout without measuring)."""
    return 0.6 * points / 72 * len(text)


def line_height(points: float) -> float:
    return 1.25 * points / 72


def wrap_to_width(text: str, width: float, points: float) -> list[str]:
    """The text's lines, each wrapped to fit `width` inches at `points`."""
    # 0.55 em is DejaVu Sans' mean width for prose; labels use the safer 0.6 of text_width.
    chars = max(20, int(width / (0.55 * points / 72)))
    return [line for paragraph in text.splitlines() for line in textwrap.wrap(paragraph, chars) or [""]]


@dataclass(frozen=True)
class PageLayout:
    """Where the text goes once the width is known."""

    width: float
    title_lines: list[str]
    notes_lines: list[str]
    header: Header

    @property
    def top(self) -> float:
        """Inches above the panels taken by title (and legend row)."""
        title = EDGE + len(self.title_lines) * line_height(self.header.title_size) + 0.1
        return title + (LEGEND_ROW if self.header.legend_row else 0.0)

    @property
    def bottom(self) -> float:
        if not self.notes_lines:
            return 0.0
        return EDGE + len(self.notes_lines) * line_height(self.header.notes_size) + 0.05


def page_layout(content_width: float, header: Header) -> PageLayout:
    width = max(MIN_FIGURE_WIDTH, content_width)
    usable = width - 2 * EDGE
    notes = wrap_to_width(header.notes, usable, header.notes_size) if header.notes else []
    return PageLayout(width, wrap_to_width(header.title, usable, header.title_size), notes, header)


def draw_header(fig: Figure, page: PageLayout) -> None:
    """Title at the top left, notes at the bottom left, both wrapped to the figure."""
    width, height = fig.get_size_inches()
    h = page.header
    fig.text(EDGE / width, 1 - EDGE / height, "\n".join(page.title_lines), ha="left", va="top",
             fontsize=h.title_size, linespacing=1.25)
    if page.notes_lines:
        fig.text(EDGE / width, EDGE / height, "\n".join(page.notes_lines), ha="left",
                 va="bottom", fontsize=h.notes_size, linespacing=1.25)


def legend_anchor(fig: Figure, page: PageLayout) -> tuple[float, float]:
    """Figure coordinates of the top left of the legend row under the title."""
    width, height = fig.get_size_inches()
    return EDGE / width, 1 - (page.top - LEGEND_ROW + 0.02) / height


def panel_grid(
    n_panels: int, panel: tuple[float, float], header: Header,
    gaps: tuple[float, float] = (0.8, 0.8),
    margins: tuple[float, float, float, float] = (0.8, 0.3, 0.3, 0.6),
    ncols: int = GRID_COLUMNS,
) -> tuple[Figure, list[Axes], PageLayout]:
    """Figure with n panels of a fixed size in inches, plus its header.

    gaps (w, h) between panels; margins (left, right, top, bottom) around them, to which the
    header's title and notes heights are added. A figure narrower than MIN_FIGURE_WIDTH is
    widened on the right, so panels keep their size.
    """
    ncols = max(1, min(ncols, n_panels))
    nrows = math.ceil(n_panels / ncols)
    (w, h), (wgap, hgap), (left, right, top, bottom) = panel, gaps, margins
    block = ncols * w + (ncols - 1) * wgap
    page = page_layout(left + block + right, header)
    top, bottom = top + page.top, bottom + page.bottom
    height = top + bottom + nrows * h + (nrows - 1) * hgap
    fig = Figure(figsize=(page.width, height))
    grid = {"left": left / page.width, "right": (left + block) / page.width,
            "top": 1 - top / height, "bottom": bottom / height,
            "wspace": wgap / w, "hspace": hgap / h}
    axes = fig.subplots(nrows, ncols, squeeze=False, gridspec_kw=grid).ravel()
    for spare in axes[n_panels:]:
        spare.set_visible(False)
    draw_header(fig, page)
    return fig, list(axes[:n_panels]), page


def figure_with_axes(axes: tuple[float, float, float, float], right: float,
                     header: Header) -> tuple[Figure, Axes, PageLayout]:
    """One axes at (left, bottom, w, h) inches with `right` inches beside it, plus the header."""
    left, bottom, w, h = axes
    page = page_layout(left + w + right, header)
    height = page.top + h + bottom + page.bottom
    fig = Figure(figsize=(page.width, height))
    ax = fig.add_axes((left / page.width, (bottom + page.bottom) / height, w / page.width,
                       h / height))
    draw_header(fig, page)
    return fig, ax, page


def save_figure(fig: Figure, path: Path, dpi: int) -> Path:
    """Write the PNG atomically.

    The figure is not registered with pyplot, so dropping it frees it; `fig.clear()` would
    only rebuild empty axes (measurably slow) before the garbage collector runs anyway.
    """
    with atomic_path(path) as temporary:
        fig.savefig(temporary, dpi=dpi, format="png",
                    pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return path


def sizes_text(sizes: EffectiveSampleSize) -> str:
    return (f"n = {sizes.n_rows:,} rows · {sizes.n_unique_inputs:,} distinct inputs · "
            f"{sizes.n_elements:,} elements")
