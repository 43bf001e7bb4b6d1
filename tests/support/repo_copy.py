"""A temporary git copy of a repository's working tree, for end-to-end DVC runs (tests, benchmarks)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from dvc.utils.hydra import compose_and_dump

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "mprabench tests",
    "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "mprabench tests",
    "GIT_COMMITTER_EMAIL": "tests@example.invalid",
}


@dataclass
class RepoCopy:
    root: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(
            args, cwd=self.root, env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=600
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def dvc(self, *args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "dvc", *args, check=check, env=env)

    def git(self, *args: str) -> subprocess.CompletedProcess:
        return self.run("git", *args)

    def compose_params(self) -> None:
        """params.yaml composed again from the copy's conf/, as `make params` does."""
        compose_and_dump(str(self.root / "params.yaml"), str(self.root / "conf"), None, "config", str(self.root), [])

    def add_config(self, group: str, name: str, content: dict) -> None:
        """A Hydra option under conf/<group>/, committed so experiments can select it."""
        path = self.root / "conf" / group / f"{name}.yaml"
        path.write_text(yaml.safe_dump(content, sort_keys=False))
        self.git("add", str(path.relative_to(self.root)))
        self.git("commit", "-q", "-m", f"test config {group}/{name}")

    def json(self, relative: str) -> dict:
        return json.loads((self.root / relative).read_text())


def make_repo_copy(source_repo: Path, destination: Path) -> RepoCopy:
    """Copy the files git tracks (their working-tree content, so uncommitted edits count), nothing else.

    What a pipeline run leaves in the user's workspace (dvc.lock, outputs, a params.yaml that
    `dvc exp run -S ...` rewrote) never reaches the copy: params.yaml is composed again from the
    copy's conf/, as `make params` does. A new source file must be `git add`-ed to be copied.
    """
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "-z"], cwd=source_repo, capture_output=True, text=True, check=True,
    ).stdout.split("\0")
    for relative in filter(None, listed):
        source = source_repo / relative
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    env = {
        **os.environ,
        **GIT_IDENTITY,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(destination.parent / "dvc-site-cache"),
    }
    # The user's shell never reaches a test run: runs log to the copy's own MLflow store and
    # prediction store, and a test that needs an API key sets one.
    for name in ("MLFLOW_TRACKING_URI", "MPRABENCH_PREDICTION_STORE", "ALPHAGENOME_API_KEY"):
        env.pop(name, None)
    copy = RepoCopy(destination, env)
    copy.compose_params()
    copy.git("init", "-q", "-b", "main")
    copy.git("add", "-A")
    copy.git("commit", "-q", "-m", "copy of the working tree")
    return copy
