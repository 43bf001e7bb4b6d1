"""What every dataset reader hands to prepare: the measured rows, with activity, and what it left out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


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
    # True when each row carries the sequence that was measured (`sequence`): its model input is that insert
    measured_inserts: bool = False
