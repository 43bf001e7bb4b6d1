"""AlphaGenome from a checkpoint on this machine, in PyTorch (`alphagenome-pt`), batched.

The answer kept in the prediction store and the features computed from it are the API
route's: the same outputs, the tracks of the dataset's biosample chosen by the same code
(`biosample.choose_tracks`: predictor settings, else the experiment's pin, else the dataset's
assay biosample; `biosample.chosen_tracks` checks it against the checkpoint's own track
metadata), the same N padding, the same feature code (`features.output_features`).

The checkpoint is a folder (or a `.safetensors` file inside one) laid out as the official
conversion ships it (README, "Local checkpoints"):

    <name>.safetensors            the weights (e.g. alphagenome_all_folds.safetensors)
    alphagenome_metadata.json     organisms, heads and track counts (or metadata.json)
    alphagenome_metadata_raw.json the track tables (name, ontology_curie, biosample_name, ...)
    config.json                   the architecture; absent = the published architecture

Everything is checked when the predictor is built, before any input is read: a missing
file, another architecture, a head or organism or biosample the checkpoint lacks is a
ConfigError saying what to do. Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import huggingface_hub.constants
import numpy as np
import pandas as pd
from omegaconf import MISSING
from safetensors import safe_open

from mprabench.config import curie_problems
from mprabench.errors import ConfigError
from mprabench.predictors.base import ModelPredictor, PredictionReport
from mprabench.predictors.biosample import BiosampleDefaults, choose_tracks, chosen_tracks
from mprabench.predictors.features import (
    PADDING,
    FeatureError,
    FeatureWindowConfig,
    Placement,
    model_length,
    headline_track_feature,
    output_features,
    own_positions,
    pad_for_model,
)
from mprabench.predictors.local import (
    BatchResult,
    BatchStats,
    LocalRunConfig,
    checkpoint_sha256,
    describe_hardware,
    dtype_name,
    predict_in_batches,
    resolve_device,
    resolve_dtype,
)
from mprabench.predictors.store import Profile, ProfileStore
from mprabench.predictors.tracks import biosamples, track_records
from mprabench.provenance import SOURCE_CHECKPOINT
from mprabench.settings import items
from mprabench.sources.locations import local_path

if TYPE_CHECKING:
    import torch
    from alphagenome_pt import AlphaGenome

# torch and alphagenome-pt are imported where a checkpoint is loaded or run: the local_inputs stage
# resolves the configured predictor on every `dvc exp run` for its settings alone, and importing the two
# costs it about 2 s.

# alphagenome-pt fetches weights from the Hugging Face Hub when a file is absent; this pipeline
# never downloads at run time. Files are checked first; this is the second guard (the hub reads
# the flag at call time; the environment variable covers processes started from here).
huggingface_hub.constants.HF_HUB_OFFLINE = True
os.environ["HF_HUB_OFFLINE"] = "1"

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"  # what `AlphaGenome.save` writes beside the weights
METADATA_FILES = ("alphagenome_metadata.json", "metadata.json")  # the official download's, `AlphaGenome.save`'s
# The conversion names organisms as alphagenome_research does (jax2pt/load.py in alphagenome-pt).
ORGANISM_NAMES = {"HOMO_SAPIENS": "human", "MUS_MUSCULUS": "mouse"}
# precision: what `dtype_policy` the model computes in for each predictor.dtype
# (bfloat16 = the published model's own policy: float32 weights, bfloat16 compute)
_POLICIES = {"float32": "float32", "bfloat16": "deepmind"}  # by dtype_name(predictor dtype)


@dataclass
class AlphaGenomeLocalConfig(LocalRunConfig):
    """AlphaGenome from a checkpoint on disk (conf/predictor/alphagenome_local.yaml)."""

    name: str = MISSING
    # null (both): from experiment.tracks, else from dataset.assay_biosample (predictors/biosample.py)
    organism: str | None = MISSING
    outputs: list[str] = items(1)
    ontology_terms: list[str] | None = items(1)
    # N padding up to the smallest of these that holds the input (the API route's lengths by default)
    supported_lengths: list[int] = items(1)
    features: FeatureWindowConfig = MISSING


@dataclass(frozen=True)
class LocalCheckpoint:
    """The files of one AlphaGenome checkpoint folder, read and checked."""

    directory: Path
    weights: Path
    architecture: dict[str, Any]  # AlphaGenomeConfig keyword arguments without metadata
    architecture_source: str  # config.json, or "published" when the folder has none
    metadata: dict[str, Any]  # organisms, heads, track counts (alphagenome-pt's Metadata)
    track_tables: dict[str, Any]  # organism -> head -> {"records": [...]}


def head_name(output: str) -> str:
    """alphagenome-pt's head for an API output name (DNASE -> dnase, RNA_SEQ -> rna_seq)."""
    return output.lower()


