"""The prediction store: keys, compact profiles, features from them, location, claims."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mprabench.predictors.features import FeatureWindowConfig, Placement, own_positions, profile_features
from mprabench.predictors.store import (
    STORE_ENV,
    ProfileStore,
    StoreError,
    TrackProfile,
    decode_profile,
    encode_profile,
    main_worktree,
    resolve_store_root,
    store_key,
)

KEY = {"model": "x", "outputs": ["DNASE"], "organism": "HOMO_SAPIENS"}
SHA = "ab" + "c" * 62


def k562_like_profile(rng: np.random.Generator, length: int = 2_048) -> dict[str, TrackProfile]:
    """Non-negative track values of the default outputs' K562 track counts (1 DNase, 2 CAGE, 2 RNA)."""
    return {output: TrackProfile(rng.gamma(0.5, 2.0, (length, tracks)).astype(np.float32), 1, 0, length)
            for output, tracks in (("DNASE", 1), ("CAGE", 2), ("RNA_SEQ", 2))}


def test_store_key_is_stable_and_order_free():
    assert store_key(KEY) == store_key(dict(reversed(list(KEY.items()))))
    assert store_key(KEY) != store_key({**KEY, "organism": "MUS_MUSCULUS"})


def test_profiles_round_trip_within_float16_rounding_and_stay_small(tmp_path):
    store = ProfileStore(tmp_path, KEY)
    profile = k562_like_profile(np.random.default_rng(0))
    store.put(SHA, profile)
    assert store.has(SHA) and store.stored([SHA, "d" * 64]) == {SHA}
    back = ProfileStore(tmp_path, KEY).get(SHA)
    for output, track in profile.items():
        np.testing.assert_allclose(back[output].values, track.values, rtol=2**-11, atol=2**-24)
        assert np.array_equal(back[output].values, track.values.astype(np.float16).astype(np.float32))
    assert store.profile_path(SHA).stat().st_size <= 64 * 1024


def test_values_beyond_float16_are_kept_as_float32():
    profile = {"RNA_SEQ": TrackProfile(np.array([[1e6], [2.0]], dtype=np.float32), 1, 0, 2)}
    back = decode_profile(encode_profile(profile))
    assert back["RNA_SEQ"].values[0, 0] == 1e6


@pytest.mark.parametrize("resolution", [1, 32, 128])
def test_features_from_a_stored_profile_equal_those_from_the_whole_answer(resolution):
    rng = np.random.default_rng(resolution)
    placement = Placement(offset=7_168, length=2_048, padded_length=16_384)
    answer = rng.random((16_384 // resolution, 3)).astype(np.float32)
    window = FeatureWindowConfig(center_width=200, center_start=None)
    profile = own_positions(answer, resolution, placement, "DNASE")
    first, last = placement.offset // resolution, -(-(placement.offset + placement.length) // resolution)
    lo, hi = (placement.offset + 924) // resolution, -(-(placement.offset + 1_124) // resolution)
    expected = {"dnase_mean": answer[first:last].mean(), "dnase_max": answer[first:last].max(),
                "dnase_center": answer[lo:hi].mean()}
    assert profile_features(profile, window, "dnase") == pytest.approx(expected, rel=1e-6)


def test_unreadable_profile_names_the_file(tmp_path):
    store = ProfileStore(tmp_path, KEY)
    store.profile_path(SHA).parent.mkdir(parents=True)
    store.profile_path(SHA).write_bytes(b"not zstd")
    with pytest.raises(StoreError, match=SHA):
        store.get(SHA)


def test_a_claim_held_by_another_process_is_refused_then_taken_when_it_dies(tmp_path):
    store = ProfileStore(tmp_path, KEY)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from mprabench.predictors.store import ProfileStore\n"
        f"store = ProfileStore(Path({str(tmp_path)!r}), {KEY!r})\n"
        f"with store.claim({SHA!r}, wait=False) as held:\n"
        "    print(held, flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "True"
    with store.claim(SHA, wait=False) as held:
        assert not held
    holder.kill()
    holder.wait()
    with store.claim(SHA, wait=True) as held:
        assert held, "the kernel released the dead holder's lock"


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_default_store_is_under_the_main_worktree_also_from_a_linked_worktree(tmp_path):
    main = tmp_path / "main"
    main.mkdir()
    _git(main, "init", "-q")
    _git(main, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "--allow-empty", "-m", "x")
    _git(main, "worktree", "add", "-q", str(tmp_path / "linked"))
    for repository in (main, tmp_path / "linked"):
        assert main_worktree(repository) == main.resolve()
        root = resolve_store_root(None, Path("prediction_store"), {"DVC_ROOT": str(repository)})
        assert root == main.resolve() / "prediction_store"


def test_config_wins_over_the_environment_which_wins_over_the_default(tmp_path):
    default = Path("prediction_store")
    environ = {"DVC_ROOT": str(tmp_path), STORE_ENV: str(tmp_path / "from_env")}
    assert resolve_store_root(str(tmp_path / "from_config"), default, environ) == tmp_path / "from_config"
    assert resolve_store_root(None, default, environ) == tmp_path / "from_env"
    assert resolve_store_root(None, tmp_path / "absolute", {"DVC_ROOT": str(tmp_path)}) == tmp_path / "absolute"


def test_an_offline_baseline_writes_provenance_and_keeps_no_store(tmp_path):
    import json

    import pandas as pd

    from mprabench.dna import sequence_sha256
    from mprabench.fasta import write_fasta
    from mprabench.stages import predict
    from tests.conftest import write_params

    sequences = ["ACGT" * 100, "GGCC" * 100]
    inputs = {sequence_sha256(s): s for s in sequences}
    write_fasta(tmp_path / "inputs.fa", inputs)
    pd.DataFrame({"row_id": ["a", "b"], "input_sha256": list(inputs)}).to_parquet(tmp_path / "rows.parquet")
    write_params(tmp_path / "params.yaml", ["predictor=gc"])
    predict.main(["--params", str(tmp_path / "params.yaml"), "--inputs", str(tmp_path / "inputs.fa"),
                  "--rows", str(tmp_path / "rows.parquet"), "--store", str(tmp_path / "store"),
                  "--features", str(tmp_path / "features.parquet"), "--metrics", str(tmp_path / "predict.json"),
                  "--provenance", str(tmp_path / "provenance.json"), "--no-progress"])
    provenance = json.loads((tmp_path / "provenance.json").read_text())
    assert provenance == {"predictor": "gc", "store_key": None, "source": "offline baseline", "model_version": None,
                          "organism": None, "biosamples": [], "tracks": {}, "label": "gc baseline (offline)"}
    metrics = json.loads((tmp_path / "predict.json").read_text())
    assert len(metrics) <= 6 and all(isinstance(v, int) for v in metrics.values())
    assert metrics["distinct_inputs"] == 2 and not (tmp_path / "store").exists()
