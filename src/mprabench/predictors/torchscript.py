"""A TorchScript sequence-to-activity model (e.g. an exported MPRA-LegNet or Malinois), batched.

The model maps a one-hot batch, (batch, 4, length) or (batch, length, 4) in the configured
alphabet order, to (batch, outputs) or (batch,). An input of another length than the model's
is centred by the project's one rule (`mprabench.dna.centred_start`): a longer input is cut to
its central `input_length` bases, a shorter one is padded with N on both sides (the left gets
the smaller half), and N is the all-zero one-hot row.

The store keeps every output of the model per strand (forward, and reverse complement when
configured), so choosing other outputs as features costs no forward pass.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataclasses import dataclass

import numpy as np
from omegaconf import MISSING

from mprabench.dna import central_window, pad_with_n, reverse_complement
from mprabench.errors import ConfigError
from mprabench.predictors.base import ModelPredictor, PredictionReport
from mprabench.predictors.features import FeatureError
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
from mprabench.predictors.store import Profile, ProfileStore, TrackProfile
from mprabench.provenance import SOURCE_CHECKPOINT
from mprabench.settings import items, setting
from mprabench.sources.locations import local_path

if TYPE_CHECKING:
    import torch

# torch is imported where the model is loaded or run (predictors/local.py says why).

log = logging.getLogger(__name__)

FORWARD, REVERSE = "FORWARD", "REVERSE_COMPLEMENT"
LENGTH_RULE = "centred: longer inputs cut to the central input_length bases, shorter ones N-padded (dna.py)"


@dataclass
class TorchScriptConfig(LocalRunConfig):
    """A TorchScript sequence-to-activity model (conf/predictor/torchscript.yaml)."""

    name: str = MISSING
    input_length: int = setting(ge=1)  # other lengths are centred: cropped or N-padded (dna.py)
    alphabet: str = MISSING  # the base of each one-hot channel, in order, e.g. ACGT
    channels_first: bool = MISSING  # true: (batch, 4, length); false: (batch, length, 4)
    output_indices: list[int] = items(1)  # which model outputs are features ...
    output_names: list[str] = items(1)  # ... and their feature names (same order)
    reverse_complement: bool = MISSING  # true: each feature is the mean of the forward and reverse-complement outputs


def fit_length(sequence: str, length: int) -> str:
    """`sequence` centred in `length` bases: its central window, or padded with N."""
    return central_window(sequence, length) if len(sequence) >= length else pad_with_n(sequence, length)[0]


class OneHot:
    """One-hot rows in the configured alphabet order; N (or anything else) is all zeros."""

    def __init__(self, alphabet: str):
        if sorted(alphabet.upper()) != sorted("ACGT"):
            raise ConfigError(f"predictor.alphabet = {alphabet!r} must order the four bases A, C, G, T")
        self.table = np.zeros((256, 4), dtype=np.float32)
        for channel, base in enumerate(alphabet.upper()):
            self.table[ord(base), channel] = 1.0

    def encode(self, sequences: list[str]) -> np.ndarray:
        """(batch, length, 4) of equal-length upper-case sequences."""
        raw = np.frombuffer("".join(sequences).encode("ascii"), dtype=np.uint8)
        return self.table[raw].reshape(len(sequences), -1, 4)


class TorchScriptPredictor(ModelPredictor):
    name = "torchscript"
    settings = TorchScriptConfig
    label = "TorchScript model"  # the report adds the file (model_version)
    build_context = ("progress", "store_root")
    local_file_setting = "checkpoint"
    local_file_by_size_and_mtime = True

    @classmethod
    def setting_problems(cls, settings: TorchScriptConfig, params: Any) -> list[str]:
        if len(settings.output_indices) == len(settings.output_names):
            return []
        return [f"`predictor.output_indices` = {settings.output_indices} and `predictor.output_names` = "
                f"{settings.output_names} must have the same length (one name per output)"]

    def __init__(self, config: TorchScriptConfig, progress: bool = True, store_root: Path | None = None):
        problems = self.setting_problems(config, None)
        if problems:
            raise ConfigError("; ".join(problems))
        self.config = config
        self.progress = progress
        self.store_root = store_root
        self.device = resolve_device(config.device)
        self.dtype = resolve_dtype(config.dtype, self.device)
        self.one_hot = OneHot(config.alphabet)
        self.path = local_path(config.checkpoint)
        self.model = self._load()
        self.n_outputs = self._check_outputs()
        self.stats: BatchStats | None = None
        self._sha256: str | None = None

    def _load(self) -> torch.jit.ScriptModule:
        import torch

        if not self.path.is_file():
            raise ConfigError(f"predictor.checkpoint = {self.config.checkpoint!r}: {self.path} does not exist. "
                              "Export the model with torch.jit.script/trace and torch.jit.save, and point here.")
        try:
            model = torch.jit.load(str(self.path), map_location=self.device)
        except (RuntimeError, ValueError) as error:
            raise ConfigError(f"{self.path}: not a TorchScript file (wrong architecture or format): "
                              f"{str(error).splitlines()[0][:300]}. Save the model with torch.jit.save.") from None
        return model.to(self.dtype).eval()

    def _check_outputs(self) -> int:
        """Run one all-N input through the model to learn its outputs, before any real input is read."""
        import torch

        try:
            with torch.inference_mode():
                answer = self.model(self._tensor(["N" * self.config.input_length]))
        except RuntimeError as error:
            raise ConfigError(
                f"{self.path}: the model does not accept a one-hot input of {self.config.input_length} bp "
                f"({'(batch, 4, length)' if self.config.channels_first else '(batch, length, 4)'}): "
                f"{str(error).splitlines()[0][:300]}. Check predictor.input_length and predictor.channels_first."
            ) from None
        n_outputs = _outputs(answer).shape[1]
        beyond = [i for i in self.config.output_indices if not 0 <= i < n_outputs]
        if beyond:
            raise ConfigError(f"predictor.output_indices {beyond}: the model has {n_outputs} output(s) "
                              f"(indices 0..{n_outputs - 1})")
        return n_outputs

    def _tensor(self, sequences: list[str]) -> torch.Tensor:
        import torch

        batch = torch.from_numpy(self.one_hot.encode(sequences)).to(self.device, self.dtype)
        return batch.transpose(1, 2) if self.config.channels_first else batch

    # ------------------------------------------------------------------ the ModelPredictor interface

    def store_key_fields(self) -> dict[str, Any]:
        return {
            "model": "torchscript",
            "source": SOURCE_CHECKPOINT,
            "checkpoint_sha256": self._checkpoint_sha256(),
            "input_length": self.config.input_length,
            "alphabet": self.config.alphabet.upper(),
            "channels_first": self.config.channels_first,
            "strands": self._strands(),
            "padding": LENGTH_RULE,
            "precision": dtype_name(self.dtype),
        }

    def _strands(self) -> list[str]:
        return [FORWARD, REVERSE] if self.config.reverse_complement else [FORWARD]

    def _checkpoint_sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = checkpoint_sha256(self.path, self.store_root or self.path.parent)
        return self._sha256

    def catalogue(self) -> dict[str, list[dict[str, Any]]]:
        """None to choose: the model's outputs are fixed by its checkpoint, already in the store key."""
        return {}

    def request_profiles(self, inputs: Mapping[str, str], store: ProfileStore) -> PredictionReport:
        if not inputs:
            return PredictionReport()
        log.info("TorchScript model %s on %s, %s, batches of %d", self.path, describe_hardware(self.device),
                 dtype_name(self.dtype), self.config.batch_size)
        report, self.stats = predict_in_batches(
            inputs, store, self._predict_batch, group_of=lambda _: self.config.input_length,
            batch_size=self.config.batch_size, label="TorchScript", progress=self.progress, device=self.device,
        )
        return report

    def _predict_batch(self, sequences: list[str]) -> BatchResult:
        fitted = [fit_length(s.upper(), self.config.input_length) for s in sequences]
        strands = {FORWARD: fitted}
        if self.config.reverse_complement:
            strands[REVERSE] = [reverse_complement(s) for s in fitted]
        answers = {strand: _outputs(self.model(self._tensor(batch))).float().cpu().numpy()
                   for strand, batch in strands.items()}
        results: BatchResult = []
        for i, sequence in enumerate(sequences):
            rows = {strand: values[i : i + 1] for strand, values in answers.items()}
            if not all(np.isfinite(row).all() for row in rows.values()):
                results.append(FeatureError("the model returned non-finite outputs"))
                continue
            results.append({strand: TrackProfile(row, self.config.input_length, 0, len(sequence))
                            for strand, row in rows.items()})
        return results

    def headline_feature(self) -> str:
        """Its first named output."""
        return self.config.output_names[0]

    def features(self, profile: Profile) -> dict[str, float]:
        # float64: the stored outputs are float16 where they fit; the mean of strands is exact here
        stacked = np.stack([profile[strand].values[0].astype(np.float64) for strand in self._strands()])
        means = stacked.mean(axis=0)
        return {name: float(means[index]) for name, index in zip(self.config.output_names, self.config.output_indices)}

    def provenance(self, store: ProfileStore) -> dict[str, Any]:
        return {
            "predictor": self.name,
            "store_key": store.full_key,
            "source": SOURCE_CHECKPOINT,
            "model_version": f"{self.path.name} (sha256 {self._checkpoint_sha256()[:12]})",
            "checkpoint": str(self.path),
            "organism": None,
            "biosamples": [],
            "tracks": {},
            "outputs": self.n_outputs,
            "length_rule": LENGTH_RULE,
            "device": describe_hardware(self.device),
            "precision": dtype_name(self.dtype),
            "batch_size": self.stats.batch_size if self.stats else self.config.batch_size,
            "batch_halvings_out_of_memory": self.stats.halvings if self.stats else 0,
        }


def _outputs(answer: Any) -> torch.Tensor:
    """The model's answer as (batch, outputs)."""
    import torch

    if not isinstance(answer, torch.Tensor):
        raise ConfigError(f"the TorchScript model returned {type(answer).__name__}, expected a tensor "
                          "(batch,) or (batch, outputs)")
    return answer.reshape(answer.shape[0], -1)
