"""Every import is of something `pyproject.toml` declares (or the standard library, or our own code).

A package that arrives only as another package's dependency can vanish in that package's next
release: mitmproxy 12.3 replaced `zstandard` with `backports.zstd`, and our imports of `zstandard`
broke on a fresh machine. The product's own code may import only the runtime dependencies; tests,
benchmarks and the sample-recording script may also import the `test` extra.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
OWN = {"proxy_addons"}
# Loaded only by pytest (the `pytest11` entry point), so it may use the test runner it plugs into.
PYTEST_ONLY = {ROOT / "proxy_addons" / "integrations" / "pytest_plugin.py"}


def _name(requirement: str) -> str:
    """The normalised distribution name of a PEP 508 requirement (`PyYAML>=6` → `pyyaml`)."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement).group()).lower()


def _top_level_names(distributions: set[str]) -> set[str]:
    """The import names the installed `distributions` provide (vcrpy → vcr, PyYAML → yaml)."""
    names = set()
    for top, owners in metadata.packages_distributions().items():
        if any(_name(owner) in distributions for owner in owners):
            names.add(top)
    return names


RUNTIME = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
TEST = RUNTIME | {_name(r) for r in PYPROJECT["project"]["optional-dependencies"]["test"]}


def _imports(path: Path) -> set[str]:
    """Top-level names of every absolute import in a file, function-level and TYPE_CHECKING ones too."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
            found.add(node.module.partition(".")[0])
    return found


def _files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _undeclared(paths: list[Path], allowed: set[str], local: set[str]) -> list[str]:
    stdlib = set(sys.stdlib_module_names)
    problems = []
    for path in paths:
        for name in sorted(_imports(path) - stdlib - OWN - local - allowed):
            problems.append(f"{path.relative_to(ROOT)} imports {name}, which pyproject.toml does not declare")
    return problems


def test_every_declared_dependency_is_installed_and_named():
    # Otherwise the check below would pass for want of knowing a declared package's import names.
    for distribution in TEST:
        assert _top_level_names({distribution}) or distribution == "ruff", distribution


def test_the_product_imports_only_its_runtime_dependencies():
    product = [p for p in _files("proxy_addons") if p not in PYTEST_ONLY]
    assert len(product) > 20  # the walk found the package
    assert _undeclared(product, _top_level_names(RUNTIME), set()) == []


def test_tests_benchmarks_and_scripts_import_only_declared_packages():
    paths = [*_files("tests", "benchmarks", "cassettes"), *PYTEST_ONLY]
    local = {p.stem for p in _files("tests", "benchmarks", "cassettes")}  # conftest, flows, …
    assert _undeclared(paths, _top_level_names(TEST), local) == []


@pytest.mark.parametrize(
    ("source", "missing"),
    [
        ("import zstandard\n", "zstandard"),
        ("def f():\n    from brotli import decompress\n", "brotli"),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import referencing_x\n", "referencing_x"),
        ("import json, yaml\nfrom proxy_addons import model\nfrom . import sibling\n", None),
    ],
)
def test_the_check_finds_undeclared_imports_wherever_they_are(tmp_path, monkeypatch, source, missing):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "x.py").write_text(source)
    expected = [f"x.py imports {missing}, which pyproject.toml does not declare"] if missing else []
    assert _undeclared([tmp_path / "x.py"], _top_level_names(RUNTIME), set()) == expected


def test_the_license_file_is_the_one_pyproject_names():
    """pyproject says Apache-2.0; the repository and its distributions carry that license's text."""
    root = Path(__file__).resolve().parent.parent
    declared = tomllib.loads((root / "pyproject.toml").read_text())["project"]["license"]
    assert declared == "Apache-2.0"
    text = (root / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
