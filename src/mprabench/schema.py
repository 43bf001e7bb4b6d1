"""The tables and JSON files the stages hand on, declared once: their columns and section keys.

rows.parquet (prepare): one row per benchmark row, keyed by `row_id`; `input_sha256` names its
model input. features.parquet (predict): one row per distinct input, keyed by `input_sha256`,
one float column per feature. metrics/summary.json and metrics/details.json (evaluate): the
sections below. Readers validate a table against its columns here where they read it.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from mprabench.errors import InputDataError

# --- rows.parquet ------------------------------------------------------------------------------
ROW_ID = "row_id"
POOL = "pool"
ELEMENT_ID = "element_id"  # the base element: the unit of replication
CHROM = "chrom"
START = "start"
END = "end"
STRAND = "strand"
MOTIF = "motif"
DESIGN = "design"
TF_LABELS = "tf_labels"
IS_WILD_TYPE = "is_wild_type"
TAGS = "tags"
RNA = "rna"
PLASMID = "plasmid"
LOG2_RATIO = "log2_ratio"
ACTIVITY = "activity"
N_OLIGOS = "n_oligos"
INPUT_SHA256 = "input_sha256"  # the model input's identity: joins rows to features and the prediction store
ZERO_RNA_DROPOUT = "zero_rna_dropout"  # True: a zero-RNA dropout, out of the headline (README)
# Optional columns of sequence-table datasets (readers/): the measured insert, its orientation
# within its element (both orientations of one sequence are one element) and the element's class.
SEQUENCE = "sequence"
ORIENTATION = "orientation"
ORIENTATION_FORWARD = "forward"
ORIENTATION_REVERSE = "reverse"
ELEMENT_CLASS = "element_class"
FOLD = "fold"  # a row's fold, where the deposit has one (dataset.subset.folds selects by it)

TARGETS = (LOG2_RATIO, ACTIVITY)
WITH_DROPOUTS_SUFFIX = "_with_dropouts"  # V1: an element target recomputed over every oligo
ROWS_COLUMNS = (ROW_ID, POOL, ELEMENT_ID, CHROM, START, END, STRAND, MOTIF, DESIGN, TF_LABELS, IS_WILD_TYPE,
                TAGS, RNA, PLASMID, LOG2_RATIO, ACTIVITY, N_OLIGOS, INPUT_SHA256, ZERO_RNA_DROPOUT)

# metrics/qc_details.json (prepare): one record per element whose name motif differs from the reference
QC_MOTIF_MISMATCHES = "motif_mismatches"
QC_MOTIF_CHECKED = "motif_checked"  # qc.json: rows whose motif was compared with the reference
# A mismatch record's `reason`: N bases in the reference over the motif, or another sequence there
MOTIF_N_RUN, MOTIF_SEQUENCE_MISMATCH = "n_run_in_reference", "sequence_mismatch"

# --- features.parquet --------------------------------------------------------------------------
FEATURES_KEY = INPUT_SHA256
FEATURES_COLUMNS = (FEATURES_KEY,)  # plus one column per feature

# --- metrics/summary.json (the DVC metric) and metrics/details.json ----------------------------
SUMMARY_DESIGN = "design"  # the design sizes
# The run's headline feature, the one every predictor declares (predictors/base.py): its name under
# `feature` and its statistics under the same keys as its own block, so `headline.element_pearson_r`
# is one column for every predictor in `dvc exp show` and `dvc metrics diff`.
SUMMARY_HEADLINE = "headline"
HEADLINE_FEATURE = "feature"
SUMMARY_RESERVED = (SUMMARY_DESIGN, SUMMARY_HEADLINE)  # every other top-level key is a primary feature
# Each primary feature's block: the headline statistics listed in mprabench/headline.py (HEADLINE), by these keys.
ELEMENT_PEARSON_R = "element_pearson_r"
PEARSON_R_CI_LOW = "pearson_r_ci_low"
PEARSON_R_CI_HIGH = "pearson_r_ci_high"
ELEMENT_P = "element_p"
ELEMENT_NEGLOG10_P = "element_neglog10_p"
WITHIN_ELEMENT_R = "within_element_r"
WITHIN_ELEMENT_P = "within_element_p"
WITHIN_ELEMENT_NEGLOG10_P = "within_element_neglog10_p"
ELEMENT_BONFERRONI_SIGNIFICANT = "element_bonferroni_significant"
# Leverage, beside the element r (details.json per_feature.<f>.element_level; calibration test keys).
# The verdict flag reads the Spearman p (docs/statistics.md): it holds where leverage breaks the Pearson p.
ELEMENT_SPEARMAN_RHO = "spearman_rho"  # Spearman rho of the element means
ELEMENT_SPEARMAN_P = "element_spearman_p"  # its permutation p over elements
ELEMENT_SPEARMAN_NEGLOG10_P = "spearman_neglog10_p"  # −log10 of it (summary.json)
SPEARMAN_CI_LOW, SPEARMAN_CI_HIGH = "spearman_ci_low", "spearman_ci_high"  # its interval (Bonett-Wright)
LOO_R_MIN, LOO_R_MAX = "loo_r_min", "loo_r_max"  # leave-one-element-out range of the element r
LOO_VERDICT_CHANGERS = "loo_verdict_changers"  # elements whose removal flips the verdict flag
# Element strata (calibration test keys): the per-element robust test, and BH over elements rejecting any
STRATA_ELEMENT_P = "strata_element_p"
STRATA_ELEMENT_BH = "strata_element_bh"
DETAILS_TARGET = "target"
DETAILS_FEATURES = "features"
DETAILS_EFFECTIVE_SAMPLE_SIZE = "effective_sample_size"
DETAILS_BONFERRONI_FAMILY = "bonferroni_family"
DETAILS_ALPHA = "alpha"
DETAILS_METHODS = "methods"
DETAILS_PER_FEATURE = "per_feature"
DETAILS_SENSITIVITY = "sensitivity"
DETAILS_WITH_ZERO_RNA_DROPOUTS = "with_zero_rna_dropouts"  # in `sensitivity`: the headline on every row
DETAILS_ORIENTATION = "orientation"  # per feature, where elements are measured in both orientations (optional)


# --- metrics/calibration.json (calibrate) -------------------------------------------------------
CALIBRATION_ALPHA = "alpha"
CALIBRATION_CI_LEVEL = "ci_level"
CALIBRATION_N_REPLICATES = "n_replicates"
CALIBRATION_TESTS = "tests"  # p-value key -> {"type_I", "mcse"}: the worst over the null family
CALIBRATION_INTERVALS = "intervals"  # CI key -> {"coverage", "mcse"}: the worst over the null family
CALIBRATION_N_NULLS = "n_nulls"
CALIBRATION_FLAGS = "flags"  # flag -> {"familywise_rate", "mcse"}: the highest over the null family
CALIBRATION_FAMILYWISE = "familywise_rate"  # flag raised for any of the primary features, independent nulls
# One string naming the null of every worst case ("tests.element_p=leverage_smallest; intervals.…"): one
# row of `dvc metrics diff` instead of one per statistic (the 100-row budget over all metrics files).
CALIBRATION_WORST_NULLS = "worst_nulls"
# Interval keys of the headline CIs (calibration.json `intervals`)
ELEMENT_R_CI = "pearson_r_ci"
SPEARMAN_RHO_CI = "spearman_rho_ci"  # the interval of Spearman's rho beside the element r (leverage)
# The orientation test and interval (stats/orientation), and the null calibrate simulates them under
ORIENTATION_P, ORIENTATION_R_CI = "orientation_p", "orientation_r_ci"
ORIENTATION_NULL = "orientation_shift"
REFIT_ELEMENT_P = "refit_element_p"  # tests key: a trained baseline's refit-null element p (stats/refit_calibration)
WITHIN_ELEMENT_R_CI = "within_element_r_ci"


def require_columns(present: Iterable[str], required: Iterable[str], source: Path | str, writer: str) -> None:
    """Raise InputDataError naming the file and every missing column (and the stage that writes it)."""
    have = set(present)
    missing = [c for c in required if c not in have]
    if missing:
        raise InputDataError(
            f"{source}: missing column(s) {missing} (it has {sorted(have)}); it is not a {writer} output of "
            f"this version: rerun `dvc repro` from the {writer} stage"
        )


def parquet_columns(path: Path) -> list[str]:
    """The column names of a Parquet file (FileNotFoundError names the file: pyarrow's does not)."""
    if not Path(path).is_file():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
    return pq.read_schema(path).names


def read_rows(path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """rows.parquet: every declared column (or only `columns`)."""
    require_columns(parquet_columns(path), ROWS_COLUMNS if columns is None else columns, path, "prepare")
    return pd.read_parquet(path, columns=None if columns is None else list(columns))


def dropout_mask(rows: pd.DataFrame) -> np.ndarray:
    """True for rows flagged as zero-RNA dropouts (prepare writes the flag on every row)."""
    return rows[ZERO_RNA_DROPOUT].astype(bool).to_numpy()


def headline_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows the headline rests on: every row not flagged as a zero-RNA dropout."""
    return rows.loc[~dropout_mask(rows)].reset_index(drop=True)


def read_features(path: Path) -> pd.DataFrame:
    """features.parquet: the key column and one column per feature."""
    require_columns(parquet_columns(path), FEATURES_COLUMNS, path, "predict")
    return pd.read_parquet(path)
