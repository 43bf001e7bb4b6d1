"""The typed schema of params.yaml and the one loader every stage uses.

`dvc exp run` composes `conf/` with Hydra and writes `params.yaml`; `dvc repro` reads
the committed file as is. Stages never compose: they load `params.yaml` through
`load_params`, which merges it into OmegaConf structured configs so that an unknown
key, a wrong type, a missing mandatory value (`???`) or a value outside its range fails
before any work starts.

Every value lives in conf/ only: a schema field has no default (MISSING) and declares its
type and, for numbers, its allowed range (`setting(ge=..., lt=...)`), checked by
`load_params` with a message naming the key, the value and the range. The `predictor`
section is typed by the schema registered for `predictor.name` (predictors/registry.py).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException

from mprabench.errors import ConfigError

T = TypeVar("T")


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


@dataclass(frozen=True)
class Range:
    """The values a numeric setting may take; `at_most_key` names another setting it may not exceed."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    even: bool = False
    at_most_key: str | None = None

    def describe(self) -> str:
        bounds = [f"{op} {bound:g}" for op, bound in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
                  if bound is not None]
        if self.at_most_key:
            bounds.append(f"<= {self.at_most_key}")
        if self.even:
            bounds.append("even")
        return " and ".join(bounds)

    def admits(self, value: float, limit: float | None = None) -> bool:
        return not (
            (self.ge is not None and value < self.ge)
            or (self.gt is not None and value <= self.gt)
            or (self.le is not None and value > self.le)
            or (self.lt is not None and value >= self.lt)
            or (self.even and value % 2 != 0)
            or (limit is not None and value > limit)
        )


def setting(**bounds: Any) -> Any:
    """A field with no default (its value lives in conf/) and the range it must lie in."""
    return field(default=MISSING, metadata={"range": Range(**bounds)})


def items(min_items: int) -> Any:
    """A list field with no default that must hold at least `min_items` entries when set."""
    return field(default=MISSING, metadata={"min_items": min_items})


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
class FeatureWindowConfig:
    center_width: int = setting(ge=1, at_most_key="experiment.window")
    # null: centred on the input; an integer reproduces a fixed start (the original used 900)
    center_start: int | None = setting(ge=0)  # and center_start + center_width <= experiment.window


@dataclass
class AlphaGenomeConfig:
    name: str = MISSING
    address: str | None = MISSING
    insecure: bool = MISSING
    api_key_env: str = MISSING
    api_key_help: str = MISSING
    model_version: str = MISSING
    organism: str = MISSING
    outputs: list[str] = items(1)
    ontology_terms: list[str] = items(1)
    max_workers: int = setting(ge=1)
    timeout_s: float = setting(gt=0)
    connect_timeout_s: float = setting(gt=0)
    max_retries: int = setting(ge=0)
    initial_backoff_s: float = setting(ge=0)
    backoff_multiplier: float = setting(ge=1)
    max_backoff_s: float = setting(ge=0)
    features: FeatureWindowConfig = MISSING
    # null: one store per repository (see predictors/store.py); a path points elsewhere
    store: str | None = MISSING
    # Circuit breaker: stop once this many requests in a row (no success between) failed as
    # unreachable/unavailable/timed out AND that streak has lasted breaker_seconds.
    breaker_failures: int = setting(ge=1)
    breaker_seconds: float = setting(ge=0)
    # RESOURCE_EXHAUSTED (quota) retries per input; they never count toward the breaker.
    max_quota_retries: int = setting(ge=0)


@dataclass
class PrecomputedConfig:
    name: str = MISSING
    path: str = MISSING
    features: list[str] | None = items(1)


@dataclass
class GcConfig:
    name: str = MISSING
    width: int = setting(ge=1, at_most_key="experiment.window")


@dataclass
class MotifConfig:
    name: str = MISSING
    jaspar_release: str = MISSING
    matrix_ids: list[str] = items(1)
    width: int = setting(ge=1, at_most_key="experiment.window")
    pseudocount: float = setting(gt=0)


@dataclass
class KmerConfig:
    name: str = MISSING
    k: int = setting(ge=1)
    alpha: float = setting(ge=0)
    n_folds: int = setting(ge=2)
    seed: int = setting(ge=0)
    target: str = MISSING
    n_permutations: int = setting(ge=99)  # refit null of the whole out-of-fold fit (element-permuted targets)


@dataclass
class NullConfig:
    """One null of the calibration family (stats/null_family.py says what each field does)."""

    name: str = MISSING
    slope_sd: float = setting(ge=0)            # SD of per-element within-element slopes (mean 0)
    size_linked_slope: float = setting(ge=0)   # slope added in proportion to standardised element size
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
    predictor: Any = MISSING  # typed by the registration of predictor.name (predictors/registry.py)
    evaluate: EvaluateConfig = MISSING
    tracking: TrackingConfig = MISSING


