"""calibrate: type-I rates and CI coverage of every reported statistic under a simulated null.

The null predictions have this dataset's own structure; no predictions are needed."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mprabench.config import EvaluateConfig, load_params  # noqa: E402
from mprabench.files import atomic_path, write_json_atomic  # noqa: E402
from mprabench.headline import null_checks  # noqa: E402
from mprabench.schema import (  # noqa: E402
    CHROM,
    ELEMENT_CLASS,
    ELEMENT_ID,
    INPUT_SHA256,
    ORIENTATION,
    ORIENTATION_NULL,
    ORIENTATION_P,
    ORIENTATION_R_CI,
    STRAND,
    TF_LABELS,
    ZERO_RNA_DROPOUT,
    headline_rows,
    parquet_columns,
    read_rows,
)
from mprabench.stages._cli import run, stage_parser  # noqa: E402
from mprabench.stats.calibration import (  # noqa: E402
    CalibrationResult,
    ScenarioOutcome,
    SimulationSettings,
    calibrate,
    design_structure,
    uniform_quantiles,
)
from mprabench.stats.null_family import NullScenario  # noqa: E402
from mprabench.stats.orientation import (  # noqa: E402
    MIN_ORIENTATION_ELEMENTS,
    orientation_null,
    orientation_pairs,
)
from mprabench.stats.refit_calibration import REFIT_CALIBRATION, REFIT_ELEMENT_P, simulated_pvalues  # noqa: E402
from mprabench.stats.within_element import min_within_inputs  # noqa: E402

log = logging.getLogger("mprabench.calibrate")

ROW_COLUMNS = [ELEMENT_ID, INPUT_SHA256, STRAND, CHROM, TF_LABELS]
OPTIONAL_COLUMNS = [ELEMENT_CLASS, ORIENTATION]  # sequence-table datasets


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--rows", type=Path, required=True, help="benchmark rows (Parquet)")
    parser.add_argument("--calibration", type=Path, required=True, help="type-I rates and coverages (JSON)")
    parser.add_argument("--details", type=Path, required=True,
                        help="every statistic's rate under every null of the family (JSON)")
    parser.add_argument("--qq", type=Path, required=True, help="QQ plot of the null p-values (PNG)")
    parser.add_argument("--training", type=Path, default=None,
                        help="predict's training.json: a trained baseline's simulated refit null (absent: none)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    config = params.evaluate

    rows = read_headline_rows(args.rows, config.target)
    result = calibrate(design_structure(rows, config.target), simulation_settings(config), null_checks())
    add_orientation_null(result, rows, config)
    if args.training is not None:
        add_refit_null(result, read_training(args.training), config.alpha)
    for key, reason in result.not_estimable.items():
        log.info("calibrate: %s not simulated: %s", key, reason)
    write_json_atomic(args.calibration, result.to_dict(params.experiment.name))
    write_json_atomic(args.details, result.details_dict(params.experiment.name))
    write_qq_figure(result, args.qq, config.dpi)


def read_headline_rows(path: Path, target: str) -> pd.DataFrame:
    """The rows evaluate's headline rests on (zero-RNA dropouts excluded, as in evaluate)."""
    available = parquet_columns(path)
    optional = [c for c in OPTIONAL_COLUMNS if c in available]
    rows = headline_rows(read_rows(path, [*ROW_COLUMNS, target, ZERO_RNA_DROPOUT, *optional]))
    return rows[[*ROW_COLUMNS, *optional, target]]


def add_orientation_null(result: CalibrationResult, rows: pd.DataFrame, config: EvaluateConfig) -> None:
    """The orientation analysis's null on this dataset's paired elements (none without orientations)."""
    pairs = orientation_pairs(rows)
    if pairs is None:
        return
    if len(pairs.elements) < MIN_ORIENTATION_ELEMENTS:
        result.not_estimable[ORIENTATION_P] = f"{len(pairs.elements)} elements measured in both orientations"
        return
    d_measured = pairs.differences(rows[config.target].to_numpy(float))
    p, covered = orientation_null(d_measured, config.calibration.n_replicates, config.calibration.n_permutations,
                                  config.ci_level, config.seed, normal_above=config.permutation_normal_above_elements)
    # Its own null (random orientation shifts on the paired elements), beside the family's: the worst case
    # of orientation_p / orientation_r_ci names it.
    result.outcomes[ORIENTATION_NULL] = ScenarioOutcome({ORIENTATION_P: p <= config.alpha}, {ORIENTATION_R_CI: covered},
                                                        {ORIENTATION_P: p}, {})


