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
    given = "given"  # a sequence table's insert as given, centred in N up to experiment.window
    reference = "reference"  # an element's own span of the reference genome, on its strand, centred in N


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
    """One GSE84888 counts file. A checksum the deposit does not publish is null; at least one is set."""

    name: str = MISSING
    pool: str = MISSING
    design_grammar: DesignGrammar = MISSING
    sha256: str | None = MISSING
    md5: str | None = None


@dataclass
class DataFile:
    """One file of a dataset, with the checksum(s) its deposit publishes (null: not published)."""

    name: str = MISSING
    sha256: str | None = MISSING
    md5: str | None = MISSING


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
    ontology_term: str | None = MISSING  # e.g. EFO:0001187 (HepG2); null where none exists


@dataclass
class DatasetConfig:
    """The GSE84888 counts layout (`dataset.reader: gse84888_counts`). Every dataset section has name,
    reader, source, remote_suffix, files, http, design and assay_biosample; the rest belongs to its
    reader (DATASET_SCHEMAS below; the readers themselves are in readers/registry.py)."""

    name: str = MISSING
    reader: str = MISSING
    source: str = MISSING
    remote_suffix: str = MISSING
    files: list[CountsFile] = items(1)
    http: HttpConfig = MISSING
    activity: ActivityConfig = MISSING
    design: str | None = MISSING
    motif_length: int = setting(ge=1)
    assay_biosample: AssayBiosampleConfig = MISSING


class ActivityScale(str, enum.Enum):
    """What the activity column holds: a log2 ratio (log2_ratio = value, activity = 2**value) or a ratio."""

    log2 = "log2"
    linear = "linear"


@dataclass
class TableColumns:
    """Which column of the table holds what; null: the table has no such column."""

    id: str | None = MISSING  # null: rows are named `line <n>` (a layout without ids)
    sequence: str = MISSING
    activity: str = MISSING
    element: str | None = MISSING  # null: from id_pattern, else from the coordinates, else the id
    orientation: str | None = MISSING  # null: from id_pattern's `orientation` group, if any
    element_class: str | None = MISSING  # null: from class_patterns on the id
    chrom: str | None = MISSING
    start: str | None = MISSING
    end: str | None = MISSING
    strand: str | None = MISSING


@dataclass
class OrientationValues:
    """Values of the orientation column (or of id_pattern's `orientation` group; "" when it matched nothing)."""

    forward: list[str] = MISSING
    reverse: list[str] = MISSING


@dataclass
class ClassPattern:
    """An element class and the regular expression an id of that class matches (searched, first rule wins)."""

    name: str = MISSING
    pattern: str = MISSING


@dataclass
class SequenceTableConfig:
    """`dataset.reader: sequence_table`: a TSV/CSV (plain or gzipped) of id, sequence and activity."""

    name: str = MISSING
    reader: str = MISSING
    # A folder, base URL or file:// URL holding `files`; or, with `files: []`, the one table itself.
    source: str = MISSING
    remote_suffix: str = MISSING
    files: list[DataFile] = MISSING
    http: HttpConfig = MISSING
    assay_biosample: AssayBiosampleConfig = MISSING
    # A separate library-design file fetched beside the data (GSE84888's V3); null here, where the
    # table holds the sequences. Every dataset section has it: the fetch stage depends on it.
    design: str | None = MISSING
    separator: str | None = MISSING  # null: `,` for *.csv(.gz), tab otherwise
    columns: TableColumns = MISSING
    # Further columns the layout must have although none is read (e.g. `fold`): checked with the
    # mapped ones, so a file of another layout fails naming what it has and what is missing.
    required_columns: list[str] = MISSING
    # A regular expression fully matching every id, with a named group `element` and optionally
    # `orientation`; null: element and orientation come from columns.
    id_pattern: str | None = MISSING
    orientation_values: OrientationValues = MISSING
    class_patterns: list[ClassPattern] = MISSING
    activity_scale: ActivityScale = MISSING
    assembly: str | None = MISSING  # of the coordinate columns, when there are any


