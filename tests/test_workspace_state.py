"""The suite passes whatever the user's workspace holds: a failed `make repro` leaves nothing git
sees as new except dvc.lock and uncached metrics, and the end-to-end copies take only what git tracks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from dvc.repo import Repo

from tests.conftest import REPO
from tests.support.repo_copy import GIT_IDENTITY, make_repo_copy


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True,
                          env={**GIT_IDENTITY, "PATH": "/usr/bin:/bin"}).stdout


def test_every_cached_dvc_output_is_ignored_by_git_before_any_run():
    # DVC writes these .gitignore lines only when a run succeeds (and removes them when it fails).
    with Repo(str(REPO)) as repo:
        cached = sorted({out.def_path for out in repo.index.outs if out.use_cache})
    assert cached, "dvc.yaml declares no cached output: the check below would prove nothing"
    checked = subprocess.run(["git", "check-ignore", "--no-index", *cached], cwd=REPO, capture_output=True, text=True)
    ignored = set(checked.stdout.split())
    assert ignored == set(cached), f"add to .gitignore: {sorted(set(cached) - ignored)}"


def test_uncached_outputs_are_not_ignored_so_experiments_commit_them():
    # `dvc exp run` stores metrics, tables and the report in the experiment's git commit.
    with Repo(str(REPO)) as repo:
        uncached = sorted({out.def_path for out in repo.index.outs if not out.use_cache})
    checked = subprocess.run(["git", "check-ignore", "--no-index", *uncached], cwd=REPO, capture_output=True, text=True)
    assert checked.stdout.split() == []


def test_repo_copy_takes_tracked_files_only_and_composes_params_again(tmp_path):
    source = tmp_path / "source"
    (source / "conf").mkdir(parents=True)
    (source / "conf" / "config.yaml").write_text("evaluate:\n  seed: 1\n")
    (source / "params.yaml").write_text("evaluate:\n  seed: 1\n")
    (source / "module.py").write_text("committed = True\n")
    _git(source, "init", "-q", "-b", "main")
    _git(source, "add", "-A")
    _git(source, "commit", "-q", "-m", "source")
    # What a user's runs and edits leave behind.
    (source / "params.yaml").write_text("evaluate:\n  seed: 99\n")  # `dvc exp run -S evaluate.seed=99`
    (source / "module.py").write_text("committed = False\n")  # an uncommitted edit of a tracked file
    (source / "dvc.lock").write_text("schema: '2.0'\n")
    (source / "data" / "local").mkdir(parents=True)
    (source / "data" / "local" / "counts.json").write_text("{}")

    copy = make_repo_copy(source, tmp_path / "copy")

    assert (copy.root / "module.py").read_text() == "committed = False\n"
    assert not (copy.root / "dvc.lock").exists()
    assert not (copy.root / "data").exists()
    assert yaml.safe_load((copy.root / "params.yaml").read_text()) == {"evaluate": {"seed": 1}}
