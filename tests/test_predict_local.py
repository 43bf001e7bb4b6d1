"""Local checkpoints: AlphaGenome in PyTorch (alphagenome-pt) and TorchScript activity models.

The tests build their own tiny models (tests/support/local_models.py), save them as
checkpoints and load them back through the predictors' real loading code. Forward passes
are counted on the loaded model itself (a forward hook, or the TorchScript model's own
call counter), as the API tests count requests on their server.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from alphagenome.data import track_data
from alphagenome.models import dna_output

from mprabench.config import load_params
from mprabench.dna import central_window, reverse_complement, sequence_sha256
from mprabench.errors import ConfigError
from mprabench.fasta import write_fasta
from mprabench.predictors.alphagenome import AlphaGenomeConfig, AlphaGenomePredictor
from mprabench.predictors.alphagenome_local import AlphaGenomeLocalConfig, AlphaGenomeLocalPredictor
from mprabench.predictors.base import PredictionInterrupted
from mprabench.predictors.biosample import BiosampleDefaults
from mprabench.predictors.features import pad_for_model
from mprabench.predictors.local import CHECKPOINT_HASHES, resolve_device, resolve_dtype
from mprabench.predictors.runner import run_predictor
from mprabench.predictors.store import STORE_ENV
from mprabench.predictors.torchscript import TorchScriptConfig, TorchScriptPredictor, fit_length
from mprabench.stages import predict
from tests.conftest import REPO, write_params
from tests.test_biosample_tracks import human_biosample
from tests.support.local_models import HEPG2, K562, TRACK_TERMS, save_tiny_alphagenome, save_tiny_torchscript
from tests.support.params import typed_predictor_settings

LENGTHS = [2048, 16384]  # the tiny model's lengths: short inputs keep the tests fast


def random_sequences(count: int, length: int, seed: int = 0) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    sequences = ["".join(rng.choice(list("ACGT"), length)) for _ in range(count)]
    return {sequence_sha256(s): s for s in sequences}


def predictor_settings(schema: type, option: str, **values):
    """The typed `predictor` section of conf/predictor/<option>.yaml (its one home), `values` replacing fields."""
    return typed_predictor_settings(schema, REPO / "conf", option, **values)


def local_config(checkpoint: Path, **values) -> AlphaGenomeLocalConfig:
    """The conf's settings; K562 named explicitly (the conf takes the biosample from the experiment or dataset)."""
    return predictor_settings(AlphaGenomeLocalConfig, "alphagenome_local", checkpoint=str(checkpoint),
                              **{"supported_lengths": LENGTHS, "organism": "HOMO_SAPIENS", "ontology_terms": [K562],
                                 **values})


def torchscript_config(checkpoint: Path, **values) -> TorchScriptConfig:
    values = {"input_length": 40, "output_indices": [0, 1], "output_names": ["act0", "act1"], "batch_size": 4,
              **values}
    return predictor_settings(TorchScriptConfig, "torchscript", checkpoint=str(checkpoint), **values)


class ForwardCounter:
    """Counts forward calls of a loaded nn.Module."""

    def __init__(self, model: torch.nn.Module):
        self.calls = 0
        model.register_forward_hook(lambda *_: self._count())

    def _count(self) -> None:
        self.calls += 1


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return save_tiny_alphagenome(tmp_path_factory.mktemp("checkpoint") / "tiny")


@pytest.fixture(autouse=True)
def _no_user_store(monkeypatch):
    monkeypatch.delenv(STORE_ENV, raising=False)


# ---------------------------------------------------------------------------- AlphaGenome (local)


