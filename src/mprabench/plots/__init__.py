"""Figures (PNG) and DVC plot data (CSV) of an evaluation.

`plots.render.render_figures` writes the report's PNGs; `plots.data.write_plot_data` writes the
CSVs that `dvc plots show/diff` render with the templates in `.dvc/plots/`. This package file
imports none of its modules, so a stage that needs only the forest plot or the labels (report,
scripts/compare_forest.py) does not load scikit-learn and every figure module.
"""
