"""Rewrite each stage's code deps in dvc.yaml from the stage's import closure.

    .venv/bin/python -m scripts.sync_dvc_deps          # show what would change
    .venv/bin/python -m scripts.sync_dvc_deps --write  # rewrite dvc.yaml in place

Data deps (`${...}`) and comments are kept; the `src/mprabench` lines of each stage are
replaced by its closure, a whole folder where every module of it is imported. A stage that runs on
every repro (`always_changed`) lists no code.
tests/test_dvc_deps.py fails whenever the two drift apart.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

from tests.test_dvc_deps import ALWAYS_RUN, REPO, SRC, STAGE_MODULE, STAGES, import_closure

PACKAGE_ROOT = SRC / "mprabench"
NEXT_KEY = re.compile(r"\n    (#|params:|outs:|always_changed:|metrics:|plots:)")


def stage_closure(name: str) -> set[Path]:
    """The stage's modules, with every predictor's if it imports the one configured (predictors/resolve.py)."""
    return import_closure(STAGE_MODULE.search(STAGES[name]["cmd"]).group(1))


def as_deps(paths: set[Path]) -> list[str]:
    """Relative paths, with a folder standing for all its modules when all are imported."""
    chosen = set(paths)
    for folder in sorted({p.parent for p in paths} - {PACKAGE_ROOT}, key=lambda d: len(d.parts)):
        modules = set(folder.glob("*.py"))
        if modules and modules <= paths:
            chosen = (chosen - modules) | {folder}
    chosen = {p for p in chosen if not any(other != p and other in p.parents for other in chosen)}
    return sorted(str(p.relative_to(REPO)) for p in chosen)


def with_code_deps(text: str, name: str, deps: list[str]) -> str:
    start = text.index("    deps:\n", text.index(f"\n  {name}:\n"))
    end = start + len("    deps:\n") + NEXT_KEY.search(text[start + len("    deps:\n") - 1:]).start() - 1
    kept = [line for line in text[start:end].split("\n")[1:] if line.strip() and "src/mprabench" not in line]
    lines = ["    deps:", *kept, *(f"      - {dep}" for dep in deps)]
    return text[:start] + "\n".join(lines) + text[end:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite dvc.yaml")
    args = parser.parse_args()
    path = REPO / "dvc.yaml"
    old = text = path.read_text()
    for name in sorted(set(STAGES) - ALWAYS_RUN):  # a stage that always runs lists no code (dvc.yaml says why)
        text = with_code_deps(text, name, as_deps(stage_closure(name)))
    if args.write:
        path.write_text(text)
    sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True), "dvc.yaml", "dvc.yaml"))


if __name__ == "__main__":
    main()
