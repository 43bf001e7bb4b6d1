"""Shared look of every figure: Okabe–Ito colours, font sizes, number formatting."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Okabe & Ito (2008), ordered so the hard-to-see yellow comes last.
OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#000000",  # black
    "#F0E442",  # yellow
)
LINE_STYLES = ("-", "--", ":", "-.")
ACCENT = "#D55E00"  # element means and their fit
FIT = "#0072B2"  # row-level OLS line
MUTED = "#7F7F7F"  # chance and zero lines
NOT_ESTIMABLE_COLOR = "#404040"
SEQUENTIAL_CMAP = "Greys"  # hexbin density: neutral, so the coloured overlays stand out
DIVERGING_CMAP = "RdBu_r"  # ColorBrewer RdBu: colour-blind safe
MISSING_CELL = "#D9D9D9"

RC_PARAMS: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "figure.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlelocation": "left",
    "savefig.facecolor": "white",
    "figure.facecolor": "white",
}

NOT_ESTIMABLE = "n.e."


@dataclass(frozen=True)
class LineStyle:
    color: str
    linestyle: str


def feature_styles(features: Sequence[str]) -> dict[str, LineStyle]:
    """One colour (and, past eight features, a dash pattern) per feature, same in every figure."""
    n = len(OKABE_ITO)
    return {
        f: LineStyle(OKABE_ITO[i % n], LINE_STYLES[(i // n) % len(LINE_STYLES)])
        for i, f in enumerate(features)
    }


def fmt_r(value: float | None) -> str:
    return NOT_ESTIMABLE if value is None or not math.isfinite(value) else f"{value:+.2f}"


def fmt_p(value: float | None) -> str:
    """p-values: two significant digits, scientific below 0.001; 'n.e.' if missing."""
    if value is None or not math.isfinite(value):
        return NOT_ESTIMABLE
    if value == 0.0:
        return "< 1e-300"
    return f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}"


def fmt_interval(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return NOT_ESTIMABLE
    return f"[{low:+.2f}, {high:+.2f}]"


def natural_key(label: str) -> tuple[Any, ...]:
    """Sort key that puts chr2 before chr10."""
    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", label))
