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
import re
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


class InputContext(str, enum.Enum):
    """What surrounds a short insert (V1's motif) in the model input: comparing them is an experiment."""

    genome = "genome"  # the element's reference flanks (needs its coordinates)
    flanks = "flanks"  # fixed left/right sequences from experiment.flanks (e.g. the reporter construct)
    n_pad = "n_pad"  # the insert centred in N, as the original V1


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
    max_bytes: int = setting(ge=1)  # largest response body accepted; a larger one stops the download


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
class SubsetConfig:
    """A sample of the library to try first (null: the whole library): elements drawn at random, or folds."""

    n_elements: int | None = setting(ge=1)
    seed: int = setting(ge=0)
    folds: list[int] | None = items(1)


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
    design_sha256: str | None = MISSING  # of the design file's bytes; a design URL needs this or design_md5
    design_md5: str | None = MISSING
    max_decompressed_bytes: int = setting(ge=1)  # a gzipped counts file may expand to at most this
    max_line_columns: int = setting(ge=2)  # a table line with more fields is an error, not a slow parse
    motif_length: int = setting(ge=1)
    assay_biosample: AssayBiosampleConfig = MISSING
    subset: SubsetConfig = MISSING


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
    fold: str | None = MISSING  # null: no fold column (dataset.subset.folds needs one)


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
class FetchedDatasetConfig:
    """What every plugin dataset layout shares: its files, where they come from, its biosample, a subset."""

    name: str = MISSING
    reader: str = MISSING
    # A folder, base URL or file:// URL holding `files`; or, with `files: []`, the one file itself.
    source: str = MISSING
    remote_suffix: str = MISSING
    files: list[DataFile] = MISSING
    http: HttpConfig = MISSING
    max_decompressed_bytes: int = setting(ge=1)  # a gzipped file may expand to at most this
    assay_biosample: AssayBiosampleConfig = MISSING
    subset: SubsetConfig = MISSING  # a sample to try first (experiments.select_subset)


@dataclass
class SequenceTableConfig(FetchedDatasetConfig):
    """`dataset.reader: sequence_table`: a TSV/CSV (plain or gzipped) of id, sequence and activity."""

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
class MpraElementConfig(FetchedDatasetConfig):
    """`dataset.reader: mpra_element`: ENCODE/IGVF MPRA element quantifications (BED6+5).

    Sequences come from the reference genome (conf/genome/) by an experiment with
    `inputs: reference`."""

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
class TracksConfig:
    """A model predictor's organism and ontology terms, pinned by an experiment."""

    organism: str = MISSING
    ontology_terms: list[str] = items(1)


@dataclass
class FlanksConfig:
    """The sequences either side of the insert for experiment.context=flanks (ACGT; null otherwise)."""

    left: str | None = MISSING
    right: str | None = MISSING


@dataclass
class ExperimentConfig:
    name: str = MISSING
    inputs: InputMode = MISSING
    # even, so the motif sits at the centre; at least the motif (checked in _check_cross_settings)
    window: int = setting(ge=1, even=True)
    seed_strand_bug: bool = MISSING
    description: str = MISSING
    # around a short insert (V1's motif): genome | flanks | n_pad; V2/V3 windows are genomic (genome)
    context: InputContext = MISSING
    flanks: FlanksConfig = MISSING
    # The tracks a model predictor uses for this experiment (v1/v2/v3 pin the original analysis's
    # K562); null: the dataset's assay biosample. An explicit predictor.ontology_terms wins over both.
    tracks: TracksConfig | None = MISSING


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
    # permutations per simulated permutation p (fewer than evaluate's: its size is exact whenever
    # alpha (n_permutations + 1) is an integer, so only the cost changes)
    n_permutations: int = setting(ge=99)
    nulls: list[NullConfig] = items(1)
    # The report's verdict: calibrated when every type-I rate is within type_i_tolerance of alpha and
    # every coverage within coverage_tolerance of the CI level (PROTOCOL.md "Inference").
    type_i_tolerance: float = setting(gt=0, lt=1)
    coverage_tolerance: float = setting(gt=0, lt=1)


@dataclass
class EvaluateConfig:
    target: str = MISSING
    # null: every feature the predictor produces is primary; a listed name it lacks is an error
    primary_features: list[str] | None = items(1)
    # summary.json's shared `headline` block: null = the feature the predictor declares; a name: that primary feature
    headline_feature: str | None = MISSING
    alpha: float = setting(gt=0, lt=1)
    ci_level: float = setting(gt=0, lt=1)
    seed: int = setting(ge=0)
    n_permutations: int = setting(ge=99)
    # above this many elements a permutation p is its normal limit (stats/permutation_normal.py)
    permutation_normal_above_elements: int = setting(ge=5)
    # above this many elements the leave-one-out verdict changers are not computed (n² × permutations work)
    verdict_changers_max_elements: int = setting(ge=0)
    min_unique_inputs: int = setting(ge=3)
    min_elements_ci: int = setting(ge=3)
    calibration: CalibrationConfig = MISSING
    strata: list[str] = MISSING
    dpi: int = setting(ge=1)
    max_figure_features: int = setting(ge=1)  # features drawn in figures: the family first, then others
    roc_points: int = setting(ge=2)  # points of the common false-positive-rate grid of the ROC data (dvc plots)