@dataclass
class MpraElementConfig:
    """`dataset.reader: mpra_element`: ENCODE/IGVF MPRA element quantifications (BED6+5).

    Sequences come from the reference genome (conf/genome/) by an experiment with
    `inputs: reference`."""

    name: str = MISSING
    reader: str = MISSING
    source: str = MISSING
    remote_suffix: str = MISSING
    files: list[DataFile] = MISSING
    http: HttpConfig = MISSING
    assay_biosample: AssayBiosampleConfig = MISSING
    design: str | None = MISSING  # null: sequences come from the reference genome
    assembly: str = MISSING
    class_patterns: list[ClassPattern] = MISSING


# `dataset.reader` -> the schema of its dataset section (the reader functions: readers/registry.py)
DATASET_SCHEMAS: dict[str, type] = {
    "gse84888_counts": DatasetConfig,
    "sequence_table": SequenceTableConfig,
    "mpra_element": MpraElementConfig,
}


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
class CalibrationConfig:
    """The `calibrate` stage: null simulations with the dataset's own structure."""

    n_replicates: int = setting(ge=100)
    within_slope_sd: float = setting(ge=0)
    # The report's verdict: calibrated when every type-I rate is within type_i_tolerance of alpha and
    # every coverage within coverage_tolerance of the CI level (PROTOCOL.md "Inference").
    type_i_tolerance: float = setting(gt=0, lt=1)
    coverage_tolerance: float = setting(gt=0, lt=1)


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
    experiment_name: str | None = MISSING  # null: mprabench-<dataset.name> (experiment_name_for)
    local_store: str = MISSING
    experiment_kind: str = MISSING  # MLflow's `mlflow.experimentKind` experiment tag
    max_metrics: int = setting(ge=1)  # metrics per MLflow run, headline first


@dataclass
class Params:
    dataset: Any = MISSING  # typed by the schema of its reader (DATASET_SCHEMAS[dataset.reader])
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
    dataset = _typed_dataset(raw.pop("dataset", None), path)
    try:
        params: Params = OmegaConf.to_object(  # type: ignore[assignment]
            OmegaConf.merge(OmegaConf.structured(Params), raw, {"predictor": {}, "dataset": {}}))
    except OmegaConfBaseException as error:
        raise ConfigError(describe_error(error, path)) from None
    params.predictor = OmegaConf.to_container(predictor)  # type: ignore[assignment]
    params.dataset = dataset
    raise_problems([*range_problems(params, params), *_cross_setting_problems(params)], path)
    return params


def _typed_dataset(section: Any, path: Path) -> Any:
    """The dataset section typed by the schema its `reader` names (an unknown reader is named)."""
    if not isinstance(section, DictConfig) or "reader" not in section:
        raise ConfigError(f"{path}: `dataset.reader` is required (one of {sorted(DATASET_SCHEMAS)})")
    schema = DATASET_SCHEMAS.get(section.reader)
    if schema is None:
        raise ConfigError(f"{path}: unknown dataset.reader {section.reader!r}; choose one of {sorted(DATASET_SCHEMAS)}")
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), section))
    except OmegaConfBaseException as error:
        raise ConfigError(describe_error(error, path, prefix="dataset.")) from None


def experiment_name_for(tracking: TrackingConfig, dataset_name: str) -> str:
    """The MLflow experiment: tracking.experiment_name, or mprabench-<dataset.name> when it is null."""
    return tracking.experiment_name or f"mprabench-{dataset_name}"


def _cross_setting_problems(params: Params) -> Iterator[str]:
    """Checks that relate two settings (ranges of one field are declared on the field)."""
    window, motif = params.experiment.window, getattr(params.dataset, "motif_length", None)
    if motif is not None and window < motif:
        yield f"`experiment.window` = {window} is shorter than the {motif}-bp motif (dataset.motif_length)"