def test_alphagenome_local_features_are_the_api_routes_on_the_same_tracks(tiny_checkpoint, tmp_path):
    inputs = random_sequences(3, 1_800)
    predictor = AlphaGenomeLocalPredictor(local_config(tiny_checkpoint), progress=False, store_root=tmp_path)
    run = run_predictor(predictor, "alphagenome_local", inputs, tmp_path)
    assert run.report.requested == 3 and not run.report.failures

    # The checkpoint's own K562 columns, from the model directly, handed to the API route as the
    # SDK's Output: its own profile and feature code must give the local route's features.
    # the API route's settings with the same tracks named explicitly (its conf takes them from the experiment)
    api = AlphaGenomePredictor(predictor_settings(AlphaGenomeConfig, "alphagenome", organism="HOMO_SAPIENS",
                                                  ontology_terms=[K562]))
    k562 = [i for i, term in enumerate(TRACK_TERMS["human"]) if term == K562]
    heads = {"DNASE": "dnase", "CAGE": "cage", "RNA_SEQ": "rna_seq"}
    for sha, sequence in inputs.items():
        padded, placement = pad_for_model(sequence, LENGTHS)
        answer = predictor.model.predict([padded], organism_index=0)
        tracks = {head: track_data.TrackData(
            values=answer[head]["predictions_1bp"][0, :, k562].float().numpy(), resolution=1,
            metadata=pd.DataFrame({"name": [f"K562 {i}" for i in k562], "strand": ["."] * len(k562)}))
            for head in heads.values()}
        chosen = {output: [{"name": f"K562 {i}", "strand": "."} for i in k562] for output in heads}
        expected = api.features(api._profile(dna_output.Output(**tracks), placement, chosen))
        got = run.features.loc[sha].to_dict()
        assert got.keys() == expected.keys()
        # both go through the store's float16 in the pipeline; here only the local route did
        assert np.allclose(list(got.values()), list(expected.values()), rtol=2e-3)
    assert run.provenance["biosamples"] == [{"ontology_term": K562, "biosample_name": "K562",
                                             "biosample_type": "cell_line", "organism": "HOMO_SAPIENS"}]
    assert run.provenance["tracks"] == {"DNASE": 2, "CAGE": 2, "RNA_SEQ": 2}


def test_a_rerun_and_a_new_feature_window_cost_no_forward_pass(tiny_checkpoint, tmp_path):
    inputs = random_sequences(3, 1_500, seed=1)
    first = AlphaGenomeLocalPredictor(local_config(tiny_checkpoint, batch_size=2), progress=False, store_root=tmp_path)
    counter = ForwardCounter(first.model)
    run = run_predictor(first, "alphagenome_local", inputs, tmp_path)
    assert (run.report.requested, counter.calls) == (3, 2)  # batches of 2: two forward passes

    for values in ({}, {"features": {"center_width": 50, "center_start": None}}):
        again = AlphaGenomeLocalPredictor(local_config(tiny_checkpoint, **values), progress=False, store_root=tmp_path)
        counter = ForwardCounter(again.model)
        rerun = run_predictor(again, "alphagenome_local", inputs, tmp_path)
        assert (counter.calls, rerun.report.requested, rerun.served_from_store) == (0, 0, 3)
    assert len(list((tmp_path / CHECKPOINT_HASHES).iterdir())) == 1, "the checkpoint is hashed once, then recorded"


def test_the_store_key_follows_the_checkpoints_bytes_and_the_precision(tmp_path):
    checkpoint = save_tiny_alphagenome(tmp_path / "ckpt", seed=0)
    key = AlphaGenomeLocalPredictor(local_config(checkpoint), progress=False, store_root=tmp_path).store_key_fields()
    save_tiny_alphagenome(tmp_path / "other", seed=1)
    weights = checkpoint / "model.safetensors"
    time.sleep(0.01)  # a new modification time, as any rewrite gives
    weights.write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    changed = AlphaGenomeLocalPredictor(local_config(checkpoint), progress=False, store_root=tmp_path).store_key_fields()
    assert changed["checkpoint_sha256"] != key["checkpoint_sha256"]
    assert {k: v for k, v in changed.items() if k != "checkpoint_sha256"} == \
        {k: v for k, v in key.items() if k != "checkpoint_sha256"}
    bf16 = AlphaGenomeLocalPredictor(local_config(checkpoint, dtype="bfloat16"), progress=False, store_root=tmp_path)
    assert bf16.store_key_fields()["precision"] == "bfloat16" != changed["precision"]


