"""dvc.yaml and the code agree: every module a stage runs is one of that stage's deps.

Each stage's import closure is derived from the source (every `import` of `mprabench`,
also those inside functions), so editing any module a stage runs makes DVC rerun it. That no
package module imports a test double is tests/test_package_boundary.py's job.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

SRC = REPO / "src"
PACKAGE = "mprabench"
STAGE_MODULE = re.compile(r"python -m (mprabench(?:\.\w+)+)")


def module_path(module: str) -> Path | None:
    """The file of a `mprabench...` module or package, or None if it does not exist."""
    base = SRC.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except the bodies of `if TYPE_CHECKING:` blocks (imports for type hints only)."""
    skipped = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
               and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
               for stmt in block.body for node in ast.walk(stmt)}
    return [node for node in ast.walk(tree) if id(node) not in skipped]


def imported_modules(path: Path) -> set[str]:
    """The `mprabench` modules a file imports, including `from package import submodule`."""
    found: set[str] = set()
    for node in runtime_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if module_path(f"{node.module}.{alias.name}"))
    return found


def with_parent_packages(module: str) -> set[str]:
    """Importing a.b.c runs a/__init__ and a/b/__init__ too."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def import_closure(module: str) -> set[Path]:
    """Every source file that `python -m module` executes from the package."""
    seen: set[str] = set()
    pending = [module]
    while pending:
        for name in with_parent_packages(pending.pop()) - seen:
            seen.add(name)
            path = module_path(name)
            if path is not None:
                pending.extend(imported_modules(path))
    return {path for name in seen if (path := module_path(name)) is not None}


def stage_definitions() -> dict[str, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def dep_paths(stage: dict) -> list[Path]:
    return [REPO / (dep if isinstance(dep, str) else next(iter(dep))) for dep in stage.get("deps", [])]


def is_covered(path: Path, deps: list[Path]) -> bool:
    return any(path == dep or dep in path.parents for dep in deps)


STAGES = {name: stage for name, stage in stage_definitions().items() if STAGE_MODULE.search(stage["cmd"])}


def test_every_stage_runs_a_package_module():
    assert STAGES, "no stage runs `python -m mprabench...`"
    for name, stage in stage_definitions().items():
        assert STAGE_MODULE.search(stage["cmd"]), f"stage {name} runs no package module: {stage['cmd']}"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_cover_its_import_closure(name):
    stage = STAGES[name]
    module = STAGE_MODULE.search(stage["cmd"]).group(1)
    closure = import_closure(module)
    assert module_path(module) in closure
    uncovered = sorted(str(p.relative_to(REPO)) for p in closure if not is_covered(p, dep_paths(stage)))
    assert not uncovered, (f"stage {name} runs modules that are not among its deps in dvc.yaml: {uncovered}; "
                           "`.venv/bin/python -m scripts.sync_dvc_deps --write` rewrites them")


def test_closure_follows_imports_inside_functions(tmp_path):
    """The walker sees a lazy import (the kind a stage uses for heavy optional libraries)."""
    closure = import_closure("mprabench.stages.prepare")
    assert SRC / "mprabench" / "dna.py" in closure
    assert SRC / "mprabench" / "__init__.py" in closure


def test_every_registered_predictor_is_among_the_predict_stage_deps():
    """The registry imports predictor modules by name (importlib), which the walker cannot see."""
    from mprabench.predictors.registry import PREDICTORS

    deps = dep_paths(STAGES["predict"])
    for name, registration in PREDICTORS.items():
        module = registration.target.partition(":")[0]
        uncovered = sorted(str(p.relative_to(REPO)) for p in import_closure(module) if not is_covered(p, deps))
        assert not uncovered, f"predictor {name} runs modules that are not among predict's deps: {uncovered}"


def test_type_checking_imports_are_not_followed(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import mprabench.report\n"
                      "def f():\n    import mprabench.dna\n")
    assert imported_modules(source) == {"mprabench.dna"}
