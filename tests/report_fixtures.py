"""Inputs of the report stage in the shapes evaluate, prepare, calibrate and predict write (schema.py).

summary.json is headline-only; details.json, calibration.json, qc_details.json and
provenance.json are written as their producers describe them. Built here, not by running
the evaluate stage, so the report is tested against the contract whatever evaluate writes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from mprabench.stages import report
from tests.conftest import write_params
from tests.support.mlflow_store import empty_store

PRIMARY = ["dnase_center", "dnase_mean", "cage_center", "cage_mean", "rna_center", "rna_mean"]
LOCAL_ADDRESS = "127.0.0.1:50051"
MISMATCHED_ELEMENT = "PPREwt_chr9_100_116_-_AGGTCAAAGGTCAGTA"


@dataclass
class ReportFixture:
    directory: Path
    params: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    def argv(self, *, with_optional: bool = True) -> list[str]:
        d = self.directory
        argv = ["--params", str(self.params), "--qc", str(d / "qc.json"), "--prediction", str(d / "predict.json"),
                "--summary", str(d / "metrics" / "summary.json"), "--details", str(d / "metrics" / "details.json"),
                "--tables", str(d / "metrics" / "tables"), "--figures", str(d / "plots" / "figures"),
                "--forest-csv", str(d / "plots" / "forest.csv"), "--forest-figure", str(d / "plots" / "forest.png"),
                "--lock", str(d / "dvc.lock"), "--report", str(d / "metrics" / "report.md")]
        if with_optional:
            argv += ["--calibration", str(d / "metrics" / "calibration.json"),
                     "--qc-details", str(d / "metrics" / "qc_details.json"),
                     "--provenance", str(d / "data" / "provenance.json"),
                     "--calibration-figure", str(d / "plots" / "calibration_qq.png")]
        return argv

    def run_report(self, monkeypatch, *, with_optional: bool = True) -> str:
        """Run the report stage in this process, in the fixture's folder, logging to a fresh local MLflow
        store there (a copy of tests/support/mlflow_store.py's empty one); returns its tracking URI."""
        uri = empty_store(self.directory / "mlflow.db")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        monkeypatch.chdir(self.directory)
        report.main(self.argv(with_optional=with_optional))
        return uri


def headline(rng: np.random.Generator, *, within: bool) -> dict:
    r = float(rng.uniform(-0.7, 0.7))
    p = float(10 ** rng.uniform(-4, 0))
    within_r = float(rng.uniform(-0.3, 0.3)) if within else None
    within_p = float(rng.uniform(0.01, 1)) if within else None
    return {"element_pearson_r": r, "pearson_r_ci_low": max(-1.0, r - 0.3), "pearson_r_ci_high": min(1.0, r + 0.3),
            "element_p": p, "element_neglog10_p": -math.log10(p),
            "within_element_r": within_r, "within_element_p": within_p,
            "within_element_neglog10_p": -math.log10(within_p) if within else None,
            "element_bonferroni_significant": p < 0.05 / len(PRIMARY)}


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def tiny_png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1], [0, 1])
    fig.savefig(path, dpi=20)


SENSITIVITY_KEYS = ("element_pearson_r", "pearson_r_ci_low", "pearson_r_ci_high", "element_p")


