"""Tiny local checkpoints the tests build themselves (no weights can be downloaded here).

- `save_tiny_alphagenome`: a randomly initialised AlphaGenome of the real architecture,
  built with alphagenome-pt's `small_alphagenome`, saved with its own `AlphaGenome.save`
  (config.json, metadata.json, model.safetensors) plus the track table a conversion ships
  (alphagenome_metadata_raw.json), so the predictor loads it through the real loader.
- `save_tiny_torchscript`: a small convolutional sequence-to-activity model, scripted and
  saved with torch.jit.save. It counts its forward calls in a buffer, and above
  `oom_above` inputs per batch it asks the CPU allocator for an impossible block: a real
  allocator out-of-memory error from inside the model's forward.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from alphagenome_pt import DEFAULT_RAW_METADATA_FILENAME, HeadName, small_alphagenome, synthetic_metadata
from torch import nn

K562 = "EFO:0002067"
HEPG2 = "EFO:0001187"
ADIPOCYTE = "CL:0000136"
TRACKS_PER_HEAD = 4
# Per organism, the biosample of each track column (index = the column in the model's answer).
TRACK_TERMS = {
    "human": [HEPG2, K562, HEPG2, K562],
    "mouse": [ADIPOCYTE, ADIPOCYTE, HEPG2, ADIPOCYTE],
}
NAMES = {K562: "K562", HEPG2: "HepG2", ADIPOCYTE: "adipocyte"}
HEADS = {"DNASE": HeadName.DNASE, "CAGE": HeadName.CAGE, "RNA_SEQ": HeadName.RNA_SEQ}


def tiny_alphagenome(outputs: tuple[str, ...] = ("DNASE", "CAGE", "RNA_SEQ"), seed: int = 0, channels: int = 32):
    torch.manual_seed(seed)
    metadata = synthetic_metadata([HEADS[o] for o in outputs], organisms=list(TRACK_TERMS),
                                  num_tracks=TRACKS_PER_HEAD)
    return small_alphagenome(metadata, num_channels=channels, transformer_layers=1, dtype_policy="float32")


def track_table(outputs: tuple[str, ...]) -> dict:
    """The raw track metadata a conversion ships: organism -> head -> records (one per column)."""
    return {"organisms": {
        organism: {
            HEADS[output].value: {"records": [
                {"name": f"{output}/{NAMES[term]}/{i}", "ontology_curie": term, "biosample_name": NAMES[term],
                 "biosample_type": "cell_line", "strand": "."}
                for i, term in enumerate(terms)
            ]}
            for output in outputs
        }
        for organism, terms in TRACK_TERMS.items()
    }}


def save_tiny_alphagenome(directory: Path, outputs: tuple[str, ...] = ("DNASE", "CAGE", "RNA_SEQ"),
                          seed: int = 0, channels: int = 32) -> Path:
    model = tiny_alphagenome(outputs, seed, channels)
    model.save(directory)
    (directory / DEFAULT_RAW_METADATA_FILENAME).write_text(json.dumps(track_table(outputs)))
    return directory


class TinyActivity(nn.Module):
    """(batch, 4, length) one-hot -> (batch, 2): a convolution, pooled; counts its forward calls."""

    def __init__(self, oom_above: int = 0, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv1d(4, 8, kernel_size=5, padding=2)
        self.head = nn.Linear(8, 2)
        self.oom_above = oom_above
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.oom_above > 0 and x.shape[0] > self.oom_above:
            # a real allocation the CPU allocator refuses (2^62 bytes); used, so TorchScript keeps it
            block = torch.empty([1 << 60], dtype=x.dtype, device=x.device)
            x = x + block[0] * 0.0
        return self.head(torch.relu(self.conv(x)).mean(dim=2))


def save_tiny_torchscript(path: Path, oom_above: int = 0, seed: int = 0) -> Path:
    torch.jit.save(torch.jit.script(TinyActivity(oom_above, seed)), str(path))
    return path