def find_checkpoint(location: str) -> tuple[Path, Path]:
    """(folder, weights file) of `predictor.checkpoint`: a folder with one .safetensors file, or the file."""
    path = local_path(location)
    hint = "See the README, \"Local checkpoints\", for where the weights come from and the layout."
    if not path.exists():
        raise ConfigError(f"predictor.checkpoint = {location!r}: {path} does not exist. {hint}")
    if path.is_file():
        if path.suffix != ".safetensors":
            raise ConfigError(f"predictor.checkpoint = {path}: expected a .safetensors file or a folder. {hint}")
        return path.parent, path
    weights = sorted(path.glob("*.safetensors"))
    if len(weights) != 1:
        found = ", ".join(w.name for w in weights) or "none"
        raise ConfigError(
            f"predictor.checkpoint = {path}: expected one .safetensors weights file in the folder, found {found}. "
            f"Name the file: -S predictor.checkpoint={path}/<weights>.safetensors. {hint}"
        )
    return path, weights[0]


def read_checkpoint(location: str) -> LocalCheckpoint:
    directory, weights = find_checkpoint(location)
    metadata_path = next((directory / name for name in METADATA_FILES if (directory / name).is_file()), None)
    if metadata_path is None:
        raise ConfigError(f"{directory}: no {' or '.join(METADATA_FILES)} (the checkpoint's organisms and heads) "
                          "beside the weights. Download it with the weights (README, \"Local checkpoints\").")
    from alphagenome_pt import DEFAULT_RAW_METADATA_FILENAME

    raw_path = directory / DEFAULT_RAW_METADATA_FILENAME
    if not raw_path.is_file():
        raise ConfigError(f"{directory}: no {DEFAULT_RAW_METADATA_FILENAME} (the track names and biosamples) beside "
                          "the weights; tracks cannot be chosen for a biosample without it (README, \"Local checkpoints\").")
    config_path = directory / CONFIG_FILE
    architecture = _read_json(config_path) if config_path.is_file() else _published_architecture()
    if architecture.get("model_name", "AlphaGenome") != "AlphaGenome":
        raise ConfigError(f"{config_path}: model_name = {architecture.get('model_name')!r}, not an AlphaGenome "
                          "checkpoint (wrong architecture). Point predictor.checkpoint at an AlphaGenome checkpoint.")
    # precision is predictor.dtype's (in the store key as "precision"), not the saved policy's
    architecture = {k: v for k, v in architecture.items() if k not in ("metadata", "model_name", "dtype_policy")}
    tables = _read_json(raw_path).get("organisms")
    if not isinstance(tables, dict):
        raise ConfigError(f"{raw_path}: expected {{\"organisms\": {{<organism>: {{<head>: {{\"records\": [...]}}}}}}}}")
    return LocalCheckpoint(directory, weights, architecture, CONFIG_FILE if config_path.is_file() else "published",
                           _read_json(metadata_path), tables)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path}: unreadable JSON ({error})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return data


def _published_architecture() -> dict[str, Any]:
    """The published AlphaGenome hyperparameters (alphagenome-pt's `deepmind_config`), no metadata."""
    from alphagenome_pt import deepmind_config

    return deepmind_config(metadata={"organisms": [], "heads": {}}).to_dict()


