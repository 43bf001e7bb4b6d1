"""Statistics of the evaluation: element-aware inference, strata, within-element effects, calibration."""
