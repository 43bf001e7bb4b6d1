"""MPRA activity per oligo (PROTOCOL.md, "MPRA activity") and the row filters it implies.

Beyond the per-oligo formulas, `prepare_activity` flags zero-RNA dropouts (PROTOCOL.md,
Inference, "Activity") and states, and optionally removes, the offset between pools.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mprabench.config import ActivityConfig, ActivityMethod, ZeroRnaDropoutConfig
from mprabench.errors import ConfigError
from mprabench.schema import ELEMENT_ID, ZERO_RNA_DROPOUT

COUNTS_PER_MILLION = 1e6
# Reasons are checked in this order; a row is counted once, under the first that applies.
EXCLUSION_REASONS = ("tags_below_min", "plasmid_below_min")
# Flagged rows stay in per-oligo experiments (evaluate leaves them out of the headline); V1
# element targets are computed without them. Counted in qc.json under this reason.
DROPOUT_REASON = "zero_rna_dropout"  # the exclusion reason (same words as the row flag)


def log2_ratio(rna: np.ndarray, plasmid: np.ndarray, pseudocount: float) -> np.ndarray:
    """log2((rna + pc) / (plasmid + pc)); the original analysis used pc = 1."""
    return np.log2((rna + pseudocount) / (plasmid + pseudocount))


def activity_ratio(rna: np.ndarray, plasmid: np.ndarray, pseudocount: float) -> np.ndarray:
    """rna / (plasmid + pc), the original `activity` (on raw counts or on CPM, as the method says)."""
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
    """Rows kept with `log2_ratio` and `activity`, both by the configured method; excluded counts by reason.

    CPM uses each pool's library totals over all of its rows, before filtering, because
    the filters do not change what was sequenced.
    """
    reasons = exclusion_reasons(oligos, config)
    rna, plasmid = oligos["rna"].to_numpy(float), oligos["plasmid"].to_numpy(float)
    if config.method is ActivityMethod.cpm_log2_ratio:
        rna = counts_per_million(oligos["rna"], oligos["pool"])
        plasmid = counts_per_million(oligos["plasmid"], oligos["pool"])
    table = oligos.copy()
    table["log2_ratio"] = log2_ratio(rna, plasmid, config.pseudocount)
    table["activity"] = activity_ratio(rna, plasmid, config.pseudocount)
    excluded = {reason: int((reasons == reason).sum()) for reason in EXCLUSION_REASONS}
    return table.loc[reasons.isna()].reset_index(drop=True), excluded


def zero_rna_dropouts(oligos: pd.DataFrame, rule: ZeroRnaDropoutConfig) -> pd.Series:
    """Rows with 0 RNA reads despite enough plasmid reads and barcodes to have been measured."""
    for key in ("min_plasmid", "min_tags"):
        if getattr(rule, key) < 0:
            raise ConfigError(f"dataset.activity.zero_rna_dropout.{key} = {getattr(rule, key)}: must be >= 0")
    return (oligos["rna"] == 0) & (oligos["plasmid"] >= rule.min_plasmid) & (oligos["tags"] >= rule.min_tags)


def pool_log2_summary(oligos: pd.DataFrame, used: pd.Series) -> pd.DataFrame:
    """Per pool (in order of appearance): rows used, mean and median log2 ratio over them."""
    pools = pd.unique(oligos["pool"])
    grouped = oligos.loc[used].groupby("pool")["log2_ratio"]
    summary = pd.DataFrame({"rows": grouped.size(), "mean_log2_ratio": grouped.mean(),
                            "median_log2_ratio": grouped.median()}).reindex(pools)
    summary["rows"] = summary["rows"].fillna(0).astype(int)
    return summary


def library_depth_ratio(library: pd.DataFrame) -> pd.Series:
    """Per pool, log2(total RNA reads / total plasmid reads) over every row: the sequencing-depth part
    of the offset, which CPM removes."""
    totals = library.groupby("pool")[["rna", "plasmid"]].sum().astype(float)
    with np.errstate(divide="ignore"):
        return np.log2(totals["rna"] / totals["plasmid"])


def pool_offset(centres: pd.Series) -> float:
    """Largest minus smallest pool centre; 0 with fewer than two measured pools."""
    measured = centres.dropna()
    return float(measured.max() - measured.min()) if len(measured) > 1 else 0.0


def normalise_within_pools(oligos: pd.DataFrame, centres: pd.Series) -> pd.DataFrame:
    """log2 ratio minus its pool's centre; activity divided by 2**centre (the same shift on the ratio scale)."""
    shift = oligos["pool"].map(centres).fillna(0.0).to_numpy(float)
    table = oligos.copy()
    table["log2_ratio"] = table["log2_ratio"] - shift
    table["activity"] = table["activity"] * np.exp2(-shift)
    return table