def test_ctrl_c_keeps_every_finished_batch_and_a_rerun_computes_only_the_rest(tiny_checkpoint, tmp_path):
    inputs = random_sequences(6, 1_000, seed=2)
    predictor = AlphaGenomeLocalPredictor(local_config(tiny_checkpoint, batch_size=1), progress=False,
                                          store_root=tmp_path)

    forward_calls = []

    def ctrl_c_at_the_third_batch(*_) -> None:
        # A real Ctrl-C, delivered to the main thread as the third batch starts: two batches are done
        # by then. (A watcher thread polling for stored files raced the tiny model on a loaded machine.)
        forward_calls.append(1)
        if len(forward_calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)

    predictor.model.register_forward_pre_hook(ctrl_c_at_the_third_batch)
    # Python's own Ctrl-C handler, as the predict stage's process has it: in a test worker another test or
    # library may have left a different one (this test once saw no interrupt in a full xdist run).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(PredictionInterrupted, match="Stored: [1-5] of the 6"):
            run_predictor(predictor, "alphagenome_local", inputs, tmp_path)
    except pytest.fail.Exception as error:
        raise AssertionError(f"{error}: {len(forward_calls)} forward passes ran; the SIGINT handler the worker "
                             f"had before this test: {previous!r}") from None
    finally:
        signal.signal(signal.SIGINT, previous)
    stored = len(list(tmp_path.glob("*/*/profiles/*/*.rec")))
    assert 1 <= stored < 6

    resumed = AlphaGenomeLocalPredictor(local_config(tiny_checkpoint, batch_size=1), progress=False,
                                        store_root=tmp_path)
    counter = ForwardCounter(resumed.model)
    run = run_predictor(resumed, "alphagenome_local", inputs, tmp_path)
    assert run.report.requested == counter.calls == 6 - stored
    assert len(run.features) == 6


@pytest.mark.parametrize("terms", [["EFO:9999999"], [K562, "EFO:9999999"]])
def test_a_biosample_the_checkpoint_lacks_is_an_error_naming_the_available_ones(tiny_checkpoint, terms):
    with pytest.raises(ConfigError, match=r"AlphaGenome checkpoint .* has no tracks for HOMO_SAPIENS biosample "
                                          r"EFO:9999999 among outputs .*Closest biosamples it has: .*HepG2"):
        AlphaGenomeLocalPredictor(local_config(tiny_checkpoint, ontology_terms=terms), progress=False)


def _predict_argv(directory: Path) -> list[str]:
    return ["--params", str(directory / "params.yaml"), "--inputs", str(directory / "inputs.fa"),
            "--rows", str(directory / "rows.parquet"), "--store", str(directory / "store"),
            "--features", str(directory / "f.parquet"), "--metrics", str(directory / "m.json"),
            "--provenance", str(directory / "p.json"), "--no-progress"]


def test_a_hepg2_dataset_gets_the_checkpoints_hepg2_tracks_without_being_told(tiny_checkpoint, tmp_path):
    # the conf's own alphagenome_local settings (organism and terms null), no experiment pin, a HepG2 dataset
    inputs = random_sequences(2, 800, seed=11)
    write_fasta(tmp_path / "inputs.fa", inputs)
    pd.DataFrame([(f"r{i}", sha) for i, sha in enumerate(inputs)], columns=["row_id", "input_sha256"]).to_parquet(
        tmp_path / "rows.parquet")
    write_params(tmp_path / "params.yaml", ["predictor=alphagenome_local", f"predictor.checkpoint={tiny_checkpoint}",
                                            f"predictor.supported_lengths={LENGTHS}",
                                            *human_biosample("HepG2", HEPG2)])
    predict.main(_predict_argv(tmp_path))
    provenance = pd.read_json(tmp_path / "p.json", typ="series")
    assert [b["ontology_term"] for b in provenance["biosamples"]] == [HEPG2]
    assert provenance["tracks"] == {"DNASE": 2, "CAGE": 2, "RNA_SEQ": 2}  # the two HepG2 columns of each head
    assert provenance["tracks_chosen_by"].startswith("dataset.assay_biosample")

    # the rows are the checkpoint's HepG2 columns; named by cell line alone (no term) the same ones
    hepg2 = [i for i, term in enumerate(TRACK_TERMS["human"]) if term == HEPG2]
    assay = load_params(tmp_path / "params.yaml").dataset.assay_biosample
    for term in (HEPG2, None):
        unset = local_config(tiny_checkpoint, organism=None, ontology_terms=None)
        defaults = BiosampleDefaults(replace(assay, ontology_term=term), None, "reference", "hepg2")
        predictor = AlphaGenomeLocalPredictor(unset, progress=False, store_root=tmp_path, biosample=defaults)
        assert {o: list(rows.index) for o, rows in predictor.tracks.items()} == {o: hepg2 for o in predictor.tracks}
        assert predictor.store_key_fields()["ontology_terms"] == [HEPG2]


