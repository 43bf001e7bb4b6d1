"""The content-addressed prediction store: keys, atomic records, compaction, refusal of bad values."""

from __future__ import annotations

import pytest

from mprabench.predictors.store import PredictionStore, StoreError, fingerprint_key

FP = {"predictor": "x", "outputs": ["DNASE"], "organism": "HOMO_SAPIENS"}


def test_fingerprint_key_is_stable_and_order_free():
    assert fingerprint_key(FP) == fingerprint_key(dict(reversed(list(FP.items()))))
    assert fingerprint_key(FP) != fingerprint_key({**FP, "organism": "MUS_MUSCULUS"})


def test_put_load_compact_round_trip(tmp_path):
    store = PredictionStore(tmp_path, FP)
    store.put("a" * 64, {"f": 1.0, "g": 2.0})
    store.put("b" * 64, {"f": 3.0, "g": 4.0})
    assert store.load().loc["b" * 64, "g"] == 4.0
    compacted = store.compact()
    assert not list(store.records.glob("*.json"))
    assert compacted.to_dict(orient="index") == {"a" * 64: {"f": 1.0, "g": 2.0}, "b" * 64: {"f": 3.0, "g": 4.0}}
    reloaded = PredictionStore(tmp_path, FP).load()
    assert reloaded.to_dict(orient="index") == {"a" * 64: {"f": 1.0, "g": 2.0}, "b" * 64: {"f": 3.0, "g": 4.0}}
    assert (store.directory / "fingerprint.json").exists()


def test_different_fingerprints_never_share_predictions(tmp_path):
    PredictionStore(tmp_path, FP).put("a" * 64, {"f": 1.0})
    assert PredictionStore(tmp_path, {**FP, "outputs": ["CAGE"]}).load().empty


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_feature_is_never_stored(tmp_path, value):
    store = PredictionStore(tmp_path, FP)
    with pytest.raises(StoreError, match="non-finite"):
        store.put("a" * 64, {"f": value})
    with pytest.raises(StoreError, match="non-finite"):
        store.put_many({"a" * 64: {"f": value}})
    assert store.load().empty


def test_leftovers_of_a_killed_writer_do_not_break_loading(tmp_path):
    store = PredictionStore(tmp_path, FP)
    store.put("a" * 64, {"f": 1.0})
    (store.records / ".bbbb.json.123.tmp").write_text('{"f": 2')  # half-written temporary file
    reopened = PredictionStore(tmp_path, FP)
    assert list(reopened.load().index) == ["a" * 64]
    assert not list(store.records.glob(".*.tmp"))


def test_record_and_table_holding_the_same_input_load_once(tmp_path):
    store = PredictionStore(tmp_path, FP)
    store.put("a" * 64, {"f": 1.0})
    store.put_many({"b" * 64: {"f": 2.0}})  # writes a table that already includes "a"
    assert sorted(store.load().index) == ["a" * 64, "b" * 64]


def test_mixed_feature_sets_are_refused(tmp_path):
    store = PredictionStore(tmp_path, FP)
    store.put("a" * 64, {"f": 1.0})
    store.put("b" * 64, {"g": 1.0})
    with pytest.raises(StoreError, match="lack some features"):
        store.load()