class AlphaGenomeLocalPredictor(ModelPredictor):
    name = "alphagenome_local"
    settings = AlphaGenomeLocalConfig
    label = "AlphaGenome"  # the report adds the checkpoint (model_version)
    build_context = ("progress", "store_root", "biosample")
    local_file_setting = "checkpoint"
    local_file_by_size_and_mtime = True  # multi-GB weights: not hashed on every run

    @classmethod
    def setting_problems(cls, settings: AlphaGenomeLocalConfig, params: Any) -> list[str]:
        terms = [(f"predictor.ontology_terms[{i}]", t) for i, t in enumerate(settings.ontology_terms or [])]
        return [*settings.features.problems(params.experiment.window), *curie_problems(terms)]

    def __init__(self, config: AlphaGenomeLocalConfig, progress: bool = True, store_root: Path | None = None,
                 biosample: BiosampleDefaults | None = None):
        self.config = config
        self.progress = progress
        self.store_root = store_root
        # organism and terms: predictor settings, else the experiment's pin, else the dataset's biosample
        self.choice = choose_tracks(config.organism, config.ontology_terms, biosample)
        self.device = resolve_device(config.device)
        self.dtype = resolve_dtype(config.dtype, self.device)
        self.checkpoint = read_checkpoint(config.checkpoint)
        self.organism_index, self.terms, self.tracks = self._check_outputs()
        self.model = self._load_model()
        self.supported_lengths = self._supported_lengths()
        self.stats: BatchStats | None = None
        self._sha256: str | None = None

    # ------------------------------------------------------------------ checks, before any input

    def _check_outputs(self) -> tuple[int, tuple[str, ...], dict[str, pd.DataFrame]]:
        """The organism's index, the ontology terms and, per output, the chosen biosample's tracks."""
        where = str(self.checkpoint.directory)
        organisms = list(self.checkpoint.metadata.get("organisms", []))
        organism = ORGANISM_NAMES.get(self.choice.organism)
        if organism is None or organism not in organisms:
            origin = "predictor.organism" if self.config.organism else self.choice.origin
            raise ConfigError(f"checkpoint {where} has organisms {organisms}; organism "
                              f"{self.choice.organism!r} ({origin}) is not among them. Choose one of "
                              f"{[k for k, v in ORGANISM_NAMES.items() if v in organisms]}.")
        heads = self.checkpoint.metadata.get("heads", {})
        with safe_open(str(self.checkpoint.weights), framework="pt") as weights:
            weight_heads = {key.split(".")[1] for key in weights.keys() if key.startswith("_heads.")}
        missing = [o for o in self.config.outputs if head_name(o) not in heads or head_name(o) not in weight_heads]
        if missing:
            raise ConfigError(
                f"checkpoint {where} lacks the head(s) for {missing} (its metadata lists {sorted(heads)}, its weights "
                f"hold {sorted(weight_heads)}). Remove them from predictor.outputs or use a checkpoint that has them."
            )
        tables = self.checkpoint.track_tables.get(organism, {})

        def frame_of(output: str) -> pd.DataFrame | None:
            records = (tables.get(head_name(output)) or {}).get("records")
            return pd.DataFrame.from_records(records) if records else None

        frames = {output: frame_of(output) for output in self.config.outputs}
        terms, chosen = chosen_tracks(frames, self.config.outputs, self.choice, f"AlphaGenome checkpoint {where}")
        log.info("AlphaGenome checkpoint tracks: %s %s (%s)", self.choice.organism, ", ".join(terms),
                 self.choice.origin)
        return organisms.index(organism), terms, chosen

    def _load_model(self) -> AlphaGenome:
        """The architecture built from the checkpoint's configuration, its weights loaded by
        alphagenome-pt's own loader; any mismatch is a wrong-architecture ConfigError."""
        from alphagenome_pt import AlphaGenome, AlphaGenomeConfig, load_alphagenome_checkpoint

        where = self.checkpoint.weights
        metadata = json.loads(json.dumps(self.checkpoint.metadata))  # a private copy: heads get `enabled` below
        for head, entry in metadata.get("heads", {}).items():
            entry["enabled"] = head in {head_name(o) for o in self.config.outputs}  # run only what is read
        try:
            model = AlphaGenome(AlphaGenomeConfig(**{**self.checkpoint.architecture, "metadata": metadata,
                                                     "dtype_policy": _POLICIES[dtype_name(self.dtype)]}))
            result = load_alphagenome_checkpoint(model, where, map_location="cpu")
        except (ValueError, TypeError, RuntimeError, KeyError, AssertionError) as error:
            raise ConfigError(
                f"{where}: does not load into the AlphaGenome architecture of {self.checkpoint.architecture_source} "
                f"(wrong architecture): {str(error).splitlines()[0][:300]}"
            ) from None
        if result.missing_keys or result.unexpected_keys:
            raise ConfigError(
                f"{where}: not an AlphaGenome checkpoint for this architecture (wrong architecture): "
                f"{len(result.missing_keys)} missing tensors (e.g. {result.missing_keys[:3]}), "
                f"{len(result.unexpected_keys)} unexpected (e.g. {result.unexpected_keys[:3]})."
            )
        return model.to(self.device).eval()

    def _supported_lengths(self) -> tuple[int, ...]:
        usable = tuple(sorted(length for length in self.config.supported_lengths if length <= self.model.max_seq_len))
        for length in usable:
            try:
                self.model.check_seq_len(length)
            except ValueError as error:
                raise ConfigError(f"predictor.supported_lengths: {length} bp: {error}") from None
        if not usable:
            raise ConfigError(f"predictor.supported_lengths = {self.config.supported_lengths}: none fits the "
                              f"checkpoint's max_seq_len {self.model.max_seq_len}")
        return usable

    # ------------------------------------------------------------------ the ModelPredictor interface

    def store_key_fields(self) -> dict[str, Any]:
        return {
            "model": "alphagenome",
            "source": SOURCE_CHECKPOINT,
            "checkpoint_sha256": self._checkpoint_sha256(),
            "architecture": self.checkpoint.architecture,
            "metadata_sha256": _json_sha256(self.checkpoint.metadata),
            "organism": self.choice.organism,
            "outputs": sorted(self.config.outputs),
            "ontology_terms": sorted(self.terms),
            "padding": PADDING,
            "supported_lengths": list(self.supported_lengths),
            "precision": dtype_name(self.dtype),
        }

    def _checkpoint_sha256(self) -> str:
        if self._sha256 is None:
            root = self.store_root or self.checkpoint.directory
            self._sha256 = checkpoint_sha256(self.checkpoint.weights, root)
        return self._sha256

    def catalogue(self) -> dict[str, list[dict[str, Any]]]:
        """The checkpoint's own tracks for the chosen biosample (no network)."""
        return track_records(self.tracks)

    def request_profiles(self, inputs: Mapping[str, str], store: ProfileStore) -> PredictionReport:
        if not inputs:
            return PredictionReport()
        log.info("AlphaGenome checkpoint %s on %s, %s, batches of %d", self.checkpoint.weights,
                 describe_hardware(self.device), dtype_name(self.dtype), self.config.batch_size)
        report, self.stats = predict_in_batches(
            inputs, store, self._predict_batch, group_of=lambda s: model_length(len(s), self.supported_lengths),
            batch_size=self.config.batch_size, label="AlphaGenome (local)", progress=self.progress, device=self.device,
        )
        return report

    def _predict_batch(self, sequences: list[str]) -> BatchResult:
        import torch

        padded = [pad_for_model(sequence, self.supported_lengths) for sequence in sequences]
        predictions = self.model.predict([p[0] for p in padded], organism_index=self.organism_index)
        columns = {output: torch.as_tensor(rows.index.to_numpy(), device=self.device)
                   for output, rows in self.tracks.items()}
        chosen = {output: _track_values(predictions[head_name(output)], columns[output]) for output in self.tracks}
        results: BatchResult = []
        for i, (_, placement) in enumerate(padded):
            try:
                results.append(self._profile({o: values[i] for o, values in chosen.items()}, placement))
            except FeatureError as error:
                results.append(error)
        return results

    @staticmethod
    def _profile(values: Mapping[str, tuple[np.ndarray, int]], placement: Placement) -> Profile:
        return {output: own_positions(array, resolution, placement, output)
                for output, (array, resolution) in values.items()}

    def headline_feature(self) -> str:
        return headline_track_feature(self.config.outputs)

    def features(self, profile: Profile) -> dict[str, float]:
        return output_features(profile, self.config.outputs, self.config.features)

    def provenance(self, store: ProfileStore) -> dict[str, Any]:
        tracks = store.tracks() or {}
        return {
            "predictor": self.name,
            "store_key": store.full_key,
            "source": SOURCE_CHECKPOINT,
            "model_version": f"(local checkpoint {self.checkpoint.weights.name}, sha256 {self._checkpoint_sha256()[:12]})",
            "checkpoint": str(self.checkpoint.weights),
            "organism": self.choice.organism,
            "tracks_chosen_by": self.choice.origin,
            "biosamples": biosamples(tracks, self.choice.organism),
            "tracks": {output: len(rows) for output, rows in tracks.items()},
            "device": describe_hardware(self.device),
            "precision": dtype_name(self.dtype),
            "batch_size": self.stats.batch_size if self.stats else self.config.batch_size,
            "batch_halvings_out_of_memory": self.stats.halvings if self.stats else 0,
        }


def _track_values(head: Mapping[str, torch.Tensor], columns: torch.Tensor) -> list[tuple[np.ndarray, int]]:
    """Per input, the chosen tracks at the finest resolution the head predicts, as float32 numpy."""
    resolution = min(int(key.removeprefix("predictions_").removesuffix("bp"))
                     for key in head if key.startswith("predictions_") and key.endswith("bp"))
    values = head[f"predictions_{resolution}bp"].index_select(-1, columns).float().cpu().numpy()
    return [(values[i], resolution) for i in range(values.shape[0])]


def _json_sha256(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
