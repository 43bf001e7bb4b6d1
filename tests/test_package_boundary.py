"""The installed package never reaches into the test doubles or the benchmarks."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "src" / "mprabench"
OUTSIDE_THE_PACKAGE = ("tests", "benchmarks")


def imported_modules(path: Path) -> set[str]:
    """Absolute module names that one source file imports."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def test_no_package_module_imports_a_test_double_or_a_benchmark():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 20  # the walk found the package
    offending = {
        f"{path.relative_to(REPO)}: {module}"
        for path in sources
        for module in imported_modules(path)
        if module.split(".")[0] in OUTSIDE_THE_PACKAGE
    }
    assert not offending, f"move these imports out of the package: {sorted(offending)}"


def test_the_test_doubles_live_with_the_tests():
    assert not (PACKAGE / "testing").exists()
    assert (REPO / "tests" / "support" / "alphagenome" / "server.py").is_file()
