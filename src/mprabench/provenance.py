"""provenance.json (predict): where a run's predictions came from, as the report, figures and MLflow name it.

Keys: `predictor` (predictor.name), `label` (the predictor class's human label), `source` (one of
the kinds below), `store_key`, `model_version`, `organism`, `biosamples`, `tracks`,
`headline_feature` (the feature the predictor declares as its headline, summary.json's `headline`
block); an offline predictor has no store key, model version, organism, biosamples or tracks.
"""

from __future__ import annotations

SOURCE_API = "AlphaGenome API"
SOURCE_LOCAL = "local test server (synthetic tracks)"  # any loopback address: never for results
SOURCE_OFFLINE = "offline baseline"
SOURCE_CHECKPOINT = "local checkpoint"  # a model's weights on this machine (alphagenome_local, torchscript)

HEADLINE_FEATURE_KEY = "headline_feature"  # the predictor's declared headline feature (predictors/base.py)
