"""The typed schema of params.yaml and the one loader every stage uses.

`dvc exp run` composes `conf/` with Hydra and writes `params.yaml`; `dvc repro` reads
the committed file as is. Stages never compose: they load `params.yaml` through
`load_params`, which merges it into OmegaConf structured configs so that an unknown
key, a wrong type, a missing mandatory value (`???`) or a value outside its range fails
before any work starts.

Every value lives in conf/ only: a schema field has no default (MISSING) and declares its
type and, for numbers, its allowed range (mprabench.settings). The `predictor` section is
left as plain values here: its schema is declared by the predictor class its `_target_`
names, and only the stages that run a predictor type and check it (predictors/resolve.py),
so this module, and every stage that does not run a predictor, knows no predictor.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mprabench.errors import ConfigError
from mprabench.settings import describe_error, items, raise_problems, range_problems, setting


class InputMode(str, enum.Enum):
    """How model inputs are built from the library (PROTOCOL.md, Model inputs)."""

    aggregated = "aggregated"  # V1: one N-padded motif per base element
    individual = "individual"  # V2: one genomic window per oligo (same for all oligos of an element)
    designed = "designed"  # V3: each oligo's designed sequence inside its genomic window


class ActivityMethod(str, enum.Enum):
    raw_log2_ratio = "raw_log2_ratio"  # the original analysis, every row kept
    cpm_log2_ratio = "cpm_log2_ratio"  # depth-normalised per library, with barcode/plasmid filters


class PoolCentre(str, enum.Enum):
    """The per-pool statistic of log2 ratio that states the pool offset and is subtracted to normalise."""

    median = "median"
    mean = "mean"


class DesignGrammar(str, enum.Enum):
    """The `design` part of an oligo name differs between pools (PROTOCOL.md, grammar)."""

    site_replacement = "site_replacement"  # Pool6: {site_tf}_{from}_{to}_{replacement_tf} | wt
    pair_spacing = "pair_spacing"  # Pool7: {tf1}_{tf2}_{spacing}_{replicate} | absent


@dataclass
class HttpConfig:
    retries: int = setting(ge=0)
    backoff_s: float = setting(ge=0)
    timeout_s: float = setting(gt=0)


@dataclass
class CountsFile:
    name: str = MISSING
    pool: str = MISSING
    design_grammar: DesignGrammar = MISSING
    sha256: str = MISSING


@dataclass
class ZeroRnaDropoutConfig:
    """A row with 0 RNA reads but at least min_plasmid plasmid reads and min_tags barcodes is a dropout."""

    exclude: bool = MISSING
    min_plasmid: int = setting(ge=0)
    min_tags: int = setting(ge=0)


@dataclass
class ActivityConfig:
    method: ActivityMethod = MISSING
    pseudocount: float = setting(gt=0)
    min_tags: int = setting(ge=0)
    min_plasmid: int = setting(ge=0)
    zero_rna_dropout: ZeroRnaDropoutConfig = MISSING
    normalise_within_pool: bool = MISSING
    pool_centre: PoolCentre = MISSING


@dataclass
class AssayBiosampleConfig:
    """The biosample the MPRA measured; the report compares it with the predictor's."""

    species: str = MISSING
    organism: str = MISSING
    cell_line: str = MISSING
    cell_type: str = MISSING


@dataclass
class DatasetConfig:
    name: str = MISSING
    source: str = MISSING
    remote_suffix: str = MISSING
    files: list[CountsFile] = items(1)
    http: HttpConfig = MISSING
    activity: ActivityConfig = MISSING
    design: str | None = MISSING
    motif_length: int = setting(ge=1)
    assay_biosample: AssayBiosampleConfig = MISSING


@dataclass
class GenomeConfig:
    assembly: str = MISSING
    fasta: str | None = MISSING
    ucsc_api: str = MISSING
    max_n_fraction: float = setting(ge=0, le=1)
    http: HttpConfig = MISSING


