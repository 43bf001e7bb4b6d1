"""Shared fixtures: a tiny synthetic genome and library, and the real conf/ composed by Hydra."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from mprabench.files import sha256_file
from tests.support import params as testing_params
from tests.support.mlflow_store import empty_store
from tests.support.repo_copy import RepoCopy, make_repo_copy
from tests.support.synthetic import (
    SyntheticElement,
    SyntheticGenome,
    pair_spacing_names,
    site_replacement_names,
    write_counts_file,
)

REPO = Path(__file__).resolve().parents[1]
POOL6_DESIGNS = ["cebp_10_20_ap1", "rxr_30_45_nf1", "ap1_49_57_ap2", "nf1_60_75_cebp"]
POOL7_PAIRS = [("ap2", "ap2"), ("cebp", "fos")]


def compose_config(overrides: list[str] | None = None) -> dict:
    """conf/ composed exactly as `dvc exp run` does it (Hydra compose + resolve)."""
    return testing_params.compose_config(REPO / "conf", overrides)


def typed_params(overrides: list[str] | None = None) -> Any:
    """conf/ composed with `overrides` and loaded as the stages load params.yaml (typed, validated)."""
    return testing_params.typed_params(REPO / "conf", overrides)


def write_params(path: Path, overrides: list[str] | None = None, **sections: dict) -> Path:
    """params.yaml from the real conf/ plus overrides; `sections` replace whole keys."""
    return testing_params.write_params(path, REPO / "conf", overrides, **sections)


def configured(schema: type, key: str, **values: Any) -> Any:
    """The typed section `key` of the real conf/ (its one home), with `values` replacing fields."""
    return testing_params.configured_section(schema, key, REPO / "conf", None, **values)


@dataclass
class TinyLibrary:
    """Two pools on a small synthetic genome, elements on both strands."""

    genome: SyntheticGenome
    elements: list[SyntheticElement]
    counts_dir: Path
    files: list[dict]

    def dataset_section(self, source: str | None = None) -> dict:
        section = compose_config()["dataset"]
        section["source"] = source or str(self.counts_dir)
        section["files"] = self.files
        return section


def make_tiny_library(directory: Path, seed: int = 7) -> TinyLibrary:
    rng = np.random.default_rng(seed)
    motifs = ["AGGTCAAAGGTCAGTA", "TGACCTTTGACCTCAG", "CAGAGGCCAAAGGGCA", "TTTAGGGCAAAGGTCT"]
    elements = [
        SyntheticElement("PPREwt_1", "chr1", 5_000, "+", motifs[0]),
        SyntheticElement("PPREwt_2", "chr1", 15_000, "-", motifs[1]),
        SyntheticElement("MAC", "chr2", 8_000, "+", motifs[2]),
        SyntheticElement("MAC", "chr2", 12_000, "-", motifs[3]),
    ]
    genome = SyntheticGenome({"chr1": 30_000, "chr2": 20_000}, [e.planted_site() for e in elements], seed=seed)
    pool6 = [n for e in elements[:2] for n in site_replacement_names(e, POOL6_DESIGNS)]
    pool7 = [n for e in elements[2:] for n in pair_spacing_names(e, POOL7_PAIRS)]
    counts_dir = directory / "counts"
    files = []
    for pool, grammar, names in (("Pool6", "site_replacement", pool6), ("Pool7", "pair_spacing", pool7)):
        path = counts_dir / f"TINY_{pool}_MPRA.txt"
        write_counts_file(path, names, rng)
        files.append({"name": path.name, "pool": pool, "design_grammar": grammar, "sha256": sha256_file(path)})
    return TinyLibrary(genome, elements, counts_dir, files)


TINY_NULL_REPLICATES = 200
TINY_DPI = 50


def pipeline_repo(tmp_path: Path) -> RepoCopy:
    """A git copy of the repository at tmp_path/repo for whole pipeline runs: the tiny evaluation
    settings (`tiny_evaluation`) and an empty MLflow store, ready for the report stage."""
    copy = make_repo_copy(REPO, tmp_path / "repo")
    copy.add_config("evaluate", "default", tiny_evaluation(copy.root / "conf" / "evaluate" / "default.yaml"))
    copy.compose_params()
    copy.git("commit", "-q", "-m", "params.yaml composed with the tiny evaluation", "params.yaml")
    empty_store(copy.root / compose_config()["tracking"]["local_store"])  # the report's, ready (git-ignored)
    return copy


def tiny_repo(tmp_path: Path, library: TinyLibrary) -> RepoCopy:
    """A `pipeline_repo` with `dataset=tiny` and `genome=tiny` options (the library's counts and its
    genome, written to tmp_path/genome.fa)."""
    copy = pipeline_repo(tmp_path)
    fasta = tmp_path / "genome.fa"
    library.genome.write_chromosome_fasta(fasta)
    copy.add_config("dataset", "tiny", library.dataset_section())
    copy.add_config("genome", "tiny", {**compose_config()["genome"], "fasta": str(fasta)})
    return copy


def tiny_evaluation(path: Path) -> dict:
    """conf/evaluate/default.yaml with fewer null replicates and smaller figures: a tiny repository's runs
    test the pipeline's wiring, not its numbers, and every `dvc exp run` of the suite pays for both."""
    evaluate = yaml.safe_load(path.read_text())
    evaluate["calibration"]["n_replicates"] = TINY_NULL_REPLICATES
    evaluate["dpi"] = TINY_DPI
    return evaluate


# An end-to-end test runs several whole `dvc exp run`s; on a 2-core machine shared with other jobs one
# took 300 s (most of it waiting for a core), so the suite-wide hang detector (pyproject.toml's 300 s)
# would fail it for the machine's load, not for a hang. A hang still fails, after this long.
E2E_TIMEOUT_S = 900


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """End-to-end tests first, each with the longer hang timeout.

    They are the longest tests (minutes each, the rest seconds). With `--maxschedchunk 1` (make test)
    pytest-xdist hands out tests one at a time in collection order, so both workers start on them and
    the short tests fill in around them, instead of one worker running the last long test alone at
    the end (longest job first). Without it xdist sends each worker a first block of ~120 consecutive
    tests, and one worker gets every end-to-end test. The order within each group is unchanged.
    """
    e2e = [item for item in items if item.get_closest_marker("e2e")]
    for item in e2e:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT_S))
    items[:] = e2e + [item for item in items if not item.get_closest_marker("e2e")]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Exempt what collection imported (pandas, torch, MLflow, ...) from the garbage collector's full passes.

    Each full pass walks every tracked object. With the collected modules frozen a pass took 0.12 s
    instead of 0.25-0.29 s; passes came twice as often, so the two workers' full passes fell from
    14.1 to 11.1 CPU-seconds in whole-suite runs (gc.callbacks timing). What tests allocate is
    collected as before.
    """
    gc.freeze()


@pytest.fixture
def tiny_library(tmp_path: Path) -> TinyLibrary:
    return make_tiny_library(tmp_path)


@pytest.fixture
def read_yaml():
    return lambda path: yaml.safe_load(Path(path).read_text())
