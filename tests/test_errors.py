"""Every bad input or setting ends with one clear message: exit 1, no traceback, the file/line or key named.

Table-driven: each case damages a small prepared project (the tiny synthetic library, a local
genome FASTA, the gc baseline) and runs one stage as `python -m mprabench.stages.<stage>`,
as dvc.yaml does. Two cases also go through `dvc exp run` (test_errors_e2e.py).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from omegaconf import OmegaConf

from mprabench.fasta import read_fasta, write_fasta
from tests.conftest import REPO, compose_config, make_tiny_library

STAGE_ARGS = {
    "fetch": ["--out", "fetched"],
    "prepare": ["--raw", "counts", "--genome-cache", "cache/regions.fa", "--rows", "prepared/rows.parquet",
                "--inputs", "prepared/inputs.fa", "--qc", "metrics/qc.json", "--qc-details", "metrics/qc_details.json"],
    "predict": ["--inputs", "prepared/inputs.fa", "--rows", "prepared/rows.parquet", "--store", "store",
                "--features", "prepared/features.parquet", "--metrics", "metrics/predict.json", "--no-progress"],
    "evaluate": ["--rows", "prepared/rows.parquet", "--features", "prepared/features.parquet",
                 "--summary", "metrics/summary.json", "--details", "metrics/details.json", "--tables", "metrics/tables",
                 "--figures", "plots/figures", "--roc", "plots/roc.csv", "--scatter", "plots/scatter.csv"],
}
COUNTS = {"Pool6": "counts/TINY_Pool6_MPRA.txt", "Pool7": "counts/TINY_Pool7_MPRA.txt"}
ALPHAGENOME_SIX = ["dnase_center", "dnase_mean", "cage_center", "cage_mean", "rna_center", "rna_mean"]


@dataclass
class Project:
    """A prepared project folder; stages run in it with paths relative to it."""

    root: Path
    base: dict  # params as composed for the project (dataset and genome point at local files)
    overrides: dict = field(default_factory=dict)

    def set(self, **values: object) -> None:
        """Settings (dotted keys with `__` for `.`) to change in params.yaml."""
        self.overrides.update({key.replace("__", "."): value for key, value in values.items()})

    def use_predictor(self, name: str, **values: object) -> None:
        composed = compose_config([f"predictor={name}"])
        self.base["predictor"] = composed["predictor"]
        self.base["evaluate"]["primary_features"] = composed["evaluate"]["primary_features"]
        self.set(**{f"predictor__{k}": v for k, v in values.items()})

    def write_params(self) -> None:
        params = OmegaConf.create(self.base)
        for key, value in self.overrides.items():
            OmegaConf.update(params, key, value, force_add=True)
        (self.root / "params.yaml").write_text(yaml.safe_dump(OmegaConf.to_container(params), sort_keys=False))

    def run(self, stage: str, *, user: list[str] | None = None) -> subprocess.CompletedProcess:
        self.write_params()
        env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               "HOME": str(self.root), "MPLCONFIGDIR": str(self.root / ".mpl")}
        command = [*(user or []), sys.executable, "-m", f"mprabench.stages.{stage}", "--params", "params.yaml",
                   *STAGE_ARGS[stage]]
        return subprocess.run(command, cwd=self.root, env=env, capture_output=True, text=True, timeout=300)

    def run_ok(self, stage: str) -> None:
        result = self.run(stage)
        assert result.returncode == 0, result.stderr

    def path(self, relative: str) -> Path:
        return self.root / relative


def _make_prepared(root: Path) -> Project:
    library = make_tiny_library(root / "library")
    shutil.copytree(library.counts_dir, root / "counts")
    library.genome.write_chromosome_fasta(root / "genome.fa")
    base = compose_config(["predictor=gc"])
    base["dataset"] = library.dataset_section(source="counts")
    base["genome"]["fasta"] = "genome.fa"
    base["evaluate"].update({"n_permutations": 99})
    project = Project(root, base)
    project.run_ok("prepare")
    project.run_ok("predict")
    return project


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Project:
    return _make_prepared(tmp_path_factory.mktemp("prepared"))


@pytest.fixture
def project(prepared, tmp_path) -> Project:
    """A fresh copy of the prepared project for one case (a case may damage anything in it)."""
    root = tmp_path / "project"
    shutil.copytree(prepared.root, root)
    return Project(root, yaml.safe_load(yaml.safe_dump(prepared.base)))


# --- damage -----------------------------------------------------------------------------------------------------


def _truncate(path: Path, keep_lines: int) -> None:
    lines = path.read_text().splitlines()[:keep_lines]
    path.write_text("\n".join(lines))


def _replace_in_counts(project: Project, pool: str, old: str, new: str) -> None:
    path = project.path(COUNTS[pool])
    path.write_text(path.read_text().replace(old, new, 1))


def _damage_line(path: Path, line: int, column: int, value: str) -> None:
    lines = path.read_text().splitlines()
    cells = lines[line - 1].split("\t")
    cells[column] = value
    lines[line - 1] = "\t".join(cells)
    path.write_text("\n".join(lines))


def _checksum_follows_file(project: Project) -> None:
    """The user overrode the checksums (the files were damaged after fetch)."""
    files = project.base["dataset"]["files"]
    for spec in files:
        spec["sha256"] = hashlib.sha256(project.path(f"counts/{spec['name']}").read_bytes()).hexdigest()


def _precomputed(project: Project, columns: list[str], mutate: Callable[[pd.DataFrame], None] | None = None,
                 features: list[str] | None = None) -> None:
    inputs = read_fasta(project.path("prepared/inputs.fa"))
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"input_sha256": list(inputs)})
    for column in columns:
        table[column] = rng.normal(size=len(table))
    if mutate:
        mutate(table)
    table.to_csv(project.path("predictions.csv"), index=False)
    project.use_predictor("precomputed", path="predictions.csv", features=features)
    project.base["evaluate"]["primary_features"] = features or ALPHAGENOME_SIX


def _precomputed_primary_elsewhere(project: Project) -> None:
    _precomputed(project, ALPHAGENOME_SIX, features=["dnase_center", "cage_center"])
    project.base["evaluate"]["primary_features"] = ALPHAGENOME_SIX


def _text_cell(table: pd.DataFrame) -> None:
    table["dnase_center"] = table["dnase_center"].astype(object)
    table.loc[2, "dnase_center"] = "high"


def _regions_without_chr(project: Project) -> None:
    fasta = read_fasta(project.path("genome.fa"))
    write_fasta(project.path("regions.fa"), {f"{c.removeprefix('chr')}:0-{len(s)}": s for c, s in fasta.items()})
    project.set(genome__fasta="regions.fa")


def _gzip_genome(project: Project) -> None:
    with open(project.path("genome.fa"), "rb") as raw, gzip.open(project.path("genome.fa.gz"), "wb") as packed:
        shutil.copyfileobj(raw, packed)
    project.set(genome__fasta="genome.fa.gz")


def _corrupt_gzip_source(project: Project) -> None:
    source = project.path("gzsource")
    source.mkdir()
    for spec in project.base["dataset"]["files"]:
        data = gzip.compress(project.path(f"counts/{spec['name']}").read_bytes())
        (source / f"{spec['name']}.gz").write_bytes(data[: len(data) // 2] if "Pool6" in spec["name"] else data)
    project.set(dataset__source="gzsource", dataset__remote_suffix=".gz")


def _metrics_is_a_file(project: Project) -> None:
    shutil.rmtree(project.path("metrics"))
    project.path("metrics").write_text("not a folder")


def _evaluate_after_predict(project: Project) -> None:
    project.run_ok("predict")


# --- the table --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    stage: str
    damage: Callable[[Project], None]
    words: tuple[str, ...]  # each must appear in stderr


def _settings(**values: object) -> Callable[[Project], None]:
    return lambda project: project.set(**values)


def _alphagenome(**values: object) -> Callable[[Project], None]:
    def damage(project: Project) -> None:
        project.use_predictor("alphagenome", **values)

    return damage


CASES = [
    # settings: rejected by load_params before any file is read or request made
    Case("n_permutations=0", "evaluate", _settings(evaluate__n_permutations=0),
         ("`evaluate.n_permutations` = 0", ">= 99")),
    Case("min_unique_inputs=2", "evaluate", _settings(evaluate__min_unique_inputs=2),
         ("`evaluate.min_unique_inputs` = 2", ">= 3")),
    Case("ci_level=1.5", "evaluate", _settings(evaluate__ci_level=1.5), ("`evaluate.ci_level` = 1.5", "> 0 and < 1")),
    Case("alpha=1", "evaluate", _settings(evaluate__alpha=1.0), ("`evaluate.alpha` = 1.0", "< 1")),
    Case("max_workers=0", "predict", _alphagenome(max_workers=0), ("`predictor.max_workers` = 0", ">= 1")),
    Case("timeout_s=0", "predict", _alphagenome(timeout_s=0), ("`predictor.timeout_s` = 0", "> 0")),
    Case("max_retries=-1", "predict", _alphagenome(max_retries=-1), ("`predictor.max_retries` = -1", ">= 0")),
    Case("centre window past the input", "predict", _alphagenome(features={"center_width": 4096, "center_start": None}),
         ("`predictor.features.center_width` = 4096", "experiment.window")),
    Case("centre start past the input", "predict", _alphagenome(features={"center_width": 200, "center_start": 1900}),
         ("predictor.features.center_start", "2100", "2048")),
    Case("window odd", "prepare", _settings(experiment__window=2047), ("`experiment.window` = 2047", "even")),
    Case("window shorter than the motif", "prepare", _settings(experiment__window=8),
         ("`experiment.window` = 8", "16-bp motif")),
    Case("http retries<0", "fetch", _settings(dataset__http__retries=-1), ("`dataset.http.retries` = -1", ">= 0")),
    Case("http timeout=0", "fetch", _settings(genome__http__timeout_s=0), ("`genome.http.timeout_s` = 0", "> 0")),
    Case("max_n_fraction>1", "prepare", _settings(genome__max_n_fraction=1.5), ("`genome.max_n_fraction` = 1.5", "<= 1")),
    Case("pseudocount=0", "prepare", _settings(dataset__activity__pseudocount=0),
         ("`dataset.activity.pseudocount` = 0", "> 0")),
    Case("min_tags<0", "prepare", _settings(dataset__activity__min_tags=-1), ("`dataset.activity.min_tags` = -1",)),
    Case("kmer n_folds=1", "predict", lambda p: p.use_predictor("kmer", n_folds=1), ("`predictor.n_folds` = 1", ">= 2")),
    Case("gc width past the input", "predict", lambda p: p.use_predictor("gc", width=5000),
         ("`predictor.width` = 5000", "experiment.window")),
    Case("no counts files", "prepare", _settings(dataset__files=[]), ("`dataset.files`", "at least 1")),
    # settings that already failed clearly
    Case("unknown key", "prepare", _settings(experiment__windw=100), ("experiment.windw",)),
    Case("wrong type", "prepare", _settings(experiment__window="two kb"), ("experiment.window",)),
    Case("bad enum", "prepare", _settings(dataset__activity__method="tpm"), ("dataset.activity.method",)),
    Case("unknown predictor", "predict", _settings(predictor___target_="mprabench.predictors.nope.NopePredictor"),
         ("`predictor._target_`", "no module 'mprabench.predictors.nope'", "dvc exp run -S predictor=<name>")),
    Case("missing mandatory value", "predict", lambda p: p.use_predictor("precomputed", path="???"),
         ("`predictor.path` must be set", "dvc exp run -S predictor.path=")),
    # counts files
    Case("empty counts file", "prepare",
         lambda p: (p.path(COUNTS["Pool6"]).write_text(""), _checksum_follows_file(p)),
         ("TINY_Pool6_MPRA.txt, line 1", "empty", "dvc repro fetch")),
    Case("pool with only its header", "prepare", lambda p: (_truncate(p.path(COUNTS["Pool7"]), 1), _checksum_follows_file(p)),
         ("TINY_Pool7_MPRA.txt, line 2", "Pool7", "no oligo rows", "dataset.files")),
    Case("count not an integer", "prepare", lambda p: _damage_line(p.path(COUNTS["Pool6"]), 3, column=1, value="x"),
         ("TINY_Pool6_MPRA.txt, line 3", "tags = 'x'", "not a non-negative integer count", "dvc repro fetch")),
    Case("counts file missing", "prepare", lambda p: p.path(COUNTS["Pool6"]).unlink(),
         ("TINY_Pool6_MPRA.txt", "not found", "fetch")),
    Case("bad oligo name", "prepare", lambda p: _replace_in_counts(p, "Pool6", "PPREwt_1_chr1", "PPREwt_1_chrX_y"),
         ("TINY_Pool6_MPRA.txt", "line 2")),
    # fetch
    Case("corrupt gzip download", "fetch", _corrupt_gzip_source,
         ("gzsource/TINY_Pool6_MPRA.txt.gz", "cannot decompress", "damaged")),
    Case("checksum mismatch", "fetch",
         lambda p: p.base["dataset"]["files"][0].update(sha256="0" * 64), ("SHA-256 mismatch", "TINY_Pool6_MPRA.txt")),
    # genome
    Case("gzip genome", "prepare", _gzip_genome, ("genome.fasta = ", "/project/genome.fa.gz", "gzip", "gunzip -k")),
    Case("genome not a FASTA", "prepare",
         lambda p: (p.path("notes.txt").write_text("my genome notes\n"), p.set(genome__fasta="notes.txt")),
         ("genome.fasta = ", "/project/notes.txt", "not a FASTA")),
    Case("regions FASTA named 5:...", "prepare", _regions_without_chr,
         ("not covered by any record of the regions FASTA", "/project/regions.fa", "UCSC names", "chr1:start-end")),
    Case("chromosome FASTA named 1", "prepare",
         lambda p: (write_fasta(p.path("g.fa"), {k.removeprefix("chr"): v for k, v in read_fasta(p.path("genome.fa")).items()}),
                    p.set(genome__fasta="g.fa")),
         ("chromosome chr1 is not in", "/project/g.fa", "UCSC names")),
    Case("genome missing", "prepare", _settings(genome__fasta="absent.fa"), ("genome.fasta = ", "/project/absent.fa", "no such file")),
    # outputs
    Case("metrics/ not writable", "prepare", _metrics_is_a_file, ("metrics/qc.json", "metrics is a file, not a folder", "no output")),
    # precomputed predictions
    Case("text cell in a feature column", "predict", lambda p: _precomputed(p, ALPHAGENOME_SIX, _text_cell),
         ("predictions.csv, line 4", "`dnase_center`", "'high'")),
    Case("text cell in a named feature column", "predict",
         lambda p: _precomputed(p, ALPHAGENOME_SIX, _text_cell, features=["dnase_center"]),
         ("predictions.csv, line 4", "`dnase_center`", "'high'")),
    Case("upper-case keys", "predict",
         lambda p: _precomputed(p, ALPHAGENOME_SIX, lambda t: t.__setitem__("input_sha256", t["input_sha256"].str.upper())),
         ("predictions.csv", "upper case", "lower-case")),
    Case("unknown named feature", "predict", lambda p: _precomputed(p, ALPHAGENOME_SIX, features=["dnase_centre"]),
         ("predictions.csv", "['dnase_centre'] not found")),
    Case("named features evaluate does not expect", "predict",
         _precomputed_primary_elsewhere,
         ("`evaluate.primary_features`", "`predictor.features` = ['dnase_center', 'cage_center']")),
    Case("empty predictions file", "predict",
         lambda p: (p.path("predictions.csv").write_text(""), p.use_predictor("precomputed", path="predictions.csv")),
         ("predictor.path = ", "/project/predictions.csv", "cannot be read as CSV")),
    Case("predictions not Parquet", "predict",
         lambda p: (p.path("predictions.parquet").write_text("a,b\n1,2\n"),
                    p.use_predictor("precomputed", path="predictions.parquet")),
         ("predictor.path = ", "/project/predictions.parquet", "cannot be read as Parquet")),
    Case("rows not prepared yet", "evaluate", lambda p: p.path("prepared/rows.parquet").unlink(),
         ("prepared/rows.parquet: not found", "dvc repro")),
    Case("features evaluate expects but cannot find", "evaluate",
         lambda p: (_precomputed(p, ["dnase_centre", "cage_centre"]), _evaluate_after_predict(p)),
         ("evaluate.primary_features", "dnase_center", "dnase_centre")),
]


def _outputs(project: Project) -> dict[str, str]:
    """Digest of every stage output in the project (pyfaidx's .fai indexes are caches, not outputs)."""
    return {
        str(path.relative_to(project.root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in ("prepared", "metrics", "plots", "fetched")
        if project.path(folder).is_dir()
        for path in sorted(project.path(folder).rglob("*"))
        if path.is_file() and path.suffix != ".fai"
    }


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_fault_ends_with_one_clear_message(project, case):
    case.damage(project)
    outputs_before = _outputs(project)
    result = project.run(case.stage)
    assert result.returncode == 1, f"exit {result.returncode}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    message = result.stderr
    for words in case.words:
        assert words in message, f"{words!r} not in:\n{message}"
    assert ".tmp" not in message, "a message must name the user's file, not a temporary one"
    assert _outputs(project) == outputs_before, "a failed stage changed an output"


def test_settings_are_rejected_before_any_file_is_read(project):
    """A bad setting stops the stage even when every input is missing: nothing was read first."""
    shutil.rmtree(project.path("counts"))
    project.set(evaluate__n_permutations=0)
    for stage in ("fetch", "prepare", "predict", "evaluate"):
        result = project.run(stage)
        assert result.returncode == 1 and "`evaluate.n_permutations` = 0" in result.stderr, result.stderr


def test_all_range_problems_are_reported_at_once(project):
    project.set(evaluate__n_permutations=0, evaluate__ci_level=1.5, experiment__window=2047)
    message = project.run("prepare").stderr
    assert all(key in message for key in ("evaluate.n_permutations", "evaluate.ci_level", "experiment.window"))


# --- permissions (the real thing: a user who may not write a folder) ---------------------------------------------


def _unprivileged() -> list[str]:
    """Run as `nobody` when the tests run as root (root ignores folder permissions)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: folder permissions cannot be exercised")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def open_project(prepared) -> Iterator[Project]:
    """A copy anyone may write (outside pytest's private tmp folder), for runs as another user."""
    root = Path(tempfile.mkdtemp(prefix="mprabench-errors-"))
    try:
        shutil.copytree(prepared.root, root / "p")
        for folder, _, files in os.walk(root):
            os.chmod(folder, 0o777)
            for name in files:
                os.chmod(Path(folder) / name, 0o666)
        yield Project(root / "p", yaml.safe_load(yaml.safe_dump(prepared.base)))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_read_only_metrics_folder_stops_before_rows_are_rewritten(open_project):
    user = _unprivileged()
    rows_before = open_project.path("prepared/rows.parquet").read_bytes()
    os.chmod(open_project.path("metrics"), 0o555)
    result = open_project.run("prepare", user=user)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "metrics/qc.json" in result.stderr and "Permission denied" in result.stderr
    assert open_project.path("prepared/rows.parquet").read_bytes() == rows_before


def test_genome_in_a_folder_where_the_index_cannot_be_written(open_project):
    user = _unprivileged()
    folder = open_project.path("readonly")
    folder.mkdir()
    shutil.copy(open_project.path("genome.fa"), folder / "genome.fa")
    os.chmod(folder, 0o555)
    open_project.set(genome__fasta="readonly/genome.fa")
    result = open_project.run("prepare", user=user)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "readonly/genome.fa.fai" in result.stderr and "samtools faidx" in result.stderr
