"""Figures (PNG) and DVC plot data (CSV) of an evaluation.

`render_figures` writes the report's PNGs; `write_plot_data` writes the CSVs that
`dvc plots show/diff` render with the templates in `.dvc/plots/`.
"""

from mprabench.plots.data import write_plot_data
from mprabench.plots.render import drawn_subset, render_figures

__all__ = ["drawn_subset", "render_figures", "write_plot_data"]
