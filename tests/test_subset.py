"""dataset.subset: try a sample of the library first. A subset run sends exactly its distinct inputs
(counted by the local AlphaGenome server); a subset larger than the library stops prepare."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mprabench.errors import ConfigError
from mprabench.experiments import select_subset
from mprabench.fasta import read_fasta
from mprabench.config import SubsetConfig
from mprabench.predictors.store import STORE_ENV
from mprabench.stages import predict, prepare
from tests.conftest import TinyLibrary, compose_config, write_params
from tests.support.alphagenome.server import LocalAlphaGenomeServer


def prepare_subset(tmp_path: Path, tiny: TinyLibrary, subset: dict, *overrides: str) -> Path:
    fasta = tmp_path / "genome.fa"
    tiny.genome.write_chromosome_fasta(fasta)
    dataset = {**tiny.dataset_section(), "subset": subset}
    params = write_params(tmp_path / "params.yaml", list(overrides), dataset=dataset,
                          genome={**compose_config()["genome"], "fasta": str(fasta)})
    out = tmp_path / "out"
    prepare.main(["--params", str(params), "--raw", str(tiny.counts_dir), "--genome-cache", str(out / "cache.fa"),
                  "--rows", str(out / "rows.parquet"), "--inputs", str(out / "inputs.fa"),
                  "--qc", str(out / "qc.json"), "--qc-details", str(out / "qc_details.json")])
    return out


def test_a_subset_run_sends_exactly_its_distinct_inputs(tmp_path, tiny_library, monkeypatch):
    full = prepare_subset(tmp_path / "full", tiny_library, {"n_elements": None, "seed": 0, "folds": None},
                          "experiment=v2")
    out = prepare_subset(tmp_path, tiny_library, {"n_elements": 2, "seed": 3, "folds": None},
                         "experiment=v2")
    rows, full_rows = pd.read_parquet(out / "rows.parquet"), pd.read_parquet(full / "rows.parquet")
    inputs = read_fasta(out / "inputs.fa")
    assert rows["element_id"].nunique() == 2 and set(rows["input_sha256"]) == set(inputs)
    assert len(inputs) == 2 < len(read_fasta(full / "inputs.fa")), "V2: one input per element"
    kept = full_rows[full_rows["element_id"].isin(set(rows["element_id"]))]
    pd.testing.assert_frame_equal(rows.reset_index(drop=True), kept.reset_index(drop=True),
                                  obj="a subset's rows are the full run's rows of its elements")
    qc = json.loads((out / "qc.json").read_text())
    assert qc["excluded"]["outside_dataset_subset"] == len(full_rows) - len(rows)

    monkeypatch.setenv("ALPHAGENOME_API_KEY", "local")
    monkeypatch.delenv(STORE_ENV, raising=False)
    with LocalAlphaGenomeServer() as server:
        write_params(tmp_path / "predict.yaml", ["experiment=v2", f"predictor.address='{server.address}'",
                                                 "predictor.insecure=true"])
        predict.main(["--params", str(tmp_path / "predict.yaml"), "--inputs", str(out / "inputs.fa"),
                      "--rows", str(out / "rows.parquet"), "--store", str(tmp_path / "store"),
                      "--features", str(tmp_path / "features.parquet"), "--metrics", str(tmp_path / "predict.json"),
                      "--no-progress"])
        counters = server.counters()
    assert counters.predict_calls == len(inputs) and set(counters.predict_calls_by_sequence.values()) == {1}


def test_the_same_seed_draws_the_same_elements_and_another_seed_others():
    oligos = pd.DataFrame({"element_id": [f"e{i // 3:02d}" for i in range(90)], "row_id": range(90)})
    first, outside = select_subset(oligos, SubsetConfig(n_elements=5, seed=1, folds=None), "toy")
    again, _ = select_subset(oligos.sample(frac=1, random_state=0), SubsetConfig(n_elements=5, seed=1, folds=None),
                             "toy")
    other, _ = select_subset(oligos, SubsetConfig(n_elements=5, seed=2, folds=None), "toy")
    assert (first["element_id"].nunique(), len(first), outside) == (5, 15, 75)
    assert set(first["element_id"]) == set(again["element_id"]), "row order does not change the sample"
    assert set(first["element_id"]) != set(other["element_id"])


def test_folds_keep_their_rows_and_an_unknown_fold_or_a_missing_column_is_an_error():
    oligos = pd.DataFrame({"element_id": [f"e{i}" for i in range(10)], "fold": [1, 2] * 5})
    kept, outside = select_subset(oligos, SubsetConfig(n_elements=None, seed=0, folds=[2]), "toy")
    assert (set(kept["fold"]), outside) == ({2}, 5)
    with pytest.raises(ConfigError, match=r"\[3\] are not folds of toy \(it has \[1, 2\]\)"):
        select_subset(oligos, SubsetConfig(n_elements=None, seed=0, folds=[3]), "toy")
    with pytest.raises(ConfigError, match="has no `fold` column"):
        select_subset(oligos.drop(columns="fold"), SubsetConfig(n_elements=None, seed=0, folds=[1]), "toy")


def test_a_subset_larger_than_the_library_stops_prepare(tmp_path, tiny_library):
    with pytest.raises(ConfigError, match=r"dataset.subset.n_elements = 50 is more than the 4 elements"):
        prepare_subset(tmp_path, tiny_library, {"n_elements": 50, "seed": 0, "folds": None}, "experiment=v2")
    assert not (tmp_path / "out" / "inputs.fa").exists()


def test_a_subset_of_a_sequence_table_keeps_both_orientations_of_each_drawn_element(tmp_path):
    from tests.test_sequence_table import hepg2_rows, write

    write(tmp_path, "test_HepG2.tsv", hepg2_rows())
    params = write_params(tmp_path / "params.yaml", ["dataset=agarwal2025_hepg2_test", "experiment=insert",
                                                     f"dataset.source={tmp_path}", "dataset.files.0.sha256=null",
                                                     "dataset.subset.n_elements=3", "dataset.subset.seed=4"])
    out = tmp_path / "out"
    from mprabench.files import sha256_file

    params.write_text(params.read_text().replace("sha256: null", f"sha256: {sha256_file(tmp_path / 'test_HepG2.tsv')}"))
    prepare.main(["--params", str(params), "--raw", str(tmp_path), "--genome-cache", str(out / "cache.fa"),
                  "--rows", str(out / "rows.parquet"), "--inputs", str(out / "inputs.fa"),
                  "--qc", str(out / "qc.json"), "--qc-details", str(out / "qc_details.json")])
    rows = pd.read_parquet(out / "rows.parquet")
    assert rows["element_id"].nunique() == 3 and len(rows) == 6 and len(read_fasta(out / "inputs.fa")) == 6
    assert json.loads((out / "qc.json").read_text())["excluded"]["outside_dataset_subset"] == 6
