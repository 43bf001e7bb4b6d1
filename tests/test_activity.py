"""MPRA activity: the original formulas, the CPM variant, and exclusions counted by reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mprabench.activity import add_activity
from mprabench.config import ActivityConfig, ActivityMethod
from tests.conftest import configured


def oligos() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pool": ["A", "A", "A", "B", "B"],
            "tags": [100, 3, 100, 100, 50],
            "rna": [0, 10, 300, 50, 150],
            "plasmid": [99, 20, 100, 0, 50],
        }
    )


def test_raw_log2_ratio_and_activity_are_the_original_formulas():
    table, excluded = add_activity(oligos(), configured(ActivityConfig, "dataset.activity", method=ActivityMethod.raw_log2_ratio, min_tags=50))
    rna, plasmid = oligos()["rna"].to_numpy(float), oligos()["plasmid"].to_numpy(float)
    np.testing.assert_allclose(table["log2_ratio"], np.log2((rna + 1) / (plasmid + 1)))
    np.testing.assert_allclose(table["activity"], rna / (plasmid + 1))
    assert len(table) == 5, "the original keeps every row, whatever min_tags says"
    assert excluded == {"tags_below_min": 0, "plasmid_below_min": 0}


def test_cpm_normalises_within_each_pool_before_filtering():
    config = configured(ActivityConfig, "dataset.activity", method=ActivityMethod.cpm_log2_ratio, pseudocount=1.0,
                        min_tags=0, min_plasmid=0)
    table, _ = add_activity(oligos(), config)
    rna_cpm = np.array([0, 10, 300, 50, 150]) / np.array([310, 310, 310, 200, 200]) * 1e6
    plasmid_cpm = np.array([99, 20, 100, 0, 50]) / np.array([219, 219, 219, 50, 50]) * 1e6
    np.testing.assert_allclose(table["log2_ratio"], np.log2((rna_cpm + 1) / (plasmid_cpm + 1)))


def test_cpm_filters_count_each_excluded_row_once_under_its_first_reason():
    config = configured(ActivityConfig, "dataset.activity", method=ActivityMethod.cpm_log2_ratio, min_tags=10,
                        min_plasmid=30)
    table, excluded = add_activity(oligos(), config)
    # row 1 fails both (tags 3, plasmid 20): counted under tags only; row 3 fails plasmid (0)
    assert excluded == {"tags_below_min": 1, "plasmid_below_min": 1}
    assert len(table) == 3
    assert table["rna"].tolist() == [0, 300, 150]


@pytest.mark.parametrize("pseudocount", [0.5, 1.0, 4.0])
def test_pseudocount_is_config(pseudocount):
    table, _ = add_activity(oligos(), configured(ActivityConfig, "dataset.activity", pseudocount=pseudocount))
    assert table["log2_ratio"].iloc[0] == pytest.approx(np.log2(pseudocount / (99 + pseudocount)))