def test_a_dataset_biosample_the_checkpoint_lacks_stops_before_any_input_naming_it(tiny_checkpoint, tmp_path):
    write_params(tmp_path / "params.yaml", ["predictor=alphagenome_local", f"predictor.checkpoint={tiny_checkpoint}",
                                            f"predictor.supported_lengths={LENGTHS}",
                                            *human_biosample("GM12878", "EFO:0002784")])
    # no inputs.fa or rows.parquet exist: the biosample is checked first
    with pytest.raises(ConfigError) as stopped:
        predict.main(_predict_argv(tmp_path))
    message = str(stopped.value)
    assert "has no tracks for HOMO_SAPIENS biosample GM12878 (EFO:0002784)" in message
    assert "Closest biosamples it has: " in message and f"{HEPG2} HepG2" in message and f"{K562} K562" in message
    assert "dataset.assay_biosample of" in message and not (tmp_path / "store").exists()


def _without_raw_metadata(path: Path) -> None:
    (path / "alphagenome_metadata_raw.json").unlink()


def _other_architecture(path: Path) -> None:
    config = path / "config.json"
    config.write_text(config.read_text().replace('"num_channels": 32', '"num_channels": 64'))


def _not_alphagenome_weights(path: Path) -> None:
    from safetensors.torch import save_file

    from tests.support.local_models import TinyActivity

    (path / "model.safetensors").unlink()
    save_file({k: v.contiguous() for k, v in TinyActivity().state_dict().items()}, str(path / "model.safetensors"))


def _two_weight_files(path: Path) -> None:
    (path / "fold_1.safetensors").write_bytes((path / "model.safetensors").read_bytes())


@pytest.mark.parametrize("damage, message", [
    (None, "does not exist"),
    (_without_raw_metadata, "no alphagenome_metadata_raw.json"),
    (_other_architecture, "wrong architecture"),
    (_not_alphagenome_weights, "wrong architecture|lacks the head"),
    (_two_weight_files, "expected one .safetensors weights file"),
])
def test_an_unusable_checkpoint_is_a_clear_error_before_any_input_is_read(tmp_path, damage, message):
    checkpoint = tmp_path / "ckpt"
    if damage is not None:
        save_tiny_alphagenome(checkpoint)
        damage(checkpoint)
    write_params(tmp_path / "params.yaml", ["predictor=alphagenome_local", f"predictor.checkpoint={checkpoint}",
                                            f"predictor.supported_lengths={LENGTHS}"])
    argv = ["--params", str(tmp_path / "params.yaml"), "--inputs", str(tmp_path / "never-read.fa"),
            "--rows", str(tmp_path / "rows.parquet"), "--store", str(tmp_path / "store"),
            "--features", str(tmp_path / "f.parquet"), "--metrics", str(tmp_path / "m.json"), "--no-progress"]
    with pytest.raises(ConfigError, match=message):
        predict.main(argv)  # the inputs file does not exist: the checkpoint is checked first


