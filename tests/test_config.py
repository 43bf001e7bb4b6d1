"""conf/ composes into the committed params.yaml, and the typed loader rejects bad params."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mprabench.config import AlphaGenomeConfig, GcConfig, InputMode, load_params
from mprabench.errors import ConfigError
from tests.conftest import REPO, compose_config, write_params

EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))
PREDICTORS = sorted(p.stem for p in (REPO / "conf" / "predictor").glob("*.yaml"))


def test_committed_params_yaml_is_the_composition_of_the_defaults():
    committed = yaml.safe_load((REPO / "params.yaml").read_text())
    assert committed == compose_config(), "conf/ changed: regenerate params.yaml with `make params`"


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


def test_predictor_section_is_typed_by_its_name(tmp_path):
    assert isinstance(load_params(write_params(tmp_path / "p.yaml")).predictor, AlphaGenomeConfig)
    assert isinstance(load_params(write_params(tmp_path / "p.yaml", ["predictor=gc"])).predictor, GcConfig)


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
        load_params(path)


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
        load_params(path)


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
