"""Species- and cell-matched tracks: which biosample AlphaGenome is asked for, checked against the
local gRPC server's own track metadata before any prediction request (requests counted)."""

from __future__ import annotations

import pandas as pd
import pytest

from mprabench.config import load_params
from mprabench.errors import ConfigError
from mprabench.predictors.biosample import BiosampleDefaults, choose_tracks
from tests.support.alphagenome.server import LocalAlphaGenomeServer
from tests.support.alphagenome.tracks import default_catalogue
from tests.test_predict_alphagenome import KEY, PredictRun, random_sequences, run_in, server  # noqa: F401

K562, HEPG2, WTC11_ENCODE = "EFO:0002067", "EFO:0001187", "EFO:0009747"


def human_biosample(cell_line: str, term: str | None) -> list[str]:
    """Overrides that make the dataset's assay biosample a human cell line, with no experiment pin."""
    return ["experiment.tracks=null", "dataset.assay_biosample.species=human",
            "dataset.assay_biosample.organism=HOMO_SAPIENS", f"dataset.assay_biosample.cell_line={cell_line}",
            f"dataset.assay_biosample.cell_type={cell_line} cells",
            f"dataset.assay_biosample.ontology_term={term if term else 'null'}"]


def provenance(setup: PredictRun) -> dict:
    return pd.read_json(setup.directory / "provenance.json", typ="series").to_dict()


def test_a_hepg2_dataset_asks_for_hepg2_without_being_told(run_in, server):
    setup = run_in(count=3, overrides=human_biosample("HepG2", HEPG2))
    setup.run()
    counters = server.counters()
    assert dict(counters.ontology_terms_requested) == {HEPG2: 3}
    assert dict(counters.organisms_requested) == {"HOMO_SAPIENS": 3}
    assert [b["biosample_name"] for b in provenance(setup)["biosamples"]] == ["HepG2"]
    assert provenance(setup)["tracks_chosen_by"].startswith("dataset.assay_biosample")


def test_the_original_experiments_pin_k562_on_the_mouse_dataset(run_in, server):
    for seed, experiment in enumerate(("v1", "v1_original", "v2", "v3")):
        server.reset_counters()
        setup = run_in(count=1, overrides=[f"experiment={experiment}"], seed=seed)
        setup.run()
        assert dict(server.counters().ontology_terms_requested) == {K562: 1}, experiment
        assert dict(server.counters().organisms_requested) == {"HOMO_SAPIENS": 1}, experiment
        assert provenance(setup)["tracks_chosen_by"] == f"experiment.tracks of experiment {experiment}"


def test_an_explicit_predictor_term_wins_over_the_experiment_and_the_dataset(run_in, server):
    setup = run_in(count=2, overrides=[*human_biosample("HepG2", HEPG2), f"predictor.ontology_terms=[{K562}]"])
    setup.run()
    assert dict(server.counters().ontology_terms_requested) == {K562: 2}
    pinned = run_in(count=2, overrides=[f"predictor.ontology_terms=[{HEPG2}]"], seed=5)  # v2 pins K562
    pinned.run()
    assert server.counters().ontology_terms_requested[HEPG2] == 2


def test_a_biosample_the_service_lacks_stops_before_any_prediction_naming_it_and_the_closest(run_in, server):
    setup = run_in(count=3, overrides=human_biosample("WTC11", WTC11_ENCODE))
    with pytest.raises(ConfigError) as stopped:
        setup.run()
    message = str(stopped.value)
    assert f"WTC11 ({WTC11_ENCODE})" in message and "Closest biosamples it has: " in message
    assert f"{HEPG2} HepG2" in message and f"{K562} K562" in message
    assert "-S 'predictor.ontology_terms=[<term>]'" in message
    assert server.counters().predict_calls == 0 and not (setup.directory / "features.parquet").exists()