def test_a_checkpoint_without_a_requested_head_is_refused(tmp_path):
    checkpoint = save_tiny_alphagenome(tmp_path / "dnase-only", outputs=("DNASE",))
    with pytest.raises(ConfigError, match=r"lacks the head\(s\) for \['CAGE', 'RNA_SEQ'\]"):
        AlphaGenomeLocalPredictor(local_config(checkpoint), progress=False)
    only = AlphaGenomeLocalPredictor(local_config(checkpoint, outputs=["DNASE"]), progress=False, store_root=tmp_path)
    assert only.store_key_fields()["outputs"] == ["DNASE"]


def test_device_auto_is_the_cpu_here_and_cuda_without_a_gpu_is_refused():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU is visible"):
            resolve_device("cuda")


# ---------------------------------------------------------------------------- TorchScript


def test_torchscript_features_average_both_strands_of_the_centred_input(tmp_path):
    path = save_tiny_torchscript(tmp_path / "model.pt")
    predictor = TorchScriptPredictor(torchscript_config(path), progress=False, store_root=tmp_path)
    inputs = {**random_sequences(2, 60, seed=3), **random_sequences(2, 25, seed=4)}  # longer and shorter than 40
    run = run_predictor(predictor, "torchscript", inputs, tmp_path)
    assert run.report.requested == 4 and list(run.features.columns) == ["act0", "act1"]

    model = torch.jit.load(str(path))
    table = {"A": 0, "C": 1, "G": 2, "T": 3}

    def one_hot(sequence: str) -> torch.Tensor:
        x = torch.zeros(1, 4, len(sequence))
        for position, base in enumerate(sequence):
            if base in table:
                x[0, table[base], position] = 1.0
        return x

    for sha, sequence in inputs.items():
        fitted = central_window(sequence, 40) if len(sequence) > 40 else "N" * ((40 - len(sequence)) // 2) + \
            sequence + "N" * (40 - len(sequence) - (40 - len(sequence)) // 2)
        assert fit_length(sequence, 40) == fitted
        with torch.inference_mode():
            expected = (model(one_hot(fitted)) + model(one_hot(reverse_complement(fitted)))).numpy()[0] / 2
        assert np.allclose(run.features.loc[sha].to_numpy(), expected, rtol=2e-3, atol=1e-3)


def test_torchscript_rerun_and_other_outputs_cost_no_forward_pass(tmp_path):
    path = save_tiny_torchscript(tmp_path / "model.pt")
    inputs = random_sequences(5, 40, seed=5)
    first = TorchScriptPredictor(torchscript_config(path), progress=False, store_root=tmp_path)
    calls_at_load = int(first.model.calls)  # the output check before any input
    run_predictor(first, "torchscript", inputs, tmp_path)
    assert int(first.model.calls) - calls_at_load == 2 * 2  # two batches (4 + 1), two strands each

    other = TorchScriptPredictor(torchscript_config(path, output_indices=[1], output_names=["only1"]),
                                 progress=False, store_root=tmp_path)
    calls_at_load = int(other.model.calls)
    run = run_predictor(other, "torchscript", inputs, tmp_path)
    assert int(other.model.calls) == calls_at_load and run.report.requested == 0
    assert list(run.features.columns) == ["only1"]


def test_out_of_memory_on_a_batch_halves_it_says_so_and_goes_on(tmp_path, caplog):
    path = save_tiny_torchscript(tmp_path / "model.pt", oom_above=2)  # a batch over 2 inputs exhausts memory
    inputs = random_sequences(7, 40, seed=6)
    predictor = TorchScriptPredictor(torchscript_config(path, batch_size=8, reverse_complement=False),
                                     progress=False, store_root=tmp_path)
    with caplog.at_level(logging.WARNING):
        run = run_predictor(predictor, "torchscript", inputs, tmp_path)
    assert run.report.requested == 7 and len(run.features) == 7 and not run.report.failures
    halvings = [r.getMessage() for r in caplog.records if "out of memory" in r.getMessage()]
    assert halvings == ["out of memory on cpu with a batch of 7 inputs: halving the batch to 3 and going on",
                        "out of memory on cpu with a batch of 3 inputs: halving the batch to 1 and going on"]
    assert run.provenance["batch_size"] == 1 and run.provenance["batch_halvings_out_of_memory"] == 2


@pytest.mark.parametrize("values, message", [
    ({"checkpoint": "missing.pt"}, "does not exist"),
    ({"channels_first": False}, "does not accept a one-hot input of 40 bp"),
    ({"output_indices": [0, 5]}, r"output_indices \[5\]: the model has 2 output"),
    ({"alphabet": "ACGU"}, "must order the four bases"),
])
def test_an_unusable_torchscript_model_is_a_clear_error(tmp_path, values, message):
    path = save_tiny_torchscript(tmp_path / "model.pt")
    config = torchscript_config(tmp_path / values.pop("checkpoint", "model.pt"), **values)
    with pytest.raises(ConfigError, match=message):
        TorchScriptPredictor(config, progress=False, store_root=tmp_path)


def test_a_file_that_is_not_torchscript_is_refused(tmp_path):
    bogus = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, bogus)
    with pytest.raises(ConfigError, match="not a TorchScript file"):
        TorchScriptPredictor(torchscript_config(bogus), progress=False, store_root=tmp_path)


def test_the_predict_stage_runs_a_torchscript_model_and_a_rerun_computes_nothing(tmp_path):
    path = save_tiny_torchscript(tmp_path / "model.pt")
    inputs = random_sequences(4, 40, seed=7)
    write_fasta(tmp_path / "inputs.fa", inputs)
    pd.DataFrame([(f"r{i}", sha) for i, sha in enumerate(inputs)], columns=["row_id", "input_sha256"]).to_parquet(
        tmp_path / "rows.parquet")
    write_params(tmp_path / "params.yaml", ["predictor=torchscript", f"predictor.checkpoint={path}",
                                            "predictor.input_length=40"])
    argv = ["--params", str(tmp_path / "params.yaml"), "--inputs", str(tmp_path / "inputs.fa"),
            "--rows", str(tmp_path / "rows.parquet"), "--store", str(tmp_path / "store"),
            "--features", str(tmp_path / "f.parquet"), "--metrics", str(tmp_path / "m.json"),
            "--provenance", str(tmp_path / "p.json"), "--no-progress"]
    predict.main(argv)
    assert pd.read_json(tmp_path / "m.json", typ="series")["requested"] == 4
    predict.main(argv)
    metrics = pd.read_json(tmp_path / "m.json", typ="series")
    assert (metrics["requested"], metrics["served_from_store"]) == (0, 4)
    assert list(pd.read_parquet(tmp_path / "f.parquet").columns) == ["input_sha256", "activity"]


# ---------------------------------------------------------------------------- the README's commands


def test_the_readmes_tiny_checkpoint_block_builds_a_checkpoint_the_predictor_runs(tmp_path, monkeypatch):
    readme = (REPO / "docs" / "local-checkpoints.md").read_text()
    block = readme.split("<!-- tiny-checkpoint:", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "docs/local-checkpoints.md (tiny checkpoint)", "exec"), {})  # noqa: S102 - the README's own code
    predictor = AlphaGenomeLocalPredictor(local_config(tmp_path / "tiny-checkpoint"), progress=False,
                                          store_root=tmp_path)
    run = run_predictor(predictor, "alphagenome_local", random_sequences(1, 500, seed=8), tmp_path)
    assert run.report.requested == 1 and run.provenance["tracks"] == {"DNASE": 1, "CAGE": 1, "RNA_SEQ": 1}


