"""The house's import directions (DESIGN.md, "Layout"), checked on every module's imports.

``shelfwise`` wires the apps; ``orders`` may use ``catalog``; every app may use
``tenants``, ``perf`` and ``core``; ``perf`` is a library that imports no ShelfWise
package, and ``tenants`` and ``core`` import no other app. Tests are exempt: they set up
whatever they exercise.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shelfwise", "core", "tenants", "catalog", "orders", "perf")
# What each package may import of the others.
ALLOWED = {
    "core": set(),
    "perf": set(),
    "tenants": {"core", "perf"},
    "catalog": {"core", "tenants", "perf"},
    "orders": {"core", "tenants", "perf", "catalog"},
    "shelfwise": set(PACKAGES),
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


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_run_one_way(package):
    wrong = {
        path.relative_to(ROOT).as_posix(): sorted(imported - ALLOWED[package] - {package})
        for path in _modules(package)
        if (imported := _imported_packages(path)) - ALLOWED[package] - {package}
    }
    assert wrong == {}, f"{package} may import only {sorted(ALLOWED[package])}"


def test_the_check_sees_a_wrong_import(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text("from catalog.models import Book\n\ndef f():\n    import orders.services\n")
    assert _imported_packages(module) == {"catalog", "orders"}
