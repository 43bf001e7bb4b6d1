"""Adding a predictor is its module and its config file: nothing in the package is edited.

The test writes a tiny predictor module outside the package and a conf/predictor/<name>.yaml in a
copy of conf/ naming its class, then runs the real predict and local_inputs stages on it and reads
the label the figures and the report show (from provenance.json).
"""

from __future__ import annotations

import json
import shutil
import textwrap

import pandas as pd
import pytest

from mprabench.dna import sequence_sha256
from mprabench.fasta import write_fasta
from mprabench.stages import local_inputs, predict
from tests.conftest import REPO
from tests.support.params import compose_config, write_params

MODULE = '''
from dataclasses import dataclass

from omegaconf import MISSING

from mprabench.predictors.base import PredictionReport, Predictor
from mprabench.settings import setting


@dataclass
class TinyConfig:
    name: str = MISSING
    scale: float = setting(gt=0)
    path: str = MISSING


class TinyPredictor(Predictor):
    settings = TinyConfig
    label = "tiny baseline (offline)"
    local_file_setting = "path"

    def __init__(self, config: TinyConfig):
        self.config = config

    def headline_feature(self):
        return "tiny_length"

    def predict(self, inputs, sink):
        sink.put_many({sha: {"tiny_length": self.config.scale * len(seq)} for sha, seq in inputs.items()})
        return PredictionReport(requested=len(inputs))
'''

CONFIG = '''
name: tiny
_target_: tiny_predictor.TinyPredictor
scale: 2.0
path: weights.txt
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A conf/ copy with the new config file, and the new module importable (as an installed plugin is)."""
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "tiny_predictor.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.syspath_prepend(str(plugin))
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    (conf / "predictor" / "tiny.yaml").write_text(textwrap.dedent(CONFIG))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_new_predictor_runs_from_its_module_and_config_file_alone(project):
    conf = project / "conf"
    assert compose_config(conf, ["predictor=tiny"])["predictor"]["_target_"] == "tiny_predictor.TinyPredictor"
    params = write_params(project / "params.yaml", conf, ["predictor=tiny", "evaluate.primary_features=null"])
    sequences = ["ACGT" * 10, "GGCC" * 20]
    inputs = {sequence_sha256(s): s for s in sequences}
    write_fasta(project / "inputs.fa", inputs)
    pd.DataFrame({"row_id": ["a", "b"], "input_sha256": list(inputs)}).to_parquet(project / "rows.parquet")

    predict.main(["--params", str(params), "--inputs", "inputs.fa", "--rows", "rows.parquet", "--store", "store",
                  "--features", "features.parquet", "--metrics", "predict.json", "--provenance", "provenance.json",
                  "--training", "training.json", "--no-progress"])
    features = pd.read_parquet(project / "features.parquet").set_index("input_sha256")["tiny_length"]
    assert features.to_dict() == {sha: 2.0 * len(s) for sha, s in inputs.items()}
    assert json.loads((project / "predict.json").read_text())["distinct_inputs"] == 2

    provenance = json.loads((project / "provenance.json").read_text())  # what figures and the report name
    assert (provenance["label"], provenance["source"]) == ("tiny baseline (offline)", "offline baseline")
    assert provenance["headline_feature"] == "tiny_length", "evaluate's shared headline block reads it"

    local = ["--counts", "c.json", "--design", "d.json", "--genome", "g.json", "--predictions", "p.json"]
    local_inputs.main(["--params", str(params), *local])
    assert json.loads((project / "p.json").read_text()) == {"missing": True}, "the file its class declares"
    (project / "weights.txt").write_text("1\n")
    local_inputs.main(["--params", str(params), *local])
    assert set(json.loads((project / "p.json").read_text())) == {"sha256"}


def test_a_predictor_that_declares_no_headline_feature_is_named(project, monkeypatch):
    import tiny_predictor

    from mprabench.config import load_params
    from mprabench.errors import ConfigError
    from mprabench.predictors.resolve import configured_predictor

    class Undeclared(tiny_predictor.Predictor):  # everything but headline_feature
        settings, label, predict = tiny_predictor.TinyConfig, "undeclared", tiny_predictor.TinyPredictor.predict

    monkeypatch.setattr(tiny_predictor, "Undeclared", Undeclared, raising=False)
    params = write_params(project / "params.yaml", project / "conf",
                          ["predictor=tiny", "predictor._target_=tiny_predictor.Undeclared"])
    with pytest.raises(ConfigError, match=r"tiny_predictor.Undeclared does not declare \['headline_feature'\]"):
        configured_predictor(load_params(params), params)


def test_a_declared_headline_feature_the_predictor_does_not_write_stops_predict(project):
    from mprabench.errors import BenchmarkError
    from mprabench.predictors.runner import declared_headline

    class Wrong:
        def headline_feature(self):
            return "tiny_lenght"

    with pytest.raises(BenchmarkError, match="declares 'tiny_lenght' its headline feature but writes"):
        declared_headline(Wrong(), "tiny", ["tiny_length"])  # type: ignore[arg-type]
    assert declared_headline(Wrong(), "tiny", []) == "tiny_lenght", "nothing written (every input failed): no check"


def test_a_new_predictors_settings_are_checked_by_its_own_schema(project):
    from mprabench.config import load_params
    from mprabench.errors import ConfigError
    from mprabench.predictors.resolve import configured_predictor

    params = write_params(project / "params.yaml", project / "conf", ["predictor=tiny", "predictor.scale=-1"])
    with pytest.raises(ConfigError, match="`predictor.scale` = -1.0 is out of range: allowed > 0"):
        configured_predictor(load_params(params), params)
