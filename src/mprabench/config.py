"""The typed schema of params.yaml and the one loader every stage uses.

`dvc exp run` composes `conf/` with Hydra and writes `params.yaml`; `dvc repro` reads
the committed file as is. Stages never compose: they load `params.yaml` through
`load_params`, which merges it into OmegaConf structured configs so that an unknown
key, a wrong type or a missing mandatory value (`???`) fails before any work starts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from mprabench.errors import ConfigError


class InputMode(str, enum.Enum):
    """How model inputs are built from the library (PROTOCOL.md, Model inputs)."""

    aggregated = "aggregated"  # V1: one N-padded motif per base element
    individual = "individual"  # V2: one genomic window per oligo (same for all oligos of an element)
    designed = "designed"  # V3: each oligo's designed sequence inside its genomic window


class ActivityMethod(str, enum.Enum):
    raw_log2_ratio = "raw_log2_ratio"  # the original analysis, every row kept
    cpm_log2_ratio = "cpm_log2_ratio"  # depth-normalised per library, with barcode/plasmid filters


class DesignGrammar(str, enum.Enum):
    """The `design` part of an oligo name differs between pools (PROTOCOL.md, grammar)."""

    site_replacement = "site_replacement"  # Pool6: {site_tf}_{from}_{to}_{replacement_tf} | wt
    pair_spacing = "pair_spacing"  # Pool7: {tf1}_{tf2}_{spacing}_{replicate} | absent


class ElementTest(str, enum.Enum):
    permutation = "permutation"
    mixedlm = "mixedlm"


@dataclass
class HttpConfig:
    retries: int = 5
    backoff_s: float = 1.0
    timeout_s: float = 60.0


@dataclass
class CountsFile:
    name: str = MISSING
    pool: str = MISSING
    design_grammar: DesignGrammar = MISSING
    sha256: str = MISSING


@dataclass
class ActivityConfig:
    method: ActivityMethod = ActivityMethod.raw_log2_ratio
    pseudocount: float = 1.0
    min_tags: int = 0
    min_plasmid: int = 0


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
    remote_suffix: str = ""
    files: list[CountsFile] = field(default_factory=list)
    http: HttpConfig = field(default_factory=HttpConfig)
    activity: ActivityConfig = field(default_factory=ActivityConfig)
    design: str | None = None
    assay_biosample: AssayBiosampleConfig = field(default_factory=AssayBiosampleConfig)


@dataclass
class GenomeConfig:
    assembly: str = MISSING
    fasta: str | None = None
    ucsc_api: str = MISSING
    max_n_fraction: float = 0.5
    http: HttpConfig = field(default_factory=HttpConfig)


@dataclass
class ExperimentConfig:
    name: str = MISSING
    inputs: InputMode = MISSING
    window: int = 2048
    seed_strand_bug: bool = False
    description: str = ""


@dataclass
class FeatureWindowConfig:
    center_width: int = 200
    # null: centred on the input; an integer reproduces a fixed start (the original used 900)
    center_start: int | None = None


@dataclass
class AlphaGenomeConfig:
    name: str = "alphagenome"
    address: str | None = None
    insecure: bool = False
    api_key_env: str = "ALPHAGENOME_API_KEY"
    api_key_help: str = MISSING
    model_version: str = "ALL_FOLDS"
    organism: str = "HOMO_SAPIENS"
    outputs: list[str] = field(default_factory=list)
    ontology_terms: list[str] = field(default_factory=list)
    max_workers: int = 1
    timeout_s: float = 300.0
    connect_timeout_s: float = 60.0
    max_retries: int = 5
    initial_backoff_s: float = 2.0
    backoff_multiplier: float = 2.0
    max_backoff_s: float = 60.0
    features: FeatureWindowConfig = field(default_factory=FeatureWindowConfig)


@dataclass
class PrecomputedConfig:
    name: str = "precomputed"
    path: str = MISSING
    features: list[str] | None = None


@dataclass
class GcConfig:
    name: str = "gc"
    width: int = 200


@dataclass
class MotifConfig:
    name: str = "motif"
    jaspar_release: str = MISSING
    matrix_ids: list[str] = field(default_factory=list)
    width: int = 200
    pseudocount: float = 0.5


@dataclass
class KmerConfig:
    name: str = "kmer"
    k: int = 4
    alpha: float = 1.0
    n_folds: int = 5
    seed: int = 0
    target: str = "log2_ratio"


PREDICTOR_SCHEMAS: dict[str, type] = {
    "alphagenome": AlphaGenomeConfig,
    "precomputed": PrecomputedConfig,
    "gc": GcConfig,
    "motif": MotifConfig,
    "kmer": KmerConfig,
}

PredictorConfig = AlphaGenomeConfig | PrecomputedConfig | GcConfig | MotifConfig | KmerConfig


@dataclass
class EvaluateConfig:
    target: str = "log2_ratio"
    primary_features: list[str] = field(default_factory=list)
    alpha: float = 0.05
    n_bootstrap: int = 1000
    ci_level: float = 0.95
    seed: int = 0
    element_test: ElementTest = ElementTest.permutation
    n_permutations: int = 10000
    min_unique_inputs: int = 3
    strata: list[str] = field(default_factory=lambda: ["tf", "strand", "chrom", "element"])
    dpi: int = 150


@dataclass
class TrackingConfig:
    experiment_name: str = MISSING
    local_store: str = "mlflow.db"
    experiment_kind: str = MISSING  # MLflow's `mlflow.experimentKind` experiment tag
    max_metrics: int = MISSING  # metrics per MLflow run, headline first


@dataclass
class Params:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    genome: GenomeConfig = field(default_factory=GenomeConfig)
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    predictor: Any = None  # validated against PREDICTOR_SCHEMAS[predictor.name]
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


def load_params(path: str | Path) -> Params:
    """Load and validate the whole params file; any problem is a ConfigError naming the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: not found. Run from the repository root (where dvc.yaml is).")
    raw = OmegaConf.load(path)
    if not isinstance(raw, DictConfig):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    predictor = _validate_predictor(raw.get("predictor"), path)
    body = OmegaConf.masked_copy(raw, [k for k in raw.keys() if k != "predictor"])
    try:
        params: Params = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Params), body))  # type: ignore[assignment]
    except OmegaConfBaseException as error:
        raise ConfigError(_describe(error, path)) from None
    params.predictor = predictor
    return params