def read_training(path: Path) -> dict:
    """training.json's per-feature statistics; a missing file is an error (dvc passes predict's output)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training statistics; run the predict stage first (`dvc repro predict`)")
    return json.loads(path.read_text()).get("features", {})


def add_refit_null(result: CalibrationResult, training: dict, alpha: float) -> None:
    """A trained baseline's refit-null p under the nulls predict simulated it in (training.json
    features.<f>.refit_calibration; stats/refit_calibration.py); nothing for an untrained predictor."""
    records = {feature: stats[REFIT_CALIBRATION] for feature, stats in training.items()
               if isinstance(stats, dict) and isinstance(stats.get(REFIT_CALIBRATION), dict)}
    for feature, record in records.items():
        pvalues = simulated_pvalues(record)
        if not pvalues:
            result.not_estimable[REFIT_ELEMENT_P] = f"{feature}: {record.get('reason')}"
        for null, p in pvalues.items():
            name = null if len(records) == 1 else f"{null}|{feature}"
            result.outcomes[name] = ScenarioOutcome({REFIT_ELEMENT_P: p <= alpha}, {}, {REFIT_ELEMENT_P: p}, {})


def usable_cpus() -> int:
    """The CPUs this process may run on (macOS has no sched_getaffinity: all of them)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def simulation_settings(config: EvaluateConfig) -> SimulationSettings:
    return SimulationSettings(
        n_replicates=config.calibration.n_replicates, n_permutations=config.calibration.n_permutations, alpha=config.alpha,
        ci_level=config.ci_level, nulls=tuple(NullScenario(**asdict(n)) for n in config.calibration.nulls),
        min_elements_ci=config.min_elements_ci, n_primary_features=bonferroni_family_size(config), seed=config.seed,
        min_within_inputs=min_within_inputs(config.min_unique_inputs),
        normal_above_elements=config.permutation_normal_above_elements, workers=usable_cpus(),
    )


def bonferroni_family_size(config: EvaluateConfig) -> int:
    """The listed primary features; with `null` (every feature the predictor makes, unknown before
    predict, which calibrate does not depend on) a family of 1: the flag's largest possible rate."""
    if config.primary_features is None:
        log.info("calibrate: evaluate.primary_features is null (every feature), so the Bonferroni flag "
                 "is simulated for a family of 1, an upper bound on its rate")
        return 1
    return len(config.primary_features)


def write_qq_figure(result: CalibrationResult, path: Path, dpi: int) -> None:
    """-log10 observed vs expected p of every reported test, in the null where it was worst (diagonal = calibrated)."""
    fig, ax = plt.subplots(figsize=(5.0, 4.6))
    top = 0.0
    worst = result.worst_tests()
    for key, p in result.worst_pvalues().items():
        expected = -np.log10(uniform_quantiles(len(p)))
        observed = -np.log10(np.sort(p))
        ax.plot(expected, observed, ".", ms=3, label=f"{key} ({worst[key].null})")
        top = max(top, expected.max(), observed.max())
    ax.plot([0, top], [0, top], color="0.4", lw=0.8, ls="--")
    ax.set_xlabel("expected −log10 p (uniform)")
    ax.set_ylabel("observed −log10 p")
    ax.set_title(f"Null p-values in each test's worst null of {len(result.outcomes)}, "
                 f"{result.settings.n_replicates:,} replicates each\n"
                 f"{result.structure.n_rows:,} rows, {result.structure.n_inputs:,} inputs, "
                 f"{result.structure.n_elements} elements", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        fig.savefig(temporary, dpi=dpi, format="png")
    plt.close(fig)


if __name__ == "__main__":
    run(main)
