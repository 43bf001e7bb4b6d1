"""dvc.yaml and the code agree: every module a stage runs is one of that stage's deps.

Each stage's import closure is derived from the source (every `import` of `mprabench`,
also those inside functions), so editing any module a stage runs makes DVC rerun it. A stage
that imports predictors/resolve.py imports the configured predictor's class by name, so its
closure holds every predictor conf/predictor/ names. That no package module imports a test
double is tests/test_package_boundary.py's job.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, compose_config

SRC = REPO / "src"
PACKAGE = "mprabench"
STAGE_MODULE = re.compile(r"python -m (mprabench(?:\.\w+)+)")
RESOLVER = "mprabench.predictors.resolve"  # imports the class `predictor._target_` names (importlib)


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


@cache
def predictor_modules() -> tuple[str, ...]:
    """The module of every predictor class conf/predictor/ names (`predictor._target_`)."""
    options = sorted(p.stem for p in (REPO / "conf" / "predictor").glob("*.yaml"))
    return tuple(sorted({compose_config([f"predictor={option}"])["predictor"]["_target_"].rpartition(".")[0]
                         for option in options}))


def import_closure(module: str) -> set[Path]:
    """Every source file that `python -m module` executes from the package (with any configured predictor)."""
    seen: set[str] = set()
    pending = [module]
    while pending:
        for name in with_parent_packages(pending.pop()) - seen:
            seen.add(name)
            path = module_path(name)
            if path is not None:
                pending.extend(imported_modules(path))
            if name == RESOLVER:
                pending.extend(predictor_modules())
    return {path for name in seen if (path := module_path(name)) is not None}


def stage_definitions() -> dict[str, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def dep_paths(stage: dict) -> list[Path]:
    return [REPO / (dep if isinstance(dep, str) else next(iter(dep))) for dep in stage.get("deps", [])]


def is_covered(path: Path, deps: list[Path]) -> bool:
    return any(path == dep or dep in path.parents for dep in deps)


STAGES = {name: stage for name, stage in stage_definitions().items() if STAGE_MODULE.search(stage["cmd"])}
# A stage DVC runs on every repro: code deps would change nothing but the hashing (local_inputs).
ALWAYS_RUN = {name for name, stage in STAGES.items() if stage.get("always_changed")}


def test_every_stage_runs_a_package_module():
    assert STAGES, "no stage runs `python -m mprabench...`"
    for name, stage in stage_definitions().items():
        assert STAGE_MODULE.search(stage["cmd"]), f"stage {name} runs no package module: {stage['cmd']}"


@pytest.mark.parametrize("name", sorted(set(STAGES) - ALWAYS_RUN))
def test_stage_deps_cover_its_import_closure(name):
    stage = STAGES[name]
    module = STAGE_MODULE.search(stage["cmd"]).group(1)
    closure = import_closure(module)
    assert module_path(module) in closure
    uncovered = sorted(str(p.relative_to(REPO)) for p in closure if not is_covered(p, dep_paths(stage)))
    assert not uncovered, (f"stage {name} runs modules that are not among its deps in dvc.yaml: {uncovered}; "
                           "`.venv/bin/python -m scripts.sync_dvc_deps --write` rewrites them")


def test_a_stage_that_always_runs_lists_no_code():
    """Its deps would not make it run more often (it always runs), only cost DVC a hash and a lock
    entry per module in every `dvc exp run`."""
    assert ALWAYS_RUN == {"local_inputs"}
    for name in ALWAYS_RUN:
        code = [str(p.relative_to(REPO)) for p in dep_paths(STAGES[name]) if SRC in p.parents]
        assert not code, f"stage {name} always runs; drop its code deps {code}"


def test_closure_follows_imports_inside_functions(tmp_path):
    """The walker sees a lazy import (the kind a stage uses for heavy optional libraries)."""
    closure = import_closure("mprabench.stages.prepare")
    assert SRC / "mprabench" / "dna.py" in closure
    assert SRC / "mprabench" / "__init__.py" in closure


def test_every_configured_predictor_is_among_the_predict_stage_deps():
    """resolve.py imports the predictor's module by name (importlib); the walker follows it from conf/."""
    deps = dep_paths(STAGES["predict"])
    assert "mprabench.predictors.gc" in predictor_modules()
    for module in predictor_modules():
        uncovered = sorted(str(p.relative_to(REPO)) for p in import_closure(module) if not is_covered(p, deps))
        assert not uncovered, f"predictor module {module} runs modules that are not among predict's deps: {uncovered}"


PREDICTOR_RUNNING_STAGES = {"predict", "local_inputs"}


@pytest.mark.parametrize("name", sorted(set(STAGES) - PREDICTOR_RUNNING_STAGES))
def test_editing_a_predictor_reruns_only_the_stages_that_run_one(name):
    """No module under predictors/ (a predictor, its settings schema, the interface) is a dep of a
    stage that runs no predictor, so DVC reruns such a stage only when predict's outputs change."""
    predictors = SRC / PACKAGE / "predictors"
    in_deps = [str(p.relative_to(REPO)) for p in dep_paths(STAGES[name]) if p == predictors or predictors in p.parents]
    in_closure = [str(p.relative_to(REPO)) for p in import_closure(STAGE_MODULE.search(STAGES[name]["cmd"]).group(1))
                  if predictors in p.parents]
    assert not in_deps and not in_closure, (name, in_deps, in_closure)


def test_the_stages_that_resolve_the_predictor_are_predict_and_the_always_run_local_inputs():
    """local_inputs imports the configured predictor (to fingerprint the local file it declares) but
    runs every time anyway, so a predictor edit makes it do nothing it would not do regardless."""
    resolver = module_path(RESOLVER)
    resolving = {name for name, stage in STAGES.items()
                 if resolver in import_closure(STAGE_MODULE.search(stage["cmd"]).group(1))}
    assert resolving == PREDICTOR_RUNNING_STAGES
    assert STAGES["local_inputs"].get("always_changed") is True


def test_the_sync_script_finds_dvc_yaml_in_sync():
    """docs/ARCHITECTURE.md's check: `python -m scripts.sync_dvc_deps` prints nothing when in sync."""
    result = subprocess.run([sys.executable, "-m", "scripts.sync_dvc_deps"], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_type_checking_imports_are_not_followed(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import mprabench.report\n"
                      "def f():\n    import mprabench.dna\n")
    assert imported_modules(source) == {"mprabench.dna"}
