"""The import rules docs/ARCHITECTURE.md states, checked on every import of the package.

Imports are read from the source (ast), also those inside functions; `if TYPE_CHECKING:` imports
(annotations only) are not. A rule names modules by prefix: `mprabench.plots` is the package
and every module in it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pytest

from tests.test_dvc_deps import SRC, imported_modules

PACKAGE_DIR = SRC / "mprabench"

FOUNDATIONS = ("errors", "settings", "schema", "feature_names", "provenance", "dna", "files", "fasta",
               "sources.locations")
INPUTS = ("sources", "names", "counts", "activity", "design", "genome", "sequences", "experiments", "local_inputs")
PRESENTATION = ("plots", "report", "report_html", "results_table", "tracking")
# Predictors that may import stats/ (ARCHITECTURE.md: the trained baseline's refit null).
PREDICTORS_USING_STATS = ("predictors.kmer",)
# The stages that run a predictor: they import predictors/ (and only through predictors/resolve).
PREDICTOR_STAGES = ("stages.predict", "stages.local_inputs")


def _name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def graph() -> dict[str, frozenset[str]]:
    """Every package module -> the package modules it imports (the package root `mprabench` left out)."""
    return {_name(path): frozenset(m for m in imported_modules(path) if m != "mprabench")
            for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def full(prefixes: Iterable[str]) -> tuple[str, ...]:
    return tuple(f"mprabench.{p}" for p in prefixes)


def within(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in full(prefixes))


def violations(importers: Iterable[str], forbidden: Iterable[str]) -> list[str]:
    """`module imports target` for each module under an importer prefix and target under a forbidden one."""
    importers = tuple(importers)
    return imports_of({m for m in graph() if within(m, importers)}, forbidden)


def imports_of(modules: set[str], forbidden: Iterable[str]) -> list[str]:
    forbidden = tuple(forbidden)
    return sorted(f"{module} imports {target}" for module in modules
                  for target in graph()[module] if within(target, forbidden))


def test_the_graph_covers_the_package():
    assert {"mprabench.config", "mprabench.stages.predict", "mprabench.predictors.resolve"} <= set(graph())
    assert "mprabench.settings" in graph()["mprabench.config"]


def test_there_is_no_import_cycle():
    """Tarjan's strongly connected components of the import graph: each must be one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph().get(module, ()):
            if target not in graph():
                continue
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in graph():
        if module not in index:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


def test_foundations_import_only_foundations():
    foundations = {m for m in graph() if within(m, FOUNDATIONS)}
    others = set(graph()) - foundations - {"mprabench", "mprabench.sources"}  # packages holding foundations
    assert not imports_of(foundations, [m.removeprefix("mprabench.") for m in others])


def test_config_imports_only_errors_and_settings():
    assert graph()["mprabench.config"] <= set(full(["errors", "settings"])), graph()["mprabench.config"]


def test_inputs_import_no_statistics_predictor_evaluation_presentation_or_stage():
    assert not violations(INPUTS, ["stats", "predictors", "evaluation", *PRESENTATION, "stages"])


def test_predictors_import_no_evaluation_presentation_or_stage():
    assert not violations(["predictors"], ["evaluation", *PRESENTATION, "stages"])


def test_predictors_import_statistics_only_where_documented():
    others = {m for m in graph() if within(m, ["predictors"]) and not within(m, PREDICTORS_USING_STATS)}
    assert not imports_of(others, ["stats"])


def test_statistics_import_no_settings_predictor_headline_evaluation_presentation_or_stage():
    assert not violations(["stats"], ["config", "predictors", "headline", "evaluation", *PRESENTATION, "stages"])


def test_the_headline_contract_imports_only_statistics_and_foundations():
    """headline sits above stats/ (an entry names the functions that compute and simulate it), below the rest."""
    assert not violations(["headline"], ["config", *INPUTS, "predictors", "evaluation", *PRESENTATION, "stages"])


def test_evaluation_and_presentation_import_no_predictor_or_stage():
    assert not violations(["evaluation", *PRESENTATION], ["predictors", "stages"])


def test_only_the_stages_that_run_a_predictor_import_predictors_and_only_through_resolve():
    outside = {m for m in graph() if not within(m, ["predictors", *PREDICTOR_STAGES])}
    assert not imports_of(outside, ["predictors"])
    for stage in full(PREDICTOR_STAGES):
        assert "mprabench.predictors.resolve" in graph()[stage]


def test_nothing_imports_a_stage():
    outside = {m for m in graph() if not within(m, ["stages"])}
    assert not imports_of(outside, ["stages"])


@pytest.mark.parametrize("path", sorted(PACKAGE_DIR.rglob("*.py")), ids=lambda p: _name(p))
def test_only_stages_load_params(path):
    """Library functions take their settings as arguments; reading params.yaml is a stage's job."""
    if within(_name(path), ["stages", "config"]):
        return
    tree = ast.parse(path.read_text(), filename=str(path))
    loads = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
             and any(alias.name == "load_params" for alias in node.names)]
    assert not loads, f"{path}: imports load_params at line(s) {loads}"


def packages_loaded_by(module: str) -> set[str]:
    """The top-level packages a fresh interpreter holds after importing `module` (a stage's start-up)."""
    code = f"import sys, {module}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())


def test_the_report_stage_imports_no_scientific_stack():
    """It only reads the other stages' files; scipy.stats, statsmodels and sklearn would cost every run about
    a second of start-up (benchmarks/bench_demo.py)."""
    loaded = packages_loaded_by("mprabench.stages.report") & {"scipy", "statsmodels", "sklearn"}
    assert not loaded, f"the report stage imports {sorted(loaded)}"


def test_the_always_run_local_inputs_stage_imports_no_pandas():
    """It runs on every `dvc repro` and `dvc exp run` and only fingerprints files; pandas would cost each run
    about 0.3 s of start-up."""
    assert "pandas" not in packages_loaded_by("mprabench.stages.local_inputs"), "the local_inputs stage imports pandas"


def test_the_document_states_the_rules_checked_here():
    text = (PACKAGE_DIR.parents[1] / "docs" / "ARCHITECTURE.md").read_text()
    for words in ("no import cycle", "only stages call `load_params`", "only from `kmer`",
                  "`stages/predict` and `stages/local_inputs`", "imports no scipy, statsmodels or",
                  "`local_inputs`, which runs on every repro, imports no pandas",
                  "tests/test_architecture.py"):
        assert words in text, words