def load_params(path: str | Path) -> Params:
    """Load and validate the whole params file; any problem is a ConfigError naming the key.

    Types, unknown keys, missing values and every setting's range are checked here, before a
    stage reads a file or makes a request.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: not found. Run from the repository root (where dvc.yaml is).")
    raw = OmegaConf.load(path)
    if not isinstance(raw, DictConfig):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    predictor = _validate_predictor(raw.get("predictor"), path)
    try:  # `predictor` is typed Any here and replaced by the typed section above
        params: Params = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Params), raw))  # type: ignore[assignment]
    except OmegaConfBaseException as error:
        raise ConfigError(_describe(error, path)) from None
    params.predictor = predictor
    problems = [*_range_problems(params, params), *_cross_setting_problems(params)]
    if problems:
        raise ConfigError(
            f"{path}: " + "; ".join(problems)
            + ". Change the value in conf/ or on the command line (`dvc exp run -S key=value`)."
        )
    return params


def load_section(schema: type[T], values: Mapping[str, Any], key: str) -> T:
    """One typed section (e.g. `dataset.activity` as ActivityConfig) from plain values, range-checked."""
    try:
        typed = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), values))
    except OmegaConfBaseException as error:
        raise ConfigError(_describe(error, "settings", prefix=f"{key}.")) from None
    problems = list(_range_problems(typed, None, prefix=f"{key}."))
    if problems:
        raise ConfigError("; ".join(problems))
    return typed  # type: ignore[return-value]


def _validate_predictor(section: Any, path: Path) -> Any:
    from mprabench.predictors.registry import PREDICTORS  # the registry imports this module

    if not isinstance(section, DictConfig) or "name" not in section:
        raise ConfigError(f"{path}: `predictor.name` is required (one of {sorted(PREDICTORS)})")
    entry = PREDICTORS.get(section.name)
    if entry is None:
        raise ConfigError(f"{path}: unknown predictor.name {section.name!r}; choose one of {sorted(PREDICTORS)}")
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(entry.schema), section))
    except OmegaConfBaseException as error:
        raise ConfigError(_describe(error, path, prefix="predictor.")) from None


def _range_problems(node: Any, params: Params | None, prefix: str = "") -> Iterator[str]:
    """Every field whose value lies outside the range its schema declares, as `key = value (allowed)`."""
    for spec in fields(node):
        key, value = f"{prefix}{spec.name}", getattr(node, spec.name)
        if is_dataclass(value):
            yield from _range_problems(value, params, f"{key}.")
        elif isinstance(value, list):
            if len(value) < spec.metadata.get("min_items", 0):
                yield f"`{key}` = {value} must list at least {spec.metadata['min_items']} entry"
            for index, item in enumerate(value):
                if is_dataclass(item):
                    yield from _range_problems(item, params, f"{key}[{index}].")
        elif "range" in spec.metadata and isinstance(value, int | float) and not isinstance(value, bool):
            allowed: Range = spec.metadata["range"]
            limit = _lookup(params, allowed.at_most_key) if allowed.at_most_key and params else None
            if not allowed.admits(value, limit):
                shown = f" (= {limit})" if limit is not None else ""
                yield f"`{key}` = {value} is out of range: allowed {allowed.describe()}{shown}"


def _cross_setting_problems(params: Params) -> Iterator[str]:
    """Checks that relate two settings (ranges of one field are declared on the field)."""
    window, motif = params.experiment.window, params.dataset.motif_length
    if window < motif:
        yield f"`experiment.window` = {window} is shorter than the {motif}-bp motif (dataset.motif_length)"
    features = getattr(params.predictor, "features", None)
    primary = params.evaluate.primary_features
    if isinstance(features, list) and primary is not None and set(primary) - set(features):
        yield (
            f"`evaluate.primary_features` = {primary} names features that `predictor.features` = {features} "
            "does not produce; list the same names in both (or set evaluate.primary_features to null)"
        )
    if isinstance(features, FeatureWindowConfig) and features.center_start is not None:
        end = features.center_start + features.center_width
        if end > window:
            yield (
                f"`predictor.features.center_start` + `center_width` = {end} runs past the "
                f"{window}-bp input (experiment.window)"
            )


def _lookup(params: Params, key: str) -> Any:
    node: Any = params
    for part in key.split("."):
        node = getattr(node, part)
    return node


def _describe(error: OmegaConfBaseException, source: Path | str, prefix: str = "") -> str:
    key = prefix + (getattr(error, "full_key", "") or "")
    message = str(error).splitlines()[0]
    if isinstance(error, MissingMandatoryValue):
        return (
            f"{source}: `{key}` must be set (it is ??? in the config). "
            f"Set it in conf/ or on the command line, e.g. `dvc exp run -S {key}=...`."
        )
    if isinstance(error, ConfigKeyError):
        schema = getattr(error, "object_type", None)
        known = f"; the settings there are {[f.name for f in fields(schema)]}" if is_dataclass(schema) else ""
        return f"{source}: `{key}` is not a setting (a typo?){known}. Remove or rename it."
    return f"{source}: invalid value at `{key}`: {message}. Fix it in conf/ or with `dvc exp run -S {key}=...`."

