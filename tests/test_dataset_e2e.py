"""End to end: a held-out fold in the Agarwal 2025 HepG2 layout through the shipped test-fold config, offline.

As the issue checks it: a fold the project has never seen (synthetic here, same layout), the
shipped config with `dataset.source` and `dataset.files.0.sha256` overridden, precomputed features;
element r, element count and row accounting compared with an independent computation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mprabench.files import sha256_file
from tests.conftest import pipeline_repo

pytestmark = pytest.mark.e2e

ADAPTERS = ("AGGACCGGATCAACT", "CATTGCGTGAACCGA")


def write_fold(folder, n_elements: int, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A fold in the HepG2 layout (`<element>`, `<element>_Reversed:`; 230 nt) and precomputed features."""
    rng = np.random.default_rng(seed)
    names, sequences, values, scores = [], [], [], []
    for i in range(n_elements):
        element = f"DNasePeakNoPromoter{i}" if i % 5 else f"ENSG{i:011d}"
        signal = rng.normal()
        for suffix in ("", "_Reversed:"):
            names.append(element + suffix)
            sequences.append(ADAPTERS[0] + "".join(rng.choice(list("ACGT"), 200)) + ADAPTERS[1])
            values.append(round(signal + 0.5 * rng.normal(), 3))
            scores.append(0.3 * signal + rng.normal())
    fold = pd.DataFrame({"seq_id": names, "seq": sequences, "mean_value": values})
    folder.mkdir(parents=True, exist_ok=True)
    fold.to_csv(folder / "test_HepG2.tsv", sep="\t", index=False)
    features = pd.DataFrame({"sequence": sequences, "score": scores})
    return fold, features


def test_hepg2_fold_runs_offline_and_matches_an_independent_computation(tmp_path):
    repo = pipeline_repo(tmp_path)
    fold, features = write_fold(tmp_path / "fold", n_elements=300)
    # predictions keyed by the measured insert itself (the model input is that insert centred in N)
    features.to_csv(tmp_path / "preds.csv", index=False)
    overrides = [
        "dataset=agarwal2025_hepg2_test", f"dataset.source={tmp_path / 'fold'}",
        f"dataset.files.0.sha256={sha256_file(tmp_path / 'fold' / 'test_HepG2.tsv')}",
        "predictor=precomputed", f"predictor.path={tmp_path / 'preds.csv'}", "evaluate.primary_features=[score]",
        "evaluate.n_permutations=199", "evaluate.calibration.n_replicates=200",
    ]
    repo.dvc("exp", "run", "-n", "hepg2", *[a for o in overrides for a in ("-S", o)])

    qc = repo.json("metrics/qc.json")
    assert (qc["rows_in"], qc["rows_used"], qc["benchmark_rows"], qc["elements"], qc["excluded"]) == \
        (600, 600, 600, 300, {"missing_activity": 0})
    assert (repo.root / "data/raw/agarwal2025_hepg2_test/test_HepG2.tsv").is_file()

    # independent computation: element = id without `_Reversed:`, mean over its two rows
    element = fold["seq_id"].str.replace("_Reversed:", "", regex=False)
    means = pd.DataFrame({"element": element, "x": features["score"], "y": fold["mean_value"]}).groupby("element").mean()
    summary = repo.json("metrics/summary.json")
    assert summary["design"] == {"n_rows": 600, "n_unique_inputs": 600, "n_elements": 300}
    assert summary["score"]["element_pearson_r"] == pytest.approx(np.corrcoef(means["x"], means["y"])[0, 1], abs=1e-12)

    details = repo.json("metrics/details.json")
    forward, reverse = ~fold["seq_id"].str.endswith(":"), fold["seq_id"].str.endswith(":")
    d_model = features["score"][forward].to_numpy() - features["score"][reverse].to_numpy()
    d_measured = fold["mean_value"][forward].to_numpy() - fold["mean_value"][reverse].to_numpy()
    orientation = details["orientation"]["score"]
    assert orientation["n_elements"] == 300
    assert orientation["r"] == pytest.approx(np.corrcoef(d_model, d_measured)[0, 1], abs=1e-12)

    calibration = repo.json("metrics/calibration.json")
    assert {"element_p", "orientation_p", "strata_between_p"} <= set(calibration["tests"])
    assert "orientation_r_ci" in calibration["intervals"]
    strata = pd.read_csv(repo.root / "metrics/tables/strata_class.csv")
    assert set(strata["stratum"]) == {"enhancer", "promoter"}
    report = (repo.root / "metrics/report.md").read_text()
    assert "agarwal2025_hepg2_test" in report


def test_a_users_own_csv_runs_with_the_table_config_and_no_other_dataset_setting(tmp_path):
    """README: `dvc exp run -S dataset=table -S dataset.source=my_library.csv` (an offline predictor here)."""
    repo = pipeline_repo(tmp_path)
    rng = np.random.default_rng(2)
    sequences = ["".join(rng.choice(list("ACGT"), 150)) for _ in range(40)]
    table = pd.DataFrame({"name": [f"s{i}" for i in range(40)], "sequence": sequences,
                          "activity": rng.normal(size=40).round(3)})
    table.to_csv(repo.root / "my_library.csv", index=False)
    repo.dvc("exp", "run", "-n", "mine", "-S", "dataset=table", "-S", "dataset.source=my_library.csv",
             "-S", "predictor=gc", "-S", "evaluate.n_permutations=199",
             "-S", "evaluate.calibration.n_replicates=100",
             "evaluate")  # what the checks read (a dataset's report: the HepG2 test above)
    qc = repo.json("metrics/qc.json")
    assert (qc["rows_in"], qc["benchmark_rows"], qc["elements"], qc["distinct_inputs"]) == (40, 40, 40, 40)
    gc = np.array([(s.count("G") + s.count("C")) / 150 for s in sequences])
    r = repo.json("metrics/summary.json")["gc_fraction"]["element_pearson_r"]
    assert r == pytest.approx(np.corrcoef(gc, table["activity"])[0, 1], abs=1e-9)
    assert (repo.root / "data/raw/table/my_library.csv").is_file()
    assert repo.json("data/local/counts.json") == {"my_library.csv": sha256_file(repo.root / "my_library.csv")}