@dataclass
class PreparedActivity:
    oligos: pd.DataFrame  # kept rows: log2_ratio, activity, zero_rna_dropout
    excluded: dict[str, int]  # by reason, including zero_rna_dropout (rows flagged)
    pool_offset_log2: float  # before any within-pool normalisation
    details: dict[str, Any] = field(default_factory=dict)  # for metrics/qc_details.json


def prepare_activity(library: pd.DataFrame, config: ActivityConfig) -> PreparedActivity:
    """Activity by the configured method, dropouts flagged, pool offset stated (and removed if asked)."""
    oligos, excluded = add_activity(library, config)
    candidates = zero_rna_dropouts(oligos, config.zero_rna_dropout)
    flagged = candidates & bool(config.zero_rna_dropout.exclude)
    oligos[ZERO_RNA_DROPOUT] = flagged.to_numpy()
    pools = pool_log2_summary(oligos, ~flagged)
    centres = pools[f"{config.pool_centre.value}_log2_ratio"]
    offset = pool_offset(centres)
    depth = library_depth_ratio(library)
    subtracted = centres if config.normalise_within_pool else pd.Series(0.0, index=centres.index)
    if config.normalise_within_pool:
        oligos = normalise_within_pools(oligos, centres)
    details = {
        "method": config.method.value,
        "zero_rna_rows": int((library["rna"] == 0).sum()),
        DROPOUT_REASON: _dropout_details(oligos, candidates, flagged, config.zero_rna_dropout),
        "pool_centre": config.pool_centre.value,
        "normalised_within_pool": bool(config.normalise_within_pool),
        "pool_offset_log2": offset,
        "pools": {str(pool): {"rows": int(row.rows), "mean_log2_ratio": _number(row.mean_log2_ratio),
                              "median_log2_ratio": _number(row.median_log2_ratio),
                              "subtracted": _number(subtracted[pool]),
                              "log2_total_rna_over_plasmid": _number(depth[pool])}
                  for pool, row in pools.iterrows()},
    }
    return PreparedActivity(oligos, excluded | {DROPOUT_REASON: int(flagged.sum())}, offset, details)


def _dropout_details(
    oligos: pd.DataFrame, candidates: pd.Series, flagged: pd.Series, rule: ZeroRnaDropoutConfig
) -> dict[str, Any]:
    chosen = oligos.loc[candidates]
    return {
        "exclude": bool(rule.exclude), "min_plasmid": int(rule.min_plasmid), "min_tags": int(rule.min_tags),
        "candidates": int(candidates.sum()), "flagged": int(flagged.sum()),
        "candidates_by_pool": {str(k): int(v) for k, v in chosen["pool"].value_counts(sort=False).items()},
        "candidates_by_element": {str(k): int(v) for k, v in chosen[ELEMENT_ID].value_counts().items()},
        "candidate_median_tags": _number(chosen["tags"].median()),
        "candidate_median_plasmid": _number(chosen["plasmid"].median()),
    }


def _number(value: Any) -> float | None:
    """A float for JSON, None for NaN (qc files are written with allow_nan=False)."""
    return None if pd.isna(value) else float(value)
