"""Rows tables with GSE84888's element structure, for null-simulation tests of the statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.support.synthetic import GSE84888_POOL6_SIZES, GSE84888_POOL7_SIZES

GSE84888_ELEMENT_SIZES = GSE84888_POOL6_SIZES + GSE84888_POOL7_SIZES
TF_LABELS = ("ap1", "cebp", "rxr", "nf1", "klf")


def gse84888_like_rows(rng: np.random.Generator, within: bool, sizes: tuple[int, ...] = GSE84888_ELEMENT_SIZES,
                       element_sd: float = 0.5, row_sd: float = 1.0) -> pd.DataFrame:
    """One row per oligo: 15 elements of 40–664 oligos and 3 of 1,081 (by default).

    ``within``: every oligo is its own model input (V3); else one input per element (V2).
    The target has an element effect plus row noise; strand alternates, two labels per row.
    """
    element = np.repeat(np.arange(len(sizes)), sizes)
    n = len(element)
    target = rng.normal(0, element_sd, len(sizes))[element] + rng.normal(0, row_sd, n)
    labels = [np.array([TF_LABELS[i % 5], TF_LABELS[(i // 5 + 1) % 5]]) for i in range(n)]
    return pd.DataFrame({
        "row_id": [f"r{i}" for i in range(n)],
        "element_id": [f"E{e:02d}" for e in element],
        "input_sha256": [f"in{i}" for i in range(n)] if within else [f"in-E{e:02d}" for e in element],
        "strand": np.where(element % 2 == 0, "+", "-"),
        "chrom": [f"chr{e % 3 + 1}" for e in element],
        "tf_labels": labels,
        "is_wild_type": np.r_[True, np.diff(element) != 0],
        "log2_ratio": target,
        "zero_rna_dropout": False,
    })
