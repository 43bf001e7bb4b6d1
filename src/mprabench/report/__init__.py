"""report.md and the MLflow run description, generated only from metrics, detail files and typed settings.

The headline comes from metrics/summary.json (the statistics of mprabench/headline.py); everything
else is read defensively from details.json, calibration.json, qc_details.json and provenance.json,
any of which may be absent. Modules: `format` (the one value formatter, tables, not-estimable
reasons), `inputs` (what the report is made from and where the reasons sit), `results` (headline,
calibration, sensitivity, within-element, trained baseline), `run` (what was run: question, design,
QC, predictions, figures, configuration, provenance), `document` (the sections in order) and `note`
(the MLflow run description).
"""