@dataclass
class ExperimentConfig:
    name: str = MISSING
    inputs: InputMode = MISSING
    # even, so the motif sits at the centre; at least the motif (checked in _check_cross_settings)
    window: int = setting(ge=1, even=True)
    seed_strand_bug: bool = MISSING
    description: str = MISSING


@dataclass
class NullConfig:
    """One null of the calibration family (stats/null_family.py says what each field does)."""

    name: str = MISSING
    slope_sd: float = setting(ge=0)            # SD of per-element within-element slopes (mean 0)
    size_linked_slope: float = setting(ge=0)   # SD of extra slopes sorted so the largest elements get the largest
    noise: str = MISSING                       # gaussian | t2
    deviation_noise: float = setting(ge=0, le=1)  # input noise grows with the measured deviation (0: constant)
    size_variance: float = MISSING             # element offset variance ∝ size^this (0: equal)
    outlier: str = MISSING                     # none | largest | smallest: one element's target moved
    outlier_sd: float = setting(ge=0)          # ... to this many SD of the other element means


@dataclass
class CalibrationConfig:
    """The `calibrate` stage: null simulations with the dataset's own structure, over a family of nulls."""

    n_replicates: int = setting(ge=100)
    nulls: list[NullConfig] = items(1)


@dataclass
class EvaluateConfig:
    target: str = MISSING
    # null: every feature the predictor produces is primary; a listed name it lacks is an error
    primary_features: list[str] | None = items(1)
    alpha: float = setting(gt=0, lt=1)
    ci_level: float = setting(gt=0, lt=1)
    seed: int = setting(ge=0)
    n_permutations: int = setting(ge=99)
    min_unique_inputs: int = setting(ge=3)
    min_elements_ci: int = setting(ge=3)
    calibration: CalibrationConfig = MISSING
    strata: list[str] = MISSING
    dpi: int = setting(ge=1)


@dataclass
class TrackingConfig:
    experiment_name: str = MISSING
    local_store: str = MISSING
    experiment_kind: str = MISSING  # MLflow's `mlflow.experimentKind` experiment tag
    max_metrics: int = setting(ge=1)  # metrics per MLflow run, headline first


@dataclass
class Params:
    dataset: DatasetConfig = MISSING
    genome: GenomeConfig = MISSING
    experiment: ExperimentConfig = MISSING
    # plain values; typed by the schema its `_target_` class declares (predictors/resolve.py)
    predictor: dict[str, Any] = MISSING
    evaluate: EvaluateConfig = MISSING
    tracking: TrackingConfig = MISSING


def load_params(path: str | Path) -> Params:
    """Load and validate the params file; any problem is a ConfigError naming the key.

    Types, unknown keys, missing values and every setting's range are checked here, before a
    stage reads a file or makes a request; the `predictor` section only by the stages that
    run a predictor (mprabench.predictors.resolve.configured_predictor).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: not found. Run from the repository root (where dvc.yaml is).")
    raw = OmegaConf.load(path)
    if not isinstance(raw, DictConfig):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    predictor = raw.pop("predictor", None)
    if not isinstance(predictor, DictConfig):
        raise ConfigError(f"{path}: `predictor` must be a section (choose one with `dvc exp run -S predictor=gc`)")
    try:
        params: Params = OmegaConf.to_object(  # type: ignore[assignment]
            OmegaConf.merge(OmegaConf.structured(Params), raw, {"predictor": {}}))
    except OmegaConfBaseException as error:
        raise ConfigError(describe_error(error, path)) from None
    params.predictor = OmegaConf.to_container(predictor)  # type: ignore[assignment]
    raise_problems([*range_problems(params, params), *_cross_setting_problems(params)], path)
    return params


def _cross_setting_problems(params: Params) -> Iterator[str]:
    """Checks that relate two settings (ranges of one field are declared on the field)."""
    window, motif = params.experiment.window, params.dataset.motif_length
    if window < motif:
        yield f"`experiment.window` = {window} is shorter than the {motif}-bp motif (dataset.motif_length)"