@dataclass
class TrackingConfig:
    experiment_name: str | None = MISSING  # null: mprabench-<dataset.name> (experiment_name_for)
    local_store: str = MISSING
    experiment_kind: str = MISSING  # MLflow's `mlflow.experimentKind` experiment tag
    max_metrics: int = setting(ge=1)  # metrics per MLflow run, headline first
    required: bool = MISSING  # true: a tracking failure fails the report stage (report.md is written either way)
    request_timeout_s: int = setting(ge=1)  # per HTTP request to a tracking server
    max_retries: int = setting(ge=0)  # per HTTP request to a tracking server
    backoff_factor: int = setting(ge=0)  # seconds; retry k waits backoff_factor * 2**(k-1)


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


_HEX = frozenset("0123456789abcdef")


def _design_checksum_problems(dataset: Any) -> Iterator[str]:
    """A separate design file's checksum (only layouts with one, like GSE84888's, have the settings)."""
    sha256, md5 = getattr(dataset, "design_sha256", None), getattr(dataset, "design_md5", None)
    for key, value, length in (("design_sha256", sha256, 64), ("design_md5", md5, 32)):
        if value is not None and (len(value) != length or not set(value.lower()) <= _HEX):
            yield f"`dataset.{key}` = {value!r} is not {length} hexadecimal digits"
    if sha256 and md5:
        yield "`dataset.design_sha256` and `dataset.design_md5` are both set; give one"
    design = getattr(dataset, "design", None)
    remote = design is not None and design.lower().startswith(("http://", "https://"))
    if remote and not (sha256 or md5):
        yield (f"`dataset.design` = {dataset.design} is a URL without a checksum: set `dataset.design_sha256` "
               "(or `dataset.design_md5`) to the file's checksum (`sha256sum design.tsv`), so a changed or "
               "cut-short download is refused")


def _cross_setting_problems(params: Params) -> Iterator[str]:
    """Checks that relate two settings (ranges of one field are declared on the field)."""
    yield from _design_checksum_problems(params.dataset)
    window, motif = params.experiment.window, getattr(params.dataset, "motif_length", None)
    if motif is not None and window < motif:
        yield f"`experiment.window` = {window} is shorter than the {motif}-bp motif (dataset.motif_length)"
    yield from curie_problems([("dataset.assay_biosample.ontology_term", params.dataset.assay_biosample.ontology_term)]
                              + [(f"experiment.tracks.ontology_terms[{i}]", t) for i, t in
                                 enumerate(params.experiment.tracks.ontology_terms if params.experiment.tracks else [])])
    yield from _context_problems(params.experiment)


# An ontology term as AlphaGenome's track metadata names it: <prefix>:<id>, e.g. EFO:0001187.
CURIE = re.compile(r"[A-Za-z][A-Za-z0-9_]*:[A-Za-z0-9_]+")


def curie_problems(terms: list[tuple[str, str | None]]) -> Iterator[str]:
    """Every (key, term) whose term is not an ontology CURIE (checked before any request is made)."""
    for key, term in terms:
        if term is not None and not CURIE.fullmatch(str(term)):
            yield (f"`{key}` = {term!r} is not an ontology CURIE (<prefix>:<id>, e.g. EFO:0001187 for HepG2); "
                   "set the biosample's term as the service's track metadata names it"
                   + (", or null to look the biosample up by dataset.assay_biosample.cell_line"
                      if key.startswith("dataset.") else ""))


def _context_problems(experiment: ExperimentConfig) -> Iterator[str]:
    """A context the inputs cannot have, or flanks that are not plain ACGT."""
    if experiment.inputs is InputMode.reference and experiment.context is not InputContext.n_pad:
        yield (f"`experiment.context` = {experiment.context.value} is not built for `experiment.inputs` = reference "
               "(each element's own span, centred in N): use context=n_pad")
    if experiment.inputs in (InputMode.individual, InputMode.designed) and experiment.context is not InputContext.genome:
        yield (f"`experiment.context` = {experiment.context.value} does not apply to `experiment.inputs` = "
               f"{experiment.inputs.value}, whose windows are genomic: use context=genome, or inputs=aggregated (V1) "
               "to compare contexts around the motif")
    if experiment.context is not InputContext.flanks:
        return
    for side in ("left", "right"):
        flank = getattr(experiment.flanks, side)
        if flank is None:
            yield (f"`experiment.flanks.{side}` must be set for experiment.context=flanks (the sequence "
                   f"{side} of the insert in the reporter construct, ACGT), e.g. -S experiment.flanks.{side}=ACGT...")
        elif not re.fullmatch(r"[ACGT]*", flank):
            bad = sorted(set(flank) - set("ACGT"))
            yield (f"`experiment.flanks.{side}` has characters other than A, C, G, T: {bad} (use upper-case "
                   "ACGT; an unknown base is no flank)")
