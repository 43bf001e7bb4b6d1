"""The names of the features predictors write to features.parquet, defined once.

The predictors import the names they write; plots/labels.py labels them by the same names.
Track features of a model (AlphaGenome) are `{output prefix}_{kind}`; motif scores are
`motif_<matrix id>_<name>`.
"""

from __future__ import annotations

GC_FRACTION = "gc_fraction"  # predictors/gc.py
KMER_RIDGE_OOF = "kmer_ridge_oof"  # predictors/kmer.py
MOTIF_PREFIX = "motif_"  # predictors/motif.py

# Track features (predictors/features.py): the prefix of each model output (others: its lower-cased
# name) and the three reductions of its tracks.
OUTPUT_PREFIXES = {"DNASE": "dnase", "CAGE": "cage", "RNA_SEQ": "rna"}
MEAN, MAX, CENTER = "mean", "max", "center"
FEATURE_KINDS = (MEAN, MAX, CENTER)


def output_prefix(output: str) -> str:
    return OUTPUT_PREFIXES.get(output, output.lower())


def track_feature(output: str, kind: str) -> str:
    """e.g. ("DNASE", "center") -> "dnase_center"."""
    return f"{output_prefix(output)}_{kind}"
