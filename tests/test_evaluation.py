"""evaluate: the summary.json contract, naive numbers only in details, dropout sensitivity, trained baselines."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mprabench.config import EvaluateConfig
from mprabench.headline import headline_feature, headline_keys, primary_features
from mprabench.schema import (
    DETAILS_ALPHA,
    DETAILS_BONFERRONI_FAMILY,
    DETAILS_EFFECTIVE_SAMPLE_SIZE,
    DETAILS_FEATURES,
    DETAILS_METHODS,
    DETAILS_PER_FEATURE,
    DETAILS_SENSITIVITY,
    DETAILS_TARGET,
    SUMMARY_DESIGN,
)
from mprabench.evaluation import evaluate
from tests.support.null_rows import gse84888_like_rows
from tests.conftest import configured

HEADLINE_KEYS = {
    "element_pearson_r", "pearson_r_ci_low", "pearson_r_ci_high", "element_p", "element_neglog10_p",
    "spearman_rho", "spearman_ci_low", "spearman_ci_high", "element_spearman_p", "spearman_neglog10_p",
    "within_element_r", "within_element_p", "within_element_neglog10_p", "element_bonferroni_significant",
}  # fmt: skip


def config(**changes) -> EvaluateConfig:
    values = dict(primary_features=["a", "b"], n_permutations=999, min_elements_ci=10, strata=["strand"])
    return configured(EvaluateConfig, "evaluate", **(values | changes))


def with_features(rows: pd.DataFrame, seed: int, names=("a", "b", "c")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    codes = pd.factorize(rows["input_sha256"])[0]
    for name in names:
        rows[name] = rng.normal(size=codes.max() + 1)[codes]
    return rows


def test_summary_has_the_contract_keys_only_and_naive_numbers_go_to_details():
    table = with_features(gse84888_like_rows(np.random.default_rng(0), within=True), 1)
    evaluation = evaluate(table, ["a", "b", "c"], config())
    summary = evaluation.summary()
    assert set(summary) == {"design", "a", "b"} and SUMMARY_DESIGN == "design"
    assert set(headline_keys()) == HEADLINE_KEYS  # the headline contract declares the keys
    # and details.json has exactly the top-level sections the schema names
    assert set(evaluation.details()) == {DETAILS_TARGET, DETAILS_FEATURES, DETAILS_EFFECTIVE_SAMPLE_SIZE,
                                         DETAILS_BONFERRONI_FAMILY, DETAILS_ALPHA, DETAILS_METHODS,
                                         DETAILS_PER_FEATURE, DETAILS_SENSITIVITY}
    assert summary["design"] == {"n_rows": len(table), "n_unique_inputs": len(table), "n_elements": 18}
    for feature in ("a", "b"):
        assert list(summary[feature]) == list(headline_keys())  # in the contract's order
        assert summary[feature]["element_neglog10_p"] == pytest.approx(-np.log10(summary[feature]["element_p"]))
        assert summary[feature]["pearson_r_ci_low"] < summary[feature]["element_pearson_r"] < summary[feature]["pearson_r_ci_high"]
    naive = evaluation.details()["per_feature"]["a"]["naive"]
    golden = stats.pearsonr(table["a"], table["log2_ratio"])
    assert naive["naive_pearson_r"] == pytest.approx(golden.statistic) and naive["naive_pearson_p"] == pytest.approx(golden.pvalue)


def test_the_shared_headline_block_repeats_the_declared_features_statistics_under_one_name():
    table = with_features(gse84888_like_rows(np.random.default_rng(0), within=True), 1)
    evaluation = evaluate(table, ["a", "b", "c"], config())
    plain, shared = evaluation.summary(), evaluation.summary("b")
    assert list(shared) == ["design", "headline", "a", "b"], "headline after design: the first columns of exp show"
    assert shared["headline"] == {"feature": "b", **plain["b"]}
    assert {k: v for k, v in shared.items() if k != "headline"} == plain, "the per-feature blocks are unchanged"
    assert primary_features(shared) == ["a", "b"] and headline_feature(shared) == "b"
    assert headline_feature(plain) is None


def test_the_headline_feature_is_the_declared_one_unless_set_and_must_be_primary(tmp_path):
    from mprabench.errors import ConfigError
    from mprabench.stages.evaluate import headline_of

    source = tmp_path / "provenance.json"
    declared = {"headline_feature": "gc_fraction"}
    assert headline_of(None, declared, ["gc_fraction"], source) == "gc_fraction"
    assert headline_of("cage_center", {"headline_feature": "dnase_center"}, ["dnase_center", "cage_center"],
                       source) == "cage_center"
    with pytest.raises(ConfigError, match=r"the predictor's declared headline .*provenance.json\) is 'gc_fraction', "
                                          r"which is not a primary feature \['a'\]"):
        headline_of(None, declared, ["a"], source)
    with pytest.raises(ConfigError, match="evaluate.headline_feature is 'x', which is not a primary feature"):
        headline_of("x", declared, ["gc_fraction"], source)
    with pytest.raises(ConfigError, match="no headline feature: no --provenance given names none"):
        headline_of(None, None, ["gc_fraction"], None)


def test_one_row_per_element_reproduces_the_plain_pearson_r():
    """V1: one row per element, so the element r is the original analysis's Pearson r over 18 rows."""
    rows = gse84888_like_rows(np.random.default_rng(1), within=False).groupby("element_id", as_index=False).agg(
        row_id=("row_id", "first"), input_sha256=("input_sha256", "first"), strand=("strand", "first"),
        log2_ratio=("log2_ratio", "mean"), zero_rna_dropout=("zero_rna_dropout", "any"))
    table = with_features(rows, 2)
    summary = evaluate(table, ["a", "b"], config()).summary()
    assert summary["a"]["element_pearson_r"] == pytest.approx(stats.pearsonr(table["a"], table["log2_ratio"]).statistic,
                                                              abs=1e-12)