def _validate_predictor(section: Any, path: Path) -> PredictorConfig:
    if not isinstance(section, DictConfig) or "name" not in section:
        raise ConfigError(f"{path}: `predictor.name` is required (one of {sorted(PREDICTOR_SCHEMAS)})")
    schema = PREDICTOR_SCHEMAS.get(section.name)
    if schema is None:
        raise ConfigError(
            f"{path}: unknown predictor.name {section.name!r}; choose one of {sorted(PREDICTOR_SCHEMAS)}"
        )
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), section))  # type: ignore[return-value]
    except OmegaConfBaseException as error:
        raise ConfigError(_describe(error, path, prefix="predictor.")) from None


def _describe(error: OmegaConfBaseException, path: Path, prefix: str = "") -> str:
    key = prefix + (getattr(error, "full_key", "") or "")
    message = str(error).splitlines()[0]
    if isinstance(error, MissingMandatoryValue):
        return (
            f"{path}: `{key}` must be set (it is ??? in the config). "
            f"Set it in conf/ or on the command line, e.g. `dvc exp run -S {key}=...`."
        )
    return f"{path}: invalid value at `{key}`: {message}"


def to_plain_dict(params: Params) -> dict[str, Any]:
    """params as plain JSON/YAML-ready data (enums as their values)."""
    return OmegaConf.to_container(OmegaConf.structured(params), enum_to_str=True)  # type: ignore[return-value]
