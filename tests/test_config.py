"""conf/ composes into the committed params.yaml, and the typed loaders reject bad params.

load_params types every section but `predictor`; configured_predictor (predictors/resolve.py) types
that one with the schema of the class its `_target_` names. `load_all` below does both, as the
predict stage does.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import typing

import pytest
import yaml
from omegaconf import MISSING, OmegaConf

from mprabench.config import ActivityConfig, InputMode, Params, load_params
from mprabench.errors import ConfigError
from mprabench.predictors.gc import GcConfig
from mprabench.predictors.resolve import ConfiguredPredictor, configured_predictor, predictor_class
from mprabench.settings import Range
from tests.conftest import REPO, compose_config, configured, write_params

EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))
PREDICTORS = sorted(p.stem for p in (REPO / "conf" / "predictor").glob("*.yaml"))


def load_all(path) -> tuple[Params, ConfiguredPredictor]:
    params = load_params(path)
    return params, configured_predictor(params, path)


def test_committed_params_yaml_is_the_composition_of_the_defaults():
    # git's copy (the index), not the working tree: `dvc exp run -S ...` in the workspace rewrites
    # params.yaml, and the suite must pass whatever the user ran before it.
    staged = subprocess.run(["git", "show", ":params.yaml"], cwd=REPO, capture_output=True, text=True, check=True)
    assert yaml.safe_load(staged.stdout) == compose_config(), (
        "conf/ changed: regenerate params.yaml with `make params` and `git add params.yaml`"
    )


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_into_valid_params(tmp_path, experiment):
    composed = compose_config([f"experiment={experiment}"])
    assert composed["experiment"]["name"] == experiment
    if "???" in yaml.safe_dump(composed):
        pytest.skip(f"{experiment} needs a user-supplied value (checked below)")
    params = load_params(write_params(tmp_path / "params.yaml", [f"experiment={experiment}"]))
    assert params.experiment.name == experiment


def test_v1_and_v2_differ_as_the_protocol_says():
    v1, v2 = compose_config(["experiment=v1"]), compose_config(["experiment=v2"])
    assert InputMode(v1["experiment"]["inputs"]) is InputMode.aggregated
    assert InputMode(v2["experiment"]["inputs"]) is InputMode.individual
    assert v1["experiment"]["window"] == v2["experiment"]["window"] == 2048


@pytest.mark.parametrize("predictor", PREDICTORS)
def test_every_predictor_option_composes(predictor):
    assert compose_config([f"predictor={predictor}"])["predictor"]["name"] == predictor


def test_predictor_section_is_typed_by_the_class_its_target_names(tmp_path):
    from mprabench.predictors.alphagenome import AlphaGenomeConfig, AlphaGenomePredictor

    default = load_all(write_params(tmp_path / "p.yaml"))[1]
    assert default.cls is AlphaGenomePredictor and isinstance(default.settings, AlphaGenomeConfig)
    assert isinstance(load_all(write_params(tmp_path / "p.yaml", ["predictor=gc"]))[1].settings, GcConfig)


def test_stages_that_run_no_predictor_load_the_predictor_section_as_plain_values(tmp_path):
    params = load_params(write_params(tmp_path / "p.yaml", ["predictor=gc", "predictor.width=-5"]))
    assert params.predictor["width"] == -5, "checked only where a predictor runs"
    with pytest.raises(ConfigError, match=re.escape("`predictor.width` = -5 is out of range")):
        configured_predictor(params, "p.yaml")


@pytest.mark.parametrize(("target", "words"), [
    (None, "must name a predictor class"),
    ("mprabench.predictors.nope.NopePredictor", "no module 'mprabench.predictors.nope'"),
    ("mprabench.predictors.gc.gc_fraction_central", "is not a predictor class"),
])
def test_a_target_that_names_no_predictor_class_says_how_to_choose_one(target, words):
    with pytest.raises(ConfigError, match=re.escape(words)) as raised:
        predictor_class(target, "p.yaml")
    assert "dvc exp run -S predictor=<name>" in str(raised.value)


def test_unknown_key_fails_naming_it(tmp_path):
    path = write_params(tmp_path / "p.yaml")
    params = yaml.safe_load(path.read_text())
    params["experiment"]["windw"] = 100
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError, match="experiment.windw"):
        load_params(path)


def test_unknown_predictor_key_fails(tmp_path):
    path = write_params(tmp_path / "p.yaml", ["predictor=gc"])
    params = yaml.safe_load(path.read_text())
    params["predictor"]["max_workers"] = 4
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError, match="max_workers"):
        load_all(path)


def test_wrong_type_fails_naming_the_key(tmp_path):
    path = write_params(tmp_path / "p.yaml")
    params = yaml.safe_load(path.read_text())
    params["experiment"]["window"] = "two kb"
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError, match="experiment.window"):
        load_params(path)


def test_bad_enum_value_fails(tmp_path):
    path = write_params(tmp_path / "p.yaml", ["dataset.activity.method=tpm"])
    with pytest.raises(ConfigError, match="dataset.activity.method"):
        load_params(path)


def test_mandatory_value_says_how_to_set_it(tmp_path):
    path = write_params(tmp_path / "p.yaml", ["predictor=precomputed"])
    with pytest.raises(ConfigError, match=r"`predictor.path` must be set .*`dvc exp run -S predictor.path="):
        load_all(path)


def test_every_param_a_stage_declares_exists():
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    params = compose_config()
    for name, stage in pipeline["stages"].items():
        for key in stage.get("params", []):
            node = params
            for part in key.split("."):
                assert part in node, f"stage {name} declares params {key!r}, which params.yaml lacks"
                node = node[part]


def test_no_secret_can_live_in_params():
    text = (REPO / "params.yaml").read_text().lower()
    assert "api_key:" not in text and "api_key=" not in text


# --- one home per value, ranges declared on the schema ---------------------------------------------------------


def _predictor_classes() -> dict[str, type]:
    """Each conf/predictor option's class, as its `_target_` names it."""
    return {name: predictor_class(compose_config([f"predictor={name}"])["predictor"]["_target_"], name)
            for name in PREDICTORS}


