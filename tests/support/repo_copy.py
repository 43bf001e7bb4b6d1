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

    def add_config(self, group: str, name: str, content: dict) -> None:
        """A Hydra option under conf/<group>/, committed so experiments can select it."""
        path = self.root / "conf" / group / f"{name}.yaml"
        path.write_text(yaml.safe_dump(content, sort_keys=False))
        self.git("add", str(path.relative_to(self.root)))
        self.git("commit", "-q", "-m", f"test config {group}/{name}")

    def json(self, relative: str) -> dict:
        return json.loads((self.root / relative).read_text())


def make_repo_copy(source_repo: Path, destination: Path) -> RepoCopy:
    """Copy tracked and untracked-but-not-ignored files (the working tree as a user sees it)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=source_repo, capture_output=True, text=True, check=True,
    ).stdout.split("\0")
    for relative in filter(None, listed):
        source = source_repo / relative
        if source.is_file():
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
    env.pop("MLFLOW_TRACKING_URI", None)  # runs log to the copy's own local store
    copy = RepoCopy(destination, env)
    copy.git("init", "-q", "-b", "main")
    copy.git("add", "-A")
    copy.git("commit", "-q", "-m", "copy of the working tree")
    return copy