def test_a_biosample_without_a_term_is_found_by_the_name_the_service_gives_it(tmp_path, monkeypatch):
    catalogue = default_catalogue()
    wtc11 = [{"name": "WTC11 DNase-seq", "strand": ".", "ontology_curie": "CLO:0099999", "biosample_name": "WTC-11",
              "biosample_type": "cell_line"}]
    catalogue["ORGANISM_HOMO_SAPIENS"]["DNASE"].extend(wtc11)
    monkeypatch.setenv("ALPHAGENOME_API_KEY", KEY)
    with LocalAlphaGenomeServer(catalogue=catalogue) as local:
        setup = PredictRun(tmp_path, local, random_sequences(2),
                           [*human_biosample("WTC11", None), "predictor.outputs=[DNASE]"])
        setup.write()
        setup.run()
        assert dict(local.counters().ontology_terms_requested) == {"CLO:0099999": 2}

        setup.overrides = [*human_biosample("WTC11", WTC11_ENCODE), "predictor.outputs=[DNASE]"]
        setup.write()
        with pytest.raises(ConfigError, match=r"no tracks for HOMO_SAPIENS biosample WTC11 \(EFO:0009747\).*It names "
                                              r"WTC11 CLO:0099999: .*predictor.ontology_terms=\[CLO:0099999\]"):
            setup.run(store="store-3")

        local.reset_counters()
        setup.overrides = [*human_biosample("WTC11", None)]  # CAGE and RNA-seq: the service has none for it
        setup.write()
        with pytest.raises(ConfigError, match=r"no CAGE track .*CLO:0099999.*they have \['DNASE'\].*"
                                              r"predictor.outputs=\[DNASE\]"):
            setup.run(store="store-2")
        assert local.counters().predict_calls == 0


def test_a_name_the_service_does_not_know_stops_naming_the_closest(run_in, server):
    setup = run_in(count=1, overrides=human_biosample("HepaRG", None))
    with pytest.raises(ConfigError, match=r"names no HOMO_SAPIENS biosample 'HepaRG'.*Closest biosamples it has: "
                                          rf"{HEPG2} HepG2"):
        setup.run()
    assert server.counters().predict_calls == 0


def test_the_mouse_dataset_unpinned_asks_for_mouse_3t3_l1_and_names_the_outputs_it_lacks(run_in, server):
    setup = run_in(count=1, overrides=["experiment.tracks=null"])
    with pytest.raises(ConfigError, match=r"no CAGE track for MUS_MUSCULUS .*EFO:0001084.*they have \['DNASE'\]"):
        setup.run()
    setup.overrides = ["experiment.tracks=null", "predictor.outputs=[DNASE]"]
    setup.write()
    setup.run()
    assert dict(server.counters().organisms_requested) == {"MUS_MUSCULUS": 1}
    assert dict(server.counters().ontology_terms_requested) == {"EFO:0001084": 1}


@pytest.mark.parametrize("key, value", [
    ("dataset.assay_biosample.ontology_term", "HepG2"),
    ("predictor.ontology_terms", "[K562]"),
    ("experiment.tracks.ontology_terms", "['EFO 0002067']"),
])
def test_a_term_that_is_not_an_ontology_curie_is_an_error_before_any_request(run_in, server, key, value):
    setup = run_in(count=1, overrides=[f"{key}={value}"])
    with pytest.raises(ConfigError, match=r"is not an ontology CURIE"):
        setup.run()
    assert (server.counters().predict_calls, server.counters().metadata_calls) == (0, 0)


def test_a_curie_with_a_prefix_alphagenome_does_not_know_is_an_error(run_in, server):
    setup = run_in(count=1, overrides=["predictor.ontology_terms=[XYZ:0001]"])
    with pytest.raises(ConfigError, match=r"XYZ:0001.*prefix must be one of"):
        setup.run()
    assert server.counters().metadata_calls == 0


def test_precedence_predictor_then_experiment_then_dataset(tmp_path):
    from tests.conftest import write_params

    params = load_params(write_params(tmp_path / "p.yaml"))
    defaults = BiosampleDefaults.of(params)
    assert choose_tracks(None, None, defaults).ontology_terms == (K562,)  # v2 pins K562
    assert choose_tracks(None, [HEPG2], defaults).ontology_terms == (HEPG2,)
    unpinned = BiosampleDefaults(defaults.assay, None, "x", "GSE84888")
    chosen = choose_tracks(None, None, unpinned)
    assert (chosen.organism, chosen.ontology_terms) == ("MUS_MUSCULUS", ("EFO:0001084",))
    assert choose_tracks("HOMO_SAPIENS", None, unpinned).organism == "HOMO_SAPIENS"


def test_the_shipped_agarwal_configs_ask_for_their_own_cells(run_in, server):
    hepg2 = run_in(count=2, overrides=["dataset=agarwal2025_hepg2_test", "experiment=insert"])
    hepg2.run()
    assert dict(server.counters().ontology_terms_requested) == {HEPG2: 2}
    server.reset_counters()
    wtc11 = run_in(count=2, overrides=["dataset=agarwal2025_wtc11_test", "experiment=insert"], seed=9)
    with pytest.raises(ConfigError, match=r"no tracks for HOMO_SAPIENS biosample WTC11 \(EFO:0009747\)"):
        wtc11.run(store="store-wtc11")
    assert server.counters().predict_calls == 0