def _schemas() -> dict[str, type]:
    """Every section schema by its key prefix: Params' sections and each configured predictor's."""
    found: dict[str, type] = {}

    def walk(schema: type, prefix: str) -> None:
        found[prefix] = schema
        for name, hint in typing.get_type_hints(schema).items():
            if dataclasses.is_dataclass(hint):
                walk(hint, f"{prefix}.{name}" if prefix else name)

    walk(Params, "")
    for name, cls in _predictor_classes().items():
        walk(cls.settings, f"predictor[{name}]")
    return found


def test_no_schema_field_holds_a_second_copy_of_a_value():
    for prefix, schema in _schemas().items():
        for spec in dataclasses.fields(schema):
            assert spec.default == MISSING and spec.default_factory is dataclasses.MISSING, (
                f"{prefix}.{spec.name} has a default in its schema; its value belongs in conf/ only"
            )


def test_every_predictor_config_file_names_a_class_that_declares_what_the_pipeline_reads():
    classes = _predictor_classes()
    assert sorted(classes) == PREDICTORS and len(set(classes.values())) == len(classes)
    for name, cls in classes.items():
        assert dataclasses.is_dataclass(cls.settings) and cls.label, name
        assert cls.local_file_setting is None or cls.local_file_setting in {f.name for f in
                                                                            dataclasses.fields(cls.settings)}


def _ranged_settings() -> list[tuple[str, str, Range]]:
    """(predictor option, dotted key, range) for every field that declares a range."""
    settings = []
    for prefix, schema in _schemas().items():
        predictor = prefix[len("predictor["):prefix.index("]")] if prefix.startswith("predictor[") else "gc"
        key_prefix = re.sub(r"^predictor\[\w+\]", "predictor", prefix)
        for spec in dataclasses.fields(schema):
            if "range" in spec.metadata:
                settings.append((predictor, f"{key_prefix}.{spec.name}".lstrip("."), spec.metadata["range"]))
    return settings


RANGED = _ranged_settings()


