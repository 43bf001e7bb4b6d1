"""Null features on a sequence-table dataset's own structure (the Agarwal 2025 held-out folds), many at once.

The issue's check for a second dataset: the held-out fold is read by its shipped config (reader,
elements, orientations, classes), its inputs built as prepare builds them, and features unrelated
to activity are drawn from a null of conf's calibration family (--null, default het_0: an element
effect plus independent noise per input, so the forward − reverse difference of a feature is
independent of the measured one). evaluate's statistics are computed for all features at once
with evaluate's own functions (element means, Pearson r as a product of unit-scaled vectors, the
permutation p over elements, the Fisher-z interval, Spearman's rho of the means, the orientation
pairs), each feature against its own permutations' common set, so 1,000 features take a minute
instead of hours. The same statistics of the first --cross-check features also go through
evaluation.evaluate itself, and the largest difference of p is printed (it differs only by the
Monte-Carlo error of the different permutations).

Prints, per fold, the rejection rate at alpha of the element p, the verdict's Spearman p, the
orientation p and each class stratum's Spearman p, and the CI coverage of the element r and the
orientation r, each with its Monte-Carlo SE (goal for rejection 5 ± 2 %, coverage 95 ± 2 %).
Run: .venv/bin/python -m benchmarks.check_null_dataset [--data DIR] [--features 1000] [--permutations 999]
     [--null het_0] [--cross-check 0]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from benchmarks.common import CONF, REPO, report
from mprabench.config import load_params
from mprabench.evaluation import evaluate, evaluation_table
from mprabench.readers.registry import read_dataset
from mprabench.schema import ELEMENT_CLASS, ELEMENT_ID, INPUT_SHA256
from mprabench.sequences import build_given_inputs
from mprabench.stats.calibration import design_structure
from mprabench.stats.clustered import element_permutations, fisher_z_interval, permutation_pvalues
from mprabench.stats.null_family import NullScenario, simulate_scenario_features
from mprabench.stats.orientation import orientation_pairs
from mprabench.stats.pearson import unit_scaled
from mprabench.stats.rng import derive_rng
from tests.support.params import write_params

REJECT, COVER = (0.03, 0.07), (0.93, 0.97)
DATASETS = {"agarwal2025_hepg2_test": "test_HepG2.tsv", "agarwal2025_wtc11_test": "test_WTC11.tsv"}
MIN_STRATUM_ELEMENTS = 10  # a class with fewer elements (WTC11's 3 controls) gets no rate


def rate(hits: np.ndarray) -> tuple[float, float]:
    """Share of True and its binomial Monte-Carlo SE."""
    share = float(np.mean(hits))
    return share, float(np.sqrt(share * (1 - share) / len(hits)))


def null_features(rows: pd.DataFrame, target: str, n: int, scenario: NullScenario, seed: int) -> pd.DataFrame:
    """n null features per distinct input, keyed like features.parquet (design_structure's input order)."""
    structure = design_structure(rows, target)
    values = simulate_scenario_features(structure, scenario, n, np.random.default_rng(seed))
    table = pd.DataFrame(values.T, columns=[f"null_{i:04d}" for i in range(n)])
    table.insert(0, INPUT_SHA256, np.sort(rows[INPUT_SHA256].unique()))
    return table


def element_mean_matrix(rows: pd.DataFrame, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted element ids, features x elements matrix of row means), as stats/clustered.element_means."""
    ids, codes = np.unique(rows[ELEMENT_ID].to_numpy(), return_inverse=True)
    counts = np.bincount(codes, minlength=len(ids))
    sums = np.zeros((values.shape[0], len(ids)))
    np.add.at(sums.T, codes, values.T)
    return ids, sums / counts


def spearman_p(means: np.ndarray, target: np.ndarray, permutations: np.ndarray) -> np.ndarray:
    """Spearman's permutation p per row: Pearson permutation p of the ranks (as stats/leverage.py)."""
    return permutation_pvalues(unit_scaled(stats.rankdata(means, axis=1)), unit_scaled(stats.rankdata(target)),
                               permutations)


def fold_rates(rows: pd.DataFrame, features: pd.DataFrame, names: list[str], target: str, alpha: float,
               level: float, n_permutations: int, seed: int) -> dict[str, tuple[float, float, int]]:
    """Each statistic's rejection rate (or coverage) over the null features, its MC SE and how many."""
    table = rows.merge(features, on=INPUT_SHA256, how="left", validate="many_to_one")
    values = table[names].to_numpy(float).T  # features x rows
    y = table[target].to_numpy(float)
    ids, means = element_mean_matrix(table, values)
    _, target_means = element_mean_matrix(table, y[None, :])
    target_means = target_means[0]
    e = len(ids)
    permutations = element_permutations(e, n_permutations, derive_rng(seed, "check_null_dataset"))
    zx, zy = unit_scaled(means), unit_scaled(target_means)
    out: dict[str, tuple[float, float, int]] = {}
    out["element_p rejects"] = (*rate(permutation_pvalues(zx, zy, permutations) <= alpha), len(names))
    low, high = fisher_z_interval(zx @ zy, e, level)
    out["element r CI covers 0"] = (*rate((low <= 0) & (high >= 0)), len(names))
    out["element_spearman_p (verdict) rejects"] = (*rate(spearman_p(means, target_means, permutations) <= alpha),
                                                   len(names))
    pairs = orientation_pairs(table)
    if pairs is not None and len(pairs.elements) >= MIN_STRATUM_ELEMENTS:
        d_model, d_measured = pairs.differences(values), pairs.differences(y)
        n_pairs = len(pairs.elements)
        pair_permutations = element_permutations(n_pairs, n_permutations, derive_rng(seed, "check_null_dataset|pairs"))
        zd, zm = unit_scaled(d_model), unit_scaled(d_measured)
        out[f"orientation_p rejects ({n_pairs:,} pairs)"] = (
            *rate(permutation_pvalues(zd, zm, pair_permutations) <= alpha), len(names))
        low, high = fisher_z_interval(zd @ zm, n_pairs, level)
        out["orientation r CI covers 0"] = (*rate((low <= 0) & (high >= 0)), len(names))
    if ELEMENT_CLASS in table:
        classes = table.groupby(ELEMENT_ID)[ELEMENT_CLASS].first().reindex(ids).to_numpy()
        for label in sorted(pd.unique(classes)):
            mask = classes == label
            if mask.sum() < MIN_STRATUM_ELEMENTS:
                continue
            stratum_permutations = element_permutations(int(mask.sum()), n_permutations,
                                                        derive_rng(seed, f"check_null_dataset|class|{label}"))
            p = spearman_p(means[:, mask], target_means[mask], stratum_permutations)
            out[f"class stratum {label} ({int(mask.sum()):,} elements) rejects"] = (*rate(p <= alpha), len(names))
    return out


def cross_check(rows: pd.DataFrame, features: pd.DataFrame, names: list[str], config, n_permutations: int,
                alpha: float, level: float, seed: int) -> float:
    """Largest |p| difference, over the first features, between this script's p's and evaluate's own."""
    subset = features[[INPUT_SHA256, *names]]
    config.primary_features = names
    config.strata = []
    evaluation = evaluate(evaluation_table(rows, subset, config.target), names, config)
    summary = evaluation.summary()
    table = rows.merge(subset, on=INPUT_SHA256, how="left")
    ids, means = element_mean_matrix(table, table[names].to_numpy(float).T)
    _, target_means = element_mean_matrix(table, table[config.target].to_numpy(float)[None, :])
    mine = permutation_pvalues(unit_scaled(means), unit_scaled(target_means[0]),
                               element_permutations(len(ids), n_permutations, derive_rng(seed, "cross-check")))
    theirs = np.array([summary[f]["element_p"] for f in names], float)
    return float(np.max(np.abs(mine - theirs)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "agarwal2025",
                        help="folder with the fold files (the shipped configs' layout)")
    parser.add_argument("--features", type=int, default=1000)
    parser.add_argument("--permutations", type=int, default=999, help="evaluate.n_permutations for this check")
    parser.add_argument("--null", default="het_0", help="a null of evaluate.calibration.nulls (outlier: none)")
    parser.add_argument("--cross-check", type=int, default=0,
                        help="features also run through evaluate itself (slow: its leave-one-out verdicts "
                             "are a Spearman permutation p per element)")
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, file_name in DATASETS.items():
            if not (args.data / file_name).is_file():
                print(f"{args.data / file_name} not found: {name} not checked")
                continue
            path = write_params(Path(scratch) / f"{name}.yaml", CONF, [
                f"dataset={name}", f"dataset.source={args.data}", "experiment=insert",
                f"evaluate.n_permutations={args.permutations}"])
            params = load_params(path)
            config = params.evaluate
            scenario = next((NullScenario(**asdict(n)) for n in config.calibration.nulls if n.name == args.null), None)
            if scenario is None or scenario.outlier != "none":
                raise SystemExit(f"--null {args.null}: not a null of evaluate.calibration.nulls without an outlier")
            library = read_dataset(params.dataset, args.data)
            rows = build_given_inputs(library.oligos, params.experiment.window).rows
            features = null_features(rows, config.target, args.features, scenario, config.seed)
            names = [c for c in features if c != INPUT_SHA256]
            label = f"{name} ({len(rows):,} rows, {rows[ELEMENT_ID].nunique():,} elements)"
            for measure, (share, se, n) in fold_rates(rows, features, names, config.target, config.alpha,
                                                     config.ci_level, args.permutations, config.seed).items():
                goal = COVER if "covers" in measure else REJECT
                lines.append([label, measure, f"{share:.3f} ± {se:.3f}", n, f"{goal[0]}-{goal[1]}",
                              "yes" if goal[0] <= share <= goal[1] else "NO"])
            if args.cross_check:
                difference = cross_check(rows, features, names[:args.cross_check], config, args.permutations,
                                         config.alpha, config.ci_level, config.seed)
                lines.append([label, f"max |element p - evaluate's| over {args.cross_check} features",
                              f"{difference:.3f}", args.cross_check, "permutation MC error", ""])
    report(f"{args.features:,} null features (null {args.null}) per fold, {args.permutations} permutations, "
           f"rates at alpha 0.05 ± Monte-Carlo SE", ["structure", "measure", "share", "features", "goal", "met"], lines)


if __name__ == "__main__":
    main()
