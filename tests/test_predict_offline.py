"""The predict stage with offline predictors: gc, motif, kmer and precomputed files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mprabench.dna import sequence_sha256
from mprabench.errors import ConfigError, InputDataError
from mprabench.fasta import write_fasta
from mprabench.stages import predict
from tests.conftest import write_params


def sequences_with_gc(fractions: list[float], length: int = 1_000) -> dict[str, str]:
    made = {}
    for fraction in fractions:
        gc = int(round(fraction * length))
        sequence = "G" * (gc // 2) + "AT" * ((length - gc) // 2) + "C" * (gc - gc // 2)
        made[sequence_sha256(sequence)] = sequence
    return made


def run_stage(tmp_path, inputs: dict[str, str], overrides: list[str], rows: pd.DataFrame | None = None) -> pd.DataFrame:
    write_fasta(tmp_path / "inputs.fa", inputs)
    if rows is None:
        rows = pd.DataFrame({"row_id": [f"r{i}" for i in range(len(inputs))], "input_sha256": list(inputs)})
    rows.to_parquet(tmp_path / "rows.parquet")
    write_params(tmp_path / "params.yaml", overrides)
    predict.main(["--params", str(tmp_path / "params.yaml"), "--inputs", str(tmp_path / "inputs.fa"),
                  "--rows", str(tmp_path / "rows.parquet"), "--store", str(tmp_path / "store"),
                  "--features", str(tmp_path / "features.parquet"), "--metrics", str(tmp_path / "predict.json"),
                  "--training", str(tmp_path / "training.json"), "--no-progress"])
    return pd.read_parquet(tmp_path / "features.parquet").set_index("input_sha256")


def test_gc_baseline_through_the_stage(tmp_path):
    inputs = sequences_with_gc([0.2, 0.5, 0.8])
    features = run_stage(tmp_path, inputs, ["predictor=gc", "predictor.width=1000"])
    expected = {sha: (s.count("G") + s.count("C")) / len(s) for sha, s in inputs.items()}
    assert features["gc_fraction"].to_dict() == pytest.approx(expected)
    assert json.loads((tmp_path / "training.json").read_text()) == {"features": {}}, "an untrained predictor"


def test_motif_baseline_scores_a_planted_site_highest(tmp_path):
    rng = np.random.default_rng(1)
    background = ["".join(rng.choice(list("AT"), 400)) for _ in range(3)]
    planted = background[0][:190] + "AGGTCAAAGGTCA" + background[0][203:]  # DR1: PPARG::RXRA consensus core
    inputs = {sequence_sha256(s): s for s in [planted, *background[1:]]}
    features = run_stage(tmp_path, inputs, ["predictor=motif"])
    pparg = next(c for c in features.columns if c.startswith("motif_MA0065"))
    assert features[pparg].idxmax() == sequence_sha256(planted)


def test_kmer_baseline_follows_the_training_rows(tmp_path):
    rng = np.random.default_rng(2)
    inputs = {}
    rows = []
    for element in range(12):
        for oligo in range(3):
            sequence = "".join(rng.choice(list("ACGT"), 300))
            sha = sequence_sha256(sequence)
            inputs[sha] = sequence
            rows.append({"row_id": f"e{element}_{oligo}", "input_sha256": sha, "element_id": f"e{element}",
                         "log2_ratio": sequence.count("GATA") + rng.normal(0, 0.1), "zero_rna_dropout": False})
    frame = pd.DataFrame(rows)
    first = run_stage(tmp_path, inputs, ["predictor=kmer", "predictor.k=4", "predictor.n_folds=4"], frame)
    assert list(first.columns) == ["kmer_ridge_oof"] and len(first) == 36
    assert not (tmp_path / "store").exists(), "offline baselines keep no prediction store"
    training = json.loads((tmp_path / "training.json").read_text())["features"]["kmer_ridge_oof"]
    assert training["n_permutations"] == 999 and 0 < training["element_p"] <= 1 and training["n_elements"] == 12
    assert training["oof_r2"] is not None

    fewer = ["predictor=kmer", "predictor.k=4", "predictor.n_folds=4", "predictor.n_permutations=99"]  # p unread
    frame["log2_ratio"] = -frame["log2_ratio"]
    second = run_stage(tmp_path, inputs, fewer, frame)
    assert not np.allclose(first["kmer_ridge_oof"], second["kmer_ridge_oof"]), "new training data, new predictions"

    frame["zero_rna_dropout"] = frame["row_id"].str.endswith("_0")  # trained on the other rows only
    third = run_stage(tmp_path, inputs, fewer, frame)
    assert len(third) == 36 and np.isfinite(third["kmer_ridge_oof"]).all()
    training = json.loads((tmp_path / "training.json").read_text())["features"]["kmer_ridge_oof"]
    assert training["n_inputs"] == 24


def test_kmer_baseline_with_fewer_elements_than_folds_names_the_setting(tmp_path):
    inputs = sequences_with_gc([0.2, 0.4, 0.6, 0.8])
    rows = pd.DataFrame({"row_id": ["a", "b", "c", "d"], "input_sha256": list(inputs),
                         "element_id": ["e1", "e1", "e2", "e3"], "log2_ratio": [0.1, 0.2, 0.3, 0.4],
                         "zero_rna_dropout": False})
    with pytest.raises(ConfigError, match=r"3 element\(s\), fewer than predictor.n_folds=5; set `-S predictor.n_folds=3`"):
        run_stage(tmp_path, inputs, ["predictor=kmer", "predictor.n_folds=5"], rows)


@pytest.mark.parametrize("form", ["csv_sequence", "parquet_sha"])
def test_precomputed_predictions_are_read_by_sequence_or_sha(tmp_path, form):
    inputs = sequences_with_gc([0.3, 0.6])
    table = pd.DataFrame({"sequence": list(inputs.values()), "dnase_center": [1.5, 2.5], "note": ["a", "b"]})
    if form == "csv_sequence":
        path = tmp_path / "given.csv"
        table.to_csv(path, index=False)
    else:
        path = tmp_path / "given.parquet"
        table.assign(input_sha256=list(inputs)).drop(columns="sequence").to_parquet(path)
    features = run_stage(tmp_path, inputs, ["predictor=precomputed", f"predictor.path={path}"])
    assert features["dnase_center"].to_dict() == dict(zip(inputs, [1.5, 2.5]))
    assert list(features.columns) == ["dnase_center"], "non-numeric columns are not features"


def test_precomputed_missing_inputs_say_how_many_and_show_some(tmp_path):
    inputs = sequences_with_gc([0.1, 0.3, 0.6])
    path = tmp_path / "given.csv"
    pd.DataFrame({"sequence": [list(inputs.values())[0]], "dnase_center": [1.0]}).to_csv(path, index=False)
    with pytest.raises(InputDataError, match=r"2 of 3 model inputs have no prediction in the file, e\.g\. \["):
        run_stage(tmp_path, inputs, ["predictor=precomputed", f"predictor.path={path}"])


def test_precomputed_non_finite_values_are_refused(tmp_path):
    inputs = sequences_with_gc([0.1, 0.3])
    path = tmp_path / "given.csv"
    pd.DataFrame({"sequence": list(inputs.values()), "dnase_center": [1.0, np.nan]}).to_csv(path, index=False)
    with pytest.raises(InputDataError, match=r"1 rows have missing or non-finite features, e\.g\. line\(s\) \[3\]"):
        run_stage(tmp_path, inputs, ["predictor=precomputed", f"predictor.path={path}"])


def test_a_pandas_index_column_in_precomputed_predictions_is_not_a_feature(tmp_path, caplog):
    inputs = sequences_with_gc([0.3, 0.6])
    path = tmp_path / "given.csv"
    pd.DataFrame({"sequence": list(inputs.values()), "dnase_center": [1.5, 2.5]}).to_csv(path)  # index written
    assert pd.read_csv(path).columns[0] == "Unnamed: 0"
    with caplog.at_level("WARNING"):
        features = run_stage(tmp_path, inputs, ["predictor=precomputed", f"predictor.path={path}"])
    assert list(features.columns) == ["dnase_center"]
    assert "Unnamed: 0" in caplog.text and "not used as features" in caplog.text
