"""MPRA activity per oligo (PROTOCOL.md, "MPRA activity") and the row filters it implies."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mprabench.config import ActivityConfig, ActivityMethod

COUNTS_PER_MILLION = 1e6
# Reasons are checked in this order; a row is counted once, under the first that applies.
EXCLUSION_REASONS = ("tags_below_min", "plasmid_below_min")


def log2_ratio(rna: np.ndarray, plasmid: np.ndarray, pseudocount: float) -> np.ndarray:
    """log2((rna + pc) / (plasmid + pc)); the original analysis used pc = 1."""
    return np.log2((rna + pseudocount) / (plasmid + pseudocount))


def activity_ratio(rna: np.ndarray, plasmid: np.ndarray, pseudocount: float) -> np.ndarray:
    """rna / (plasmid + pc), the original `activity`."""
    return rna / (plasmid + pseudocount)


def counts_per_million(counts: pd.Series, library: pd.Series) -> np.ndarray:
    """Counts scaled by each library's total (a pool is one sequencing library)."""
    totals = counts.groupby(library).transform("sum").to_numpy(dtype=float)
    return counts.to_numpy(dtype=float) / totals * COUNTS_PER_MILLION


def exclusion_reasons(oligos: pd.DataFrame, config: ActivityConfig) -> pd.Series:
    """Per row: the first reason it is excluded, or None. Only the CPM method filters."""
    reasons = pd.Series([None] * len(oligos), index=oligos.index, dtype=object)
    if config.method is not ActivityMethod.cpm_log2_ratio:
        return reasons
    checks = {
        "tags_below_min": oligos["tags"] < config.min_tags,
        "plasmid_below_min": oligos["plasmid"] < config.min_plasmid,
    }
    for reason in reversed(EXCLUSION_REASONS):  # reversed so the first reason wins
        reasons[checks[reason]] = reason
    return reasons


def add_activity(oligos: pd.DataFrame, config: ActivityConfig) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rows kept with `log2_ratio` (by the configured method) and `activity`; excluded counts by reason.

    CPM uses each pool's library totals over all of its rows, before filtering, because
    the filters do not change what was sequenced.
    """
    reasons = exclusion_reasons(oligos, config)
    rna, plasmid = oligos["rna"].to_numpy(float), oligos["plasmid"].to_numpy(float)
    table = oligos.copy()
    if config.method is ActivityMethod.cpm_log2_ratio:
        rna_cpm = counts_per_million(oligos["rna"], oligos["pool"])
        plasmid_cpm = counts_per_million(oligos["plasmid"], oligos["pool"])
        table["log2_ratio"] = log2_ratio(rna_cpm, plasmid_cpm, config.pseudocount)
    else:
        table["log2_ratio"] = log2_ratio(rna, plasmid, config.pseudocount)
    table["activity"] = activity_ratio(rna, plasmid, config.pseudocount)
    excluded = {reason: int((reasons == reason).sum()) for reason in EXCLUSION_REASONS}
    return table.loc[reasons.isna()].reset_index(drop=True), excluded
