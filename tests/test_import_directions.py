"""The house's import directions (DESIGN.md, "Layout"), checked on every module's imports.

``shelfwise`` wires the apps; ``orders`` may use ``catalog``; every app may use
``tenants``, ``perf`` and ``core``; ``perf`` is a library that imports no ShelfWise
package, and ``tenants`` and ``core`` import no other app; ``benchmarks`` may import every
package, and nothing imports it but the thin commands that run it. Tests are exempt: they
set up whatever they exercise.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shelfwise", "core", "tenants", "catalog", "orders", "perf", "benchmarks")
APPS = ("shelfwise", "core", "tenants", "catalog", "orders", "perf")
# What each package may import of the others.
ALLOWED = {
    "core": set(),
    "perf": set(),
    "tenants": {"core", "perf"},
    "catalog": {"core", "tenants", "perf"},
    "orders": {"core", "tenants", "perf", "catalog"},
    "shelfwise": set(APPS),
    "benchmarks": set(PACKAGES),
}
# The only modules outside benchmarks that import it: the commands that run a bench, each
# argument parsing and one call into benchmarks.
RUN_BENCHMARKS = {
    "shelfwise/management/commands/bench.py",
    "shelfwise/management/commands/loadtest.py",
    "shelfwise/management/commands/silk_overhead.py",
}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & set(PACKAGES)


def _modules(package: str) -> list[Path]:
    return [
        path
        for path in sorted((ROOT / package).rglob("*.py"))
        if "tests" not in path.relative_to(ROOT).parts
    ]


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_run_one_way(package):
    wrong = {}
    for path in _modules(package):
        allowed = ALLOWED[package] | {package}
        if _name(path) in RUN_BENCHMARKS:
            allowed = allowed | {"benchmarks"}
        if extra := _imported_packages(path) - allowed:
            wrong[_name(path)] = sorted(extra)
    assert wrong == {}, f"{package} may import only {sorted(ALLOWED[package])}"


def test_the_check_sees_a_wrong_import(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text("from catalog.models import Book\n\ndef f():\n    import orders.services\n")
    assert _imported_packages(module) == {"catalog", "orders"}


def test_only_the_commands_that_run_benchmarks_import_them():
    runners = {
        _name(path)
        for package in APPS
        for path in _modules(package)
        if "benchmarks" in _imported_packages(path)
    }
    assert runners == RUN_BENCHMARKS