def make_report_fixture(directory: Path, *, seed: int = 0, within: bool = False,
                        address: str | None = LOCAL_ADDRESS, refit_simulated: bool = False,
                        leverage_fails: bool = False) -> ReportFixture:
    """A V2-like run on the local test server: 18 elements, 18 inputs, 6,963 rows."""
    rng = np.random.default_rng(seed)
    overrides: list[str] = []
    if address:
        overrides += [f"predictor.address={address}", "predictor.insecure=true"]
    params = write_params(directory / "params.yaml", overrides)
    n_inputs = 200 if within else 18
    summary = {"design": {"n_rows": 6963, "n_elements": 18, "n_unique_inputs": n_inputs}}
    summary |= {f: headline(rng, within=within) for f in PRIMARY}
    summary["cage_mean"] |= {"element_pearson_r": None, "pearson_r_ci_low": None, "pearson_r_ci_high": None,
                             "element_p": None, "element_neglog10_p": None, "element_bonferroni_significant": None}
    write_json(directory / "metrics" / "summary.json", summary)
    details = {
        "target": "log2_ratio", "alpha": 0.05,
        "per_feature": {
            f: {"naive_pearson_r": float(rng.uniform(-0.1, 0.1)), "naive_pearson_p": 1e-5,
                "element_level": {key: "the feature is constant across elements" if f == "cage_mean" else None
                                  for key in ("r_reason", "p_reason", "ci_reason", "spearman_p_reason", "loo_reason")}
                | ({} if f == "cage_mean" else {  # evaluate's leverage keys (stats/leverage.py)
                    "spearman_rho": 0.31, "element_spearman_p": 0.2, "loo_r_min": 0.05, "loo_r_max": 0.4,
                    "spearman_ci_low": -0.19, "spearman_ci_high": 0.68, "spearman_ci_reason": None,
                    "loo_verdict_changers": ["E07"] if f == "rna_mean" else []}),
                "within_element": {"reason": None if within else
                                   "model inputs do not vary within any element (V1/V2 inputs omit the perturbation)",
                                   "summary": {"reason": None} if within else None}}
            for f in PRIMARY},
        # the shape evaluate writes (evaluation.Evaluation.details)
        "sensitivity": {"with_zero_rna_dropouts": {
            "n_rows": 6963, "n_dropout_rows": 175, "target": "log2_ratio",
            "per_feature": {f: {k: headline(rng, within=within)[k] for k in SENSITIVITY_KEYS} for f in PRIMARY}}},
    }
    details["per_feature"]["dnase_center"]["trained_baseline"] = {
        "element_pearson_r": 0.21, "element_p": 0.4, "n_permutations": 999, "oof_r2": 0.0421}
    write_json(directory / "metrics" / "details.json", details)
    write_json(directory / "metrics" / "calibration.json", {
        "alpha": 0.05, "ci_level": 0.95,
        "tests": {"element_p": {"type_I": 0.049, "mcse": 0.007}}
        | ({"refit_element_p": {"type_I": 0.053, "mcse": 0.005}} if refit_simulated else {}),
        "intervals": {"pearson_r_ci": {"coverage": 0.944, "mcse": 0.005}},
        "flags": {"element_bonferroni_significant": {"familywise_rate": 0.047, "mcse": 0.005}},
        "worst_nulls": "tests.element_p=het_0; intervals.pearson_r_ci=t2_noise; "
                       "flags.element_bonferroni_significant=het_0"
                       + ("; tests.refit_element_p=refit_noise_only" if refit_simulated else "")})
    if leverage_fails:  # the leverage nulls as bench_calibrate measured them on V3: Pearson fails, Spearman holds
        write_json(directory / "metrics" / "calibration.json", {
            "alpha": 0.05, "ci_level": 0.95,
            "tests": {"element_p": {"type_I": 0.268, "mcse": 0.01}, "element_spearman_p": {"type_I": 0.06, "mcse": 0.005}},
            "intervals": {"pearson_r_ci": {"coverage": 0.68, "mcse": 0.01}, "spearman_rho_ci": {"coverage": 0.945, "mcse": 0.005}},
            "flags": {"element_bonferroni_significant": {"familywise_rate": 0.058, "mcse": 0.005}},
            "worst_nulls": "tests.element_p=leverage_smallest; tests.element_spearman_p=leverage_smallest; "
                           "intervals.pearson_r_ci=leverage_smallest; intervals.spearman_rho_ci=leverage_largest; "
                           "flags.element_bonferroni_significant=leverage_smallest"})
    write_json(directory / "metrics" / "qc_details.json", {  # the shape prepare writes
        "activity": {"method": "raw_log2_ratio", "pool_offset_log2": 0.336,
                     "pools": {"Pool6": {"rows": 3720, "median_log2_ratio": -1.097},
                               "Pool7": {"rows": 3068, "median_log2_ratio": -0.761}}},
        "motif_mismatches": [{"element_id": MISMATCHED_ELEMENT, "rows": 547, "reason": "n_run_in_reference",
                              "name_motif": "AGGTCAAAGGTCAGTA", "reference_motif": "AGGTCAANNNNNNNNN"}],
        "motif_mismatch_rows": {"n_run_in_reference": 547}})
    write_json(directory / "data" / "provenance.json", {
        "predictor": "alphagenome", "store_key": "0" * 16, "source": "local test server (synthetic tracks)",
        "model_version": "ALL_FOLDS", "organism": "HOMO_SAPIENS", "tracks_chosen_by": "experiment.tracks of experiment v2",
        "biosamples": [{"ontology_term": "EFO:0002067", "biosample_name": "K562", "biosample_type": "cell_line"}],
        "tracks": {"DNASE": 1, "CAGE": 2, "RNA_SEQ": 2}})
    write_json(directory / "qc.json", {"rows_in": 6963, "rows_used": 6963, "excluded": {"zero_rna_dropout": 0},
                                       "elements": 18, "distinct_inputs": n_inputs})
    write_json(directory / "predict.json", {"distinct_inputs": n_inputs, "served_from_store": 0,
                                            "requested": n_inputs, "failed": 0})
    tables = directory / "metrics" / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    (tables / "strata_tf.csv").write_text("kind,stratum,feature,estimable,pearson_r\n"
                                          "tf,cebp|ap1,dnase_center,False,\n")
    if within:
        (tables / "within_element.csv").write_text("feature,element_id,n_inputs,r\ndnase_center,E1,12,0.4\n")
    for name in ("scatter.png", "roc.png"):
        tiny_png(directory / "plots" / "figures" / name)
    tiny_png(directory / "plots" / "calibration_qq.png")
    (directory / "dvc.lock").write_text("schema: '2.0'\n")
    return ReportFixture(directory, params)
