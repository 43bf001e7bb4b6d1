"""The prediction store: keys, compact profiles, features from them, location, claims."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mprabench.predictors.features import FeatureWindowConfig, Placement, own_positions, profile_features
from mprabench.predictors.store import (
    DAMAGED,
    STORE_ENV,
    DamagedRecord,
    ProfileStore,
    RecordError,
    StoreError,
    TrackProfile,
    decode_profile,
    decode_record,
    encode_profile,
    last_catalogue,
    main_worktree,
    resolve_store_root,
    store_key,
)

KEY = {"model": "x", "outputs": ["DNASE"], "organism": "HOMO_SAPIENS"}
SHA = "ab" + "c" * 62
TRACKS = {output: [{"name": f"{output}_K562_{i}", "strand": ".", "ontology_curie": "EFO:0002067"}
                   for i in range(count)] for output, count in (("DNASE", 1), ("CAGE", 2), ("RNA_SEQ", 2))}


def k562_like_profile(rng: np.random.Generator, length: int = 2_048) -> dict[str, TrackProfile]:
    """Non-negative track values of the default outputs' K562 track counts (1 DNase, 2 CAGE, 2 RNA)."""
    return {output: TrackProfile(rng.gamma(0.5, 2.0, (length, tracks)).astype(np.float32), 1, 0, length)
            for output, tracks in (("DNASE", 1), ("CAGE", 2), ("RNA_SEQ", 2))}


def test_store_key_is_stable_and_order_free():
    assert store_key(KEY) == store_key(dict(reversed(list(KEY.items()))))
    assert store_key(KEY) != store_key({**KEY, "organism": "MUS_MUSCULUS"})


def test_profiles_round_trip_within_float16_rounding_and_stay_small(tmp_path):
    store = ProfileStore(tmp_path, KEY, TRACKS)
    profile = k562_like_profile(np.random.default_rng(0))
    store.put(SHA, profile)
    assert store.has(SHA) and store.stored([SHA, "d" * 64]) == {SHA}
    back = ProfileStore(tmp_path, KEY, TRACKS).get(SHA)
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


def test_unreadable_profile_is_moved_aside_and_named(tmp_path):
    store = ProfileStore(tmp_path, KEY, TRACKS)
    store.profile_path(SHA).parent.mkdir(parents=True)
    store.profile_path(SHA).write_bytes(b"not a record")
    with pytest.raises(DamagedRecord, match=SHA) as raised:
        store.get(SHA)
    assert not store.has(SHA), "moved out of the way, so the input is requested again"
    assert raised.value.moved_to is not None and raised.value.moved_to.read_bytes() == b"not a record"
    assert raised.value.moved_to.is_relative_to(store.base / DAMAGED) and len(store.damaged) == 1


def _small_profile() -> dict[str, TrackProfile]:
    rng = np.random.default_rng(3)
    return {output: TrackProfile(rng.gamma(0.5, 2.0, (24, len(rows))).astype(np.float32), 1, 0, 24)
            for output, rows in TRACKS.items()}


def test_flipping_any_byte_of_a_record_never_changes_a_number_silently():
    """Every single-byte change of a record (every offset, three flip patterns) is refused.

    A 512-bp input's record (the issue's audit flipped each byte of a ~4.6 KB record: 2,575 of
    4,592 flips read back without error before records carried a checksum)."""
    record = encode_profile(k562_like_profile(np.random.default_rng(1), length=512), SHA, TRACKS)
    header, original = decode_record(record)
    assert header["input_sha256"] == SHA
    silent = accepted = 0
    for offset in range(len(record)):
        for mask in (0x01, 0x80, 0xFF):
            flipped = bytearray(record)
            flipped[offset] ^= mask
            try:
                _, back = decode_record(bytes(flipped))
            except RecordError:
                continue
            accepted += 1
            silent += any(not np.array_equal(back[o].values, original[o].values) for o in original)
    print(f"{len(record)} bytes x 3 flips: {accepted} accepted, {silent} silent changes")
    assert (accepted, silent) == (0, 0)


def test_truncated_or_extended_records_are_refused():
    record = encode_profile(_small_profile(), SHA, TRACKS)
    for damaged in (record[:-1], record[: len(record) // 2], record + b"\0", b"", record[:10]):
        with pytest.raises(RecordError):
            decode_record(damaged)


def test_a_record_under_another_inputs_name_or_other_tracks_is_refused(tmp_path):
    store = ProfileStore(tmp_path, KEY, TRACKS)
    store.put(SHA, _small_profile())
    other = "d" * 64
    store.profile_path(other).parent.mkdir(parents=True, exist_ok=True)
    store.profile_path(other).write_bytes(store.profile_path(SHA).read_bytes())
    with pytest.raises(DamagedRecord, match=f"holds the answer for input '{SHA}'"):
        store.get(other)
    fewer = {**TRACKS, "CAGE": TRACKS["CAGE"][:1]}
    with pytest.raises(StoreError, match="chosen tracks are 1"):
        ProfileStore(tmp_path, KEY, fewer).put(SHA, _small_profile())


def test_damaged_tracks_json_is_detected_moved_aside_and_restored_from_a_record(tmp_path):
    store = ProfileStore(tmp_path, KEY, TRACKS)
    store.put(SHA, _small_profile())
    tracks_file = store.directory / "tracks.json"
    assert last_catalogue(tmp_path, KEY) == TRACKS
    for damage in (b"\x00garbage{", tracks_file.read_bytes().replace(b"K562_1", b"K562_9")):
        tracks_file.write_bytes(damage)
        found: list = []
        assert last_catalogue(tmp_path, KEY, found) == TRACKS, "restored from the record's own tracks"
        assert len(found) == 1 and not tracks_file.exists() and found[0].moved_to.read_bytes() == damage
        again = ProfileStore(tmp_path, KEY, TRACKS)  # rewrites tracks.json from the tracks in hand
        assert tracks_file.is_file() and again.get(SHA)
    (store.base / "current").unlink()
    assert last_catalogue(tmp_path, KEY) == TRACKS, "the only catalogue folder is the last one"
    ProfileStore(tmp_path, KEY, {"DNASE": TRACKS["DNASE"]})  # a second catalogue, now current
    (store.base / "current").unlink()
    assert last_catalogue(tmp_path, KEY) is None, "two catalogues and no pointer: the service decides"


def test_a_claim_held_by_another_process_is_refused_then_taken_when_it_dies(tmp_path):
    store = ProfileStore(tmp_path, KEY, TRACKS)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from mprabench.predictors.store import ProfileStore\n"
        f"store = ProfileStore(Path({str(tmp_path)!r}), {KEY!r}, {TRACKS!r})\n"
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
                          "organism": None, "biosamples": [], "tracks": {}, "label": "gc baseline (offline)",
                          "headline_feature": "gc_fraction"}
    metrics = json.loads((tmp_path / "predict.json").read_text())
    assert len(metrics) <= 7 and all(isinstance(v, int) for v in metrics.values())
    assert metrics["distinct_inputs"] == 2 and not (tmp_path / "store").exists()
