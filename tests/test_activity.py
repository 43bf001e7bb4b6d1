"""MPRA activity: the original formulas, the CPM variant, and exclusions counted by reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mprabench.activity import add_activity, pool_log2_summary, prepare_activity
from mprabench.schema import ZERO_RNA_DROPOUT
from mprabench.config import ActivityConfig, ActivityMethod, PoolCentre, ZeroRnaDropoutConfig
from mprabench.errors import ConfigError
from mprabench.sequences import build_aggregated_inputs
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


def test_cpm_activity_is_the_cpm_ratio_not_the_raw_one():
    config = ActivityConfig(method=ActivityMethod.cpm_log2_ratio, pseudocount=1.0, min_tags=0, min_plasmid=0)
    table, _ = add_activity(oligos(), config)
    rna_cpm = np.array([0, 10, 300, 50, 150]) / np.array([310, 310, 310, 200, 200]) * 1e6
    plasmid_cpm = np.array([99, 20, 100, 0, 50]) / np.array([219, 219, 219, 50, 50]) * 1e6
    np.testing.assert_allclose(table["activity"], rna_cpm / (plasmid_cpm + 1))
    raw = oligos()["rna"] / (oligos()["plasmid"] + 1)
    assert not np.allclose(table["activity"], raw), "under CPM, activity must not be the raw ratio"
    # log2_ratio and activity describe the same quantity: monotone in each other within a pool
    for _, pool in table.groupby("pool"):
        assert pool["log2_ratio"].rank().tolist() == pool["activity"].rank().tolist()


# Two pools, two elements each; element "a1" holds the zero-RNA rows of every kind.
def library() -> pd.DataFrame:
    rows = [  # element, pool, tags, rna, plasmid
        ("a1", "P1", 50, 0, 400), ("a1", "P1", 40, 0, 300), ("a1", "P1", 50, 200, 100), ("a1", "P1", 60, 90, 100),
        ("a1", "P1", 3, 0, 400),    # too few barcodes: not a dropout
        ("a1", "P1", 50, 0, 4),     # too few plasmid reads: not a dropout
        ("a2", "P1", 50, 120, 100), ("a2", "P1", 50, 80, 100), ("a2", "P1", 50, 100, 60),
        ("b1", "P2", 50, 400, 100), ("b1", "P2", 50, 300, 100), ("b1", "P2", 30, 0, 500),
        ("b2", "P2", 50, 350, 100), ("b2", "P2", 50, 500, 120),
    ]
    frame = pd.DataFrame(rows, columns=["element_id", "pool", "tags", "rna", "plasmid"])
    frame["row_id"] = [f"{e}_{i}" for i, e in enumerate(frame["element_id"])]
    for column, value in (("chrom", "chr1"), ("start", 0), ("end", 16), ("strand", "+"), ("motif", "A" * 16)):
        frame[column] = value
    frame["tf_labels"] = [["wt"]] * len(frame)
    return frame


def config(exclude: bool = True, normalise: bool = False, centre: PoolCentre = PoolCentre.median,
           method: ActivityMethod = ActivityMethod.raw_log2_ratio) -> ActivityConfig:
    return ActivityConfig(method=method, pseudocount=1.0, min_tags=0, min_plasmid=0,
                          zero_rna_dropout=ZeroRnaDropoutConfig(exclude=exclude, min_plasmid=10, min_tags=10),
                          normalise_within_pool=normalise, pool_centre=centre)


def expected_dropouts(frame: pd.DataFrame) -> pd.Series:
    return (frame["rna"] == 0) & (frame["plasmid"] >= 10) & (frame["tags"] >= 10)


def test_zero_rna_rows_with_support_are_flagged_counted_and_kept():
    frame = library()
    prepared = prepare_activity(frame, config())
    expected = expected_dropouts(frame)
    assert expected.sum() == 3, "fixture: 3 supported zero-RNA rows, 2 unsupported ones"
    assert prepared.excluded["zero_rna_dropout"] == 3
    assert len(prepared.oligos) == len(frame), "flagged rows stay (per-oligo experiments predict them)"
    assert prepared.oligos[ZERO_RNA_DROPOUT].tolist() == expected.tolist()
    dropout = prepared.details["zero_rna_dropout"]
    assert (dropout["candidates"], dropout["flagged"]) == (3, 3)
    assert dropout["candidates_by_pool"] == {"P1": 2, "P2": 1}
    assert dropout["candidates_by_element"] == {"a1": 2, "b1": 1}
    assert dropout["candidate_median_plasmid"] == 400
    assert prepared.details["zero_rna_rows"] == 5


def test_dropout_exclusion_off_flags_nothing_but_still_reports_candidates():
    prepared = prepare_activity(library(), config(exclude=False))
    assert prepared.excluded["zero_rna_dropout"] == 0
    assert not prepared.oligos[ZERO_RNA_DROPOUT].any()
    assert prepared.details["zero_rna_dropout"]["candidates"] == 3


def test_dropout_thresholds_are_checked():
    bad = config()
    bad.zero_rna_dropout.min_plasmid = -1
    with pytest.raises(ConfigError, match="zero_rna_dropout.min_plasmid"):
        prepare_activity(library(), bad)


def test_v1_targets_leave_dropouts_out_and_keep_the_original_beside_them():
    prepared = prepare_activity(library(), config())
    rows = build_aggregated_inputs(prepared.oligos, 64).rows.set_index("element_id")
    table = prepared.oligos
    for element, members in table.groupby("element_id"):
        kept = members[~expected_dropouts(members)]
        row = rows.loc[element]
        assert row["log2_ratio"] == pytest.approx(kept["log2_ratio"].mean())
        assert row["activity"] == pytest.approx(kept["activity"].mean())
        assert row["log2_ratio_with_dropouts"] == pytest.approx(members["log2_ratio"].mean())
        assert row["activity_with_dropouts"] == pytest.approx(members["activity"].mean())
        assert (row["n_oligos"], row["n_dropouts"]) == (len(kept), len(members) - len(kept))
        assert not row[ZERO_RNA_DROPOUT]
    # the dropouts (log2 of 1/401, 1/301) pull a1 down; leaving them out raises its target
    assert rows.loc["a1", "log2_ratio"] > rows.loc["a1", "log2_ratio_with_dropouts"] + 1
    assert rows.loc["a2", "log2_ratio"] == rows.loc["a2", "log2_ratio_with_dropouts"]


def test_v1_targets_are_the_plain_means_when_the_exclusion_is_off():
    prepared = prepare_activity(library(), config(exclude=False))
    rows = build_aggregated_inputs(prepared.oligos, 64).rows
    np.testing.assert_array_equal(rows["log2_ratio"], rows["log2_ratio_with_dropouts"])
    assert rows["n_dropouts"].sum() == 0 and rows["n_oligos"].sum() == len(library())


def test_v1_element_whose_every_oligo_is_a_dropout_is_listed_not_kept():
    frame = library()
    frame.loc[frame["element_id"] == "b2", "rna"] = 0
    built = build_aggregated_inputs(prepare_activity(frame, config()).oligos, 64)
    assert "b2" not in set(built.rows["element_id"]) and built.elements_without_target == ["b2"]
    assert built.rows["log2_ratio"].notna().all()


@pytest.mark.parametrize("centre", list(PoolCentre))
def test_pool_offset_is_stated_and_normalising_removes_it(centre):
    frame = library()
    used = ~expected_dropouts(frame)
    log2 = np.log2((frame["rna"] + 1) / (frame["plasmid"] + 1))
    by_pool = log2[used].groupby(frame["pool"][used])
    centres = by_pool.median() if centre is PoolCentre.median else by_pool.mean()
    plain = prepare_activity(frame, config(centre=centre))
    assert plain.pool_offset_log2 == pytest.approx(abs(centres["P2"] - centres["P1"]))
    assert plain.pool_offset_log2 > 1, "fixture: P2 is far more active than P1"
    assert plain.details["pools"]["P1"]["mean_log2_ratio"] == pytest.approx(by_pool.mean()["P1"])
    normalised = prepare_activity(frame, config(normalise=True, centre=centre))
    assert normalised.pool_offset_log2 == pytest.approx(plain.pool_offset_log2), "the offset is stated before"
    after = pool_log2_summary(normalised.oligos, ~normalised.oligos[ZERO_RNA_DROPOUT])[f"{centre.value}_log2_ratio"]
    np.testing.assert_allclose(after.to_numpy(), 0.0, atol=1e-12)
    shift = frame["pool"].map(centres)
    np.testing.assert_allclose(normalised.oligos["log2_ratio"], log2 - shift)
    np.testing.assert_allclose(normalised.oligos["activity"], frame["rna"] / (frame["plasmid"] + 1) / 2**shift)
    assert normalised.details["pools"]["P2"]["subtracted"] == pytest.approx(centres["P2"])
    p2 = frame[frame["pool"] == "P2"]
    assert plain.details["pools"]["P2"]["log2_total_rna_over_plasmid"] == pytest.approx(
        np.log2(p2["rna"].sum() / p2["plasmid"].sum()))
    assert plain.details["pools"]["P2"]["subtracted"] == 0.0


def test_filters_come_before_the_dropout_rule_under_cpm():
    frame = library()
    cpm = config(method=ActivityMethod.cpm_log2_ratio)
    cpm.min_tags, cpm.min_plasmid = 35, 0  # the b1 dropout (30 barcodes) fails the barcode filter first
    prepared = prepare_activity(frame, cpm)
    assert prepared.excluded["tags_below_min"] == 2
    assert prepared.excluded["zero_rna_dropout"] == 2
    assert len(prepared.oligos) == len(frame) - 2


def test_pool_centre_and_dropout_keys_are_validated_when_loaded(tmp_path):
    from mprabench.config import load_params
    from tests.conftest import write_params

    with pytest.raises(ConfigError, match="dataset.activity.pool_centre"):
        load_params(write_params(tmp_path / "p.yaml", ["dataset.activity.pool_centre=mode"]))
    with pytest.raises(ConfigError, match="dataset.activity.zero_rna_dropout.exclude"):
        load_params(write_params(tmp_path / "q.yaml", ["dataset.activity.zero_rna_dropout.exclude=maybe"]))