def test_headline_excludes_zero_rna_dropouts_and_the_sensitivity_keeps_them():
    table = with_features(gse84888_like_rows(np.random.default_rng(3), within=False), 4)
    dropout = np.zeros(len(table), bool)
    dropout[table.index[table.element_id == "E03"][:20]] = True
    table["zero_rna_dropout"] = dropout
    table.loc[dropout, "log2_ratio"] = -8.0
    evaluation = evaluate(table, ["a", "b"], config())
    assert evaluation.summary()["design"]["n_rows"] == len(table) - 20
    sensitivity = evaluation.details()["sensitivity"]["with_zero_rna_dropouts"]
    assert sensitivity["n_rows"] == len(table) and sensitivity["n_dropout_rows"] == 20
    means = table.groupby("element_id")[["a", "log2_ratio"]].mean()
    assert sensitivity["per_feature"]["a"]["element_pearson_r"] == pytest.approx(
        stats.pearsonr(means.a, means.log2_ratio).statistic)
    kept = table[~dropout].groupby("element_id")[["a", "log2_ratio"]].mean()
    assert evaluation.summary()["a"]["element_pearson_r"] == pytest.approx(stats.pearsonr(kept.a, kept.log2_ratio).statistic)


def test_trained_baseline_takes_its_refit_null_p_and_reports_no_fisher_ci():
    table = with_features(gse84888_like_rows(np.random.default_rng(5), within=False), 6, names=("kmer_ridge_oof",))
    training = {"kmer_ridge_oof": {"element_p": 0.42, "oof_r2": -0.1, "element_pearson_r": 0.0}}
    evaluation = evaluate(table, ["kmer_ridge_oof"], config(primary_features=["kmer_ridge_oof"]), training)
    headline = evaluation.summary()["kmer_ridge_oof"]
    assert headline["element_p"] == 0.42 and headline["pearson_r_ci_low"] is None
    details = evaluation.details()["per_feature"]["kmer_ridge_oof"]
    assert details["trained_baseline"]["oof_r2"] == -0.1 and "trained predictor" in details["element_level"]["ci_reason"]


def test_no_permutations_gives_no_p_and_no_flag():
    table = with_features(gse84888_like_rows(np.random.default_rng(7), within=False), 8)
    summary = evaluate(table, ["a", "b"], dataclasses.replace(config(), n_permutations=0)).summary()
    assert summary["a"]["element_p"] is None and summary["a"]["element_bonferroni_significant"] is None