def test_provenance_names_a_local_checkpoint_run_by_its_model_and_checkpoint(tiny_checkpoint, tmp_path):
    predictor = AlphaGenomeLocalPredictor(local_config(tiny_checkpoint), progress=False, store_root=tmp_path)
    run = run_predictor(predictor, "alphagenome_local", random_sequences(1, 300, seed=9), tmp_path)
    # what the report and figures name: "<label> <model_version>"
    assert run.provenance["label"] == "AlphaGenome" and run.provenance["source"] == "local checkpoint"
    assert run.provenance["model_version"].startswith("(local checkpoint model.safetensors, sha256 ")
    assert run.provenance["checkpoint"] == str(tiny_checkpoint / "model.safetensors")


def test_kill_9_during_the_predict_stage_then_a_rerun_computes_only_the_unstored_inputs(tiny_checkpoint, tmp_path):
    import subprocess
    import sys

    inputs = random_sequences(6, 1_000, seed=10)
    write_fasta(tmp_path / "inputs.fa", inputs)
    pd.DataFrame([(f"r{i}", sha) for i, sha in enumerate(inputs)], columns=["row_id", "input_sha256"]).to_parquet(
        tmp_path / "rows.parquet")
    write_params(tmp_path / "params.yaml", ["predictor=alphagenome_local", f"predictor.checkpoint={tiny_checkpoint}",
                                            f"predictor.supported_lengths={LENGTHS}", "predictor.batch_size=1"])
    argv = ["--params", str(tmp_path / "params.yaml"), "--inputs", str(tmp_path / "inputs.fa"),
            "--rows", str(tmp_path / "rows.parquet"), "--store", str(tmp_path / "store"),
            "--features", str(tmp_path / "f.parquet"), "--metrics", str(tmp_path / "m.json"), "--no-progress"]
    process = subprocess.Popen([sys.executable, "-m", "mprabench.stages.predict", *argv], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stored = lambda: len(list((tmp_path / "store").glob("*/*/profiles/*/*.rec")))  # noqa: E731
    deadline = time.monotonic() + 120
    while stored() < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the stage ended before it could be killed"
    process.kill()  # SIGKILL: no cleanup runs
    process.wait()
    kept = stored()
    assert 2 <= kept < 6

    predict.main(argv)
    metrics = pd.read_json(tmp_path / "m.json", typ="series")
    assert (metrics["requested"], metrics["served_from_store"]) == (6 - kept, kept)
    assert len(pd.read_parquet(tmp_path / "f.parquet")) == 6


def test_the_package_cannot_download_weights_at_run_time():
    from alphagenome_pt import small_alphagenome
    from huggingface_hub import constants

    assert constants.HF_HUB_OFFLINE, "set when the alphagenome_local module loads, whatever was imported first"
    # alphagenome-pt's loader fetches a missing file from the Hub; offline, it refuses instead
    with pytest.raises(Exception, match="cannot find the requested files in the local cache"):
        from alphagenome_pt import load_alphagenome_checkpoint

        load_alphagenome_checkpoint(small_alphagenome(num_channels=32, transformer_layers=1),
                                    "/nonexistent/alphagenome_all_folds.safetensors")


@pytest.mark.parametrize("values, message", [
    ({"organism": "DANIO_RERIO"}, r"has organisms \['human', 'mouse'\]; organism 'DANIO_RERIO' \(predictor.organism\)"),
    ({"supported_lengths": [1_000_000]}, "none fits the checkpoint's max_seq_len 16384"),
    ({"supported_lengths": [3000]}, "3000 bp: Input sequence length must be divisible"),
])
def test_an_organism_or_length_the_checkpoint_cannot_take_is_refused(tiny_checkpoint, values, message):
    with pytest.raises(ConfigError, match=message):
        AlphaGenomeLocalPredictor(local_config(tiny_checkpoint, **values), progress=False)


def test_mouse_tracks_come_from_the_mouse_table(tiny_checkpoint, tmp_path):
    predictor = AlphaGenomeLocalPredictor(
        local_config(tiny_checkpoint, organism="MUS_MUSCULUS", ontology_terms=["CL:0000136"]), progress=False,
        store_root=tmp_path)
    assert predictor.organism_index == 1
    assert {o: list(rows.index) for o, rows in predictor.tracks.items()} == {o: [0, 1, 3] for o in predictor.tracks}
