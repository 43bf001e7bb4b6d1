"""Predictors: models and offline baselines that turn distinct model inputs into features."""
