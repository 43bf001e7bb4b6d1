"""Local input paths resolve against the repository root; their fingerprints follow content, remote ones are empty."""

from __future__ import annotations

import os
from pathlib import Path

from mprabench.config import load_params
from mprabench.local_inputs import (
    counts_fingerprint,
    design_fingerprint,
    genome_fingerprint,
    predictions_fingerprint,
)
from mprabench.predictors.resolve import configured_predictor
from mprabench.sources.locations import local_path
from tests.conftest import write_params


def predictor_file(params, source) -> str | None:
    """The local file the configured predictor declares (what the local_inputs stage fingerprints)."""
    return configured_predictor(params, source).local_file()


def test_relative_paths_resolve_against_dvc_root_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "repo"))
    assert local_path("../shared/x") == tmp_path / "repo" / "../shared/x"
    assert local_path("/abs/x") == Path("/abs/x")
    assert local_path("file:///abs/my%20x") == Path("/abs/my x")
    monkeypatch.delenv("DVC_ROOT")
    assert local_path("x") == tmp_path / "x", "outside DVC: the working directory"


def test_remote_routes_fingerprint_nothing(tmp_path):
    path = write_params(tmp_path / "params.yaml", ["dataset.design=https://example.invalid/d.tsv",
                                                   "dataset.design_sha256=" + "0" * 64])
    params = load_params(path)
    assert params.dataset.source.startswith("https://") and params.genome.fasta is None
    assert predictor_file(params, path) is None, "the default predictor (AlphaGenome) reads no local file"
    fingerprints = [counts_fingerprint(params.dataset), design_fingerprint(params.dataset),
                    genome_fingerprint(params.genome), predictions_fingerprint(None)]
    assert fingerprints == [{}, {}, {}, {}]


def test_fingerprints_change_with_content_and_record_missing_files(tmp_path, tiny_library):
    design, predictions, genome = tmp_path / "design.tsv", tmp_path / "p.csv", tmp_path / "genome.fa"
    overrides = ["predictor=precomputed", f"predictor.path={predictions}", f"dataset.design={design}",
                 f"genome.fasta={genome}"]
    path = write_params(tmp_path / "params.yaml", overrides, dataset=tiny_library.dataset_section()
                        | {"design": str(design)})
    params = load_params(path)
    assert predictor_file(params, path) == str(predictions)
    assert design_fingerprint(params.dataset) == {"missing": True} == predictions_fingerprint(str(predictions))
    assert genome_fingerprint(params.genome) == {"missing": True}

    design.write_text("name\tsequence\na\tACGT\n")
    predictions.write_text("input_sha256,x\nk,1\n")
    tiny_library.genome.write_chromosome_fasta(genome)
    first = [design_fingerprint(params.dataset), predictions_fingerprint(str(predictions)), genome_fingerprint(params.genome),
             counts_fingerprint(params.dataset)]
    assert set(first[3]) == {f["name"] for f in tiny_library.files}
    assert first[3] == {f["name"]: f["sha256"] for f in tiny_library.files}

    design.write_text("name\tsequence\na\tACGA\n")
    predictions.write_text("input_sha256,x\nk,-1\n")
    os.utime(genome, ns=(0, genome.stat().st_mtime_ns + 1))
    counts = tiny_library.counts_dir / tiny_library.files[0]["name"]
    counts.write_text(counts.read_text() + "\n")
    second = [design_fingerprint(params.dataset), predictions_fingerprint(str(predictions)), genome_fingerprint(params.genome),
              counts_fingerprint(params.dataset)]
    assert [a != b for a, b in zip(first, second, strict=True)] == [True, True, True, True]
    assert second[3][tiny_library.files[1]["name"]] == first[3][tiny_library.files[1]["name"]]


def test_a_local_checkpoint_is_fingerprinted_by_size_and_mtime_of_its_files(tmp_path):
    checkpoint = tmp_path / "ckpt"
    path = write_params(tmp_path / "params.yaml", ["predictor=alphagenome_local", f"predictor.checkpoint={checkpoint}"])
    predictor = configured_predictor(load_params(path), path)
    assert predictor.local_file() == str(checkpoint) and predictor.local_file_by_size_and_mtime()

    def fingerprint() -> dict:
        return predictions_fingerprint(predictor.local_file(), predictor.local_file_by_size_and_mtime())

    assert fingerprint() == {"missing": True}
    checkpoint.mkdir()
    (checkpoint / "model.safetensors").write_bytes(b"x" * 10)
    (checkpoint / "config.json").write_text("{}")
    first = fingerprint()
    assert set(first) == {"model.safetensors", "config.json"} and first["model.safetensors"]["size"] == 10
    weights = checkpoint / "model.safetensors"
    os.utime(weights, ns=(0, weights.stat().st_mtime_ns + 1))  # same size, rewritten: the predict stage reruns
    assert fingerprint() != first