def _outside(allowed: Range, window: int) -> float:
    if allowed.ge is not None:
        return allowed.ge - 1
    if allowed.gt is not None:
        return allowed.gt
    if allowed.at_most_key:
        return window + 2
    raise AssertionError(f"no lower bound in {allowed}")


def _mandatory_paths(predictor: str) -> list[str]:
    """A placeholder for each mandatory (???) predictor path (e.g. a checkpoint): loading settings never opens it."""
    section = compose_config([f"predictor={predictor}"])["predictor"]
    return [f"predictor.{key}=placeholder" for key, value in section.items() if value == "???"]


def _params_with_setting(path, predictor: str, key: str, value: float):
    """params.yaml of `predictor=<predictor>` with one setting replaced. The same file as the Hydra override
    `key=value` (conf/ has no interpolation), but composed once per predictor: Hydra takes ~0.1 s a call."""
    params = OmegaConf.create(compose_config([f"predictor={predictor}", *_mandatory_paths(predictor)]))
    OmegaConf.update(params, key, value, force_add=False)
    path.write_text(yaml.safe_dump(OmegaConf.to_container(params), sort_keys=False))
    return path


@pytest.mark.parametrize(("predictor", "key", "allowed"), RANGED, ids=[k for _, k, _ in RANGED])
def test_every_ranged_setting_rejects_a_value_outside_and_accepts_its_bound(tmp_path, predictor, key, allowed):
    window = compose_config()["experiment"]["window"]
    bad = _outside(allowed, window)
    path = _params_with_setting(tmp_path / "p.yaml", predictor, key, bad)
    shown = re.escape(f"`{key}` = {bad}") + r"(\.0)? " + re.escape(f"is out of range: allowed {allowed.describe()}")
    with pytest.raises(ConfigError, match=shown):
        load_all(path)
    bound = allowed.ge if allowed.ge is not None else None
    if bound is not None and not allowed.even:
        value = int(bound) if float(bound).is_integer() else bound
        assert load_all(_params_with_setting(tmp_path / "q.yaml", predictor, key, value))


@pytest.mark.parametrize(("override", "words"), [
    ("evaluate.n_permutations=0", ">= 99"),
    ("evaluate.ci_level=1.5", "> 0 and < 1"),
    ("evaluate.ci_level=0", "> 0 and < 1"),
    ("evaluate.alpha=1", "> 0 and < 1"),
    ("experiment.window=2047", "even"),
    ("experiment.window=8", "shorter than the 16-bp motif"),
    ("predictor.max_workers=0", ">= 1"),
    ("predictor.features.center_width=4096", "<= experiment.window (= 2048)"),
    ("predictor.features.center_start=1900", "center_start` + `center_width` = 2100 runs past the 2048-bp input"),
])
def test_issue_settings_are_checked_with_key_value_and_range(tmp_path, override, words):
    with pytest.raises(ConfigError, match=re.escape(words)) as raised:
        load_all(write_params(tmp_path / "p.yaml", [override]))
    assert override.split("=")[0].rsplit(".", 1)[-1] in str(raised.value)


def test_tests_build_configs_from_the_yaml():
    activity = configured(ActivityConfig, "dataset.activity")
    assert activity.min_tags == compose_config()["dataset"]["activity"]["min_tags"]
    with pytest.raises(ConfigError, match="dataset.activity.min_plasmid"):
        configured(ActivityConfig, "dataset.activity", min_plasmid=-3)


def test_the_dataset_section_is_typed_by_its_readers_schema(tmp_path):
    """dataset.reader picks the schema: an unknown reader, or a key another reader has, is named."""
    from mprabench.config import SequenceTableConfig

    path = write_params(tmp_path / "params.yaml", ["dataset=agarwal2025_hepg2_test"])
    assert isinstance(load_params(path).dataset, SequenceTableConfig)
    with pytest.raises(ConfigError, match="unknown dataset.reader 'csv'"):
        load_params(write_params(tmp_path / "p2.yaml", ["dataset=agarwal2025_hepg2_test", "dataset.reader=csv"]))
    with pytest.raises(ConfigError, match="`dataset.activity` is not a setting"):
        load_params(write_params(tmp_path / "p3.yaml", ["dataset=agarwal2025_hepg2_test", "+dataset.activity=1"]))