def test_null_features_raise_the_flag_rarely_on_the_gse84888_structure():
    """The issue's check in small: null features through evaluate; the flag and p behave at nominal rates."""
    rows = gse84888_like_rows(np.random.default_rng(9), within=False)
    names = [f"f{i}" for i in range(60)]
    table = with_features(rows, 10, names)
    evaluation = evaluate(table, names, config(primary_features=names, n_permutations=199, strata=[]))
    p = np.array([evaluation.results[f].element_p for f in names])
    assert (p <= 0.05).mean() <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 60)
    covered = [evaluation.results[f].element.ci_low <= 0 <= evaluation.results[f].element.ci_high for f in names]
    assert np.mean(covered) >= 0.95 - 3 * np.sqrt(0.05 * 0.95 / 60)


def test_a_baseline_trained_on_another_target_gets_no_p_with_the_reason():
    table = with_features(gse84888_like_rows(np.random.default_rng(5), within=False), 6, names=("kmer_ridge_oof",))
    training = {"kmer_ridge_oof": {"element_p": 0.01, "target": "activity"}}
    evaluation = evaluate(table, ["kmer_ridge_oof"], config(primary_features=["kmer_ridge_oof"]), training)
    assert evaluation.summary()["kmer_ridge_oof"]["element_p"] is None
    reason = evaluation.details()["per_feature"]["kmer_ridge_oof"]["trained_baseline"]["element_p_reason"]
    assert "predictor.target=log2_ratio" in reason
    # The report reads the reason of a missing element p at one place for every feature.
    assert evaluation.details()["per_feature"]["kmer_ridge_oof"]["element_level"]["p_reason"] == reason


def test_a_trained_baseline_gets_no_second_kind_of_p_in_the_dropout_sensitivity():
    """The refit null ran on the headline rows only: a plain permutation p next to it would be another test."""
    table = with_features(gse84888_like_rows(np.random.default_rng(5), within=False), 6,
                          names=("kmer_ridge_oof", "a"))
    table["zero_rna_dropout"] = np.arange(len(table)) % 17 == 0
    training = {"kmer_ridge_oof": {"element_p": 0.42, "target": "log2_ratio"}}
    evaluation = evaluate(table, ["kmer_ridge_oof", "a"], config(primary_features=["kmer_ridge_oof", "a"]), training)
    per_feature = evaluation.details()["sensitivity"]["with_zero_rna_dropouts"]["per_feature"]
    trained, plain = per_feature["kmer_ridge_oof"], per_feature["a"]
    assert trained["element_pearson_r"] is not None
    assert trained["element_p"] is None and trained["pearson_r_ci_low"] is None and trained["pearson_r_ci_high"] is None
    assert "headline rows only" in trained["p_reason"] and "headline rows only" in trained["ci_reason"]
    # The other features: the element r only, p and CI withheld because calibrate never simulated these rows.
    assert plain["element_pearson_r"] is not None and plain["element_p"] is None and plain["pearson_r_ci_low"] is None
    assert "not calibrated" in plain["p_reason"] and "not calibrated" in plain["ci_reason"]


def test_v1_sensitivity_uses_the_target_recomputed_with_dropouts():
    rows = gse84888_like_rows(np.random.default_rng(12), within=False).groupby("element_id", as_index=False).agg(
        row_id=("row_id", "first"), input_sha256=("input_sha256", "first"), strand=("strand", "first"),
        log2_ratio=("log2_ratio", "mean"))
    table = with_features(rows, 13)
    table["log2_ratio_with_dropouts"] = table["log2_ratio"] - np.where(table.index == 3, 1.2, 0.0)
    table["zero_rna_dropout"] = False  # V1 aggregated rows are never flagged themselves
    sensitivity = evaluate(table, ["a", "b"], config()).details()["sensitivity"]["with_zero_rna_dropouts"]
    assert sensitivity["target"] == "log2_ratio_with_dropouts" and sensitivity["n_rows"] == 18
    assert sensitivity["per_feature"]["a"]["element_pearson_r"] == pytest.approx(
        stats.pearsonr(table["a"], table["log2_ratio_with_dropouts"]).statistic)
