"""What every dataset reader hands to prepare: the measured rows, with activity, and what it left out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mprabench.schema import (
    ACTIVITY,
    DESIGN,
    IS_WILD_TYPE,
    LOG2_RATIO,
    MOTIF,
    N_OLIGOS,
    TAGS,
    TF_LABELS,
    ZERO_RNA_DROPOUT,
)


@dataclass
class ReadLibrary:
    """A dataset read and checked: one row per measured sequence, ready for an experiment's inputs.

    `oligos` carries the rows.parquet columns a reader knows (schema.py), `log2_ratio` and
    `activity`, and `zero_rna_dropout`; `excluded` counts every row left out, by reason
    (qc.json); `details` goes to qc_details.json.
    """

    oligos: pd.DataFrame
    rows_in: int
    excluded: dict[str, int]
    pool_offset_log2: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


def measured_sequence_columns(n: int, log2: np.ndarray) -> dict[str, Any]:
    """The rows columns of a layout that measures whole sequences: activity from its log2 ratios, and
    the GSE84888 name-grammar and barcode columns empty (no motif, design, TF labels, wild type, tags)."""
    return {MOTIF: None, DESIGN: None, TF_LABELS: [[] for _ in range(n)], IS_WILD_TYPE: False,
            TAGS: pd.array([pd.NA] * n, dtype="Int64"), LOG2_RATIO: log2, ACTIVITY: np.exp2(log2), N_OLIGOS: 1,
            ZERO_RNA_DROPOUT: False}
