"""Layering rules of docs/architecture.md, checked on the source with ast (no imports executed)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "edtech"
ANALYSIS = ("roi", "effects", "adoption", "equity", "risk", "budget", "optimize", "montecarlo")


def imported_modules(path: Path, package: str | None = None) -> list[tuple[int, str]]:
    """(line, dotted module) for every import in a file, relative imports resolved inside edtech."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    if package is None:
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # `from edtech import data` imports edtech.data
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def analysis_files() -> list[Path]:
    return [p for p in sorted(PACKAGE.glob("*.py")) if p.stem in ANALYSIS or p.stem.startswith("viz")]


def test_there_is_something_to_check() -> None:
    names = {p.stem for p in analysis_files()}
    assert {"roi", "adoption", "budget"} <= names
    assert len(package_files()) > 10


@pytest.mark.parametrize("path", package_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_edtech_never_imports_streamlit(path: Path) -> None:
    bad = [(line, m) for line, m in imported_modules(path) if m == "streamlit" or m.startswith("streamlit.")]
    assert not bad, f"{path.relative_to(ROOT)} imports streamlit at line(s) {[line for line, _ in bad]}"


@pytest.mark.parametrize("path", analysis_files(), ids=lambda p: p.name)
def test_analysis_modules_never_import_the_data_layer(path: Path) -> None:
    bad = [(line, m) for line, m in imported_modules(path) if m == "edtech.store.data" or m.startswith("edtech.data.")]
    assert not bad, f"{path.name} imports edtech.data at line(s) {[line for line, _ in bad]}: analysis stays pure"


def test_the_checker_catches_violations(tmp_path: Path) -> None:
    """The rules above can fail: each spelling of a forbidden import is seen."""
    samples = {
        "a.py": "import streamlit as st\n",
        "b.py": "from streamlit.runtime import x\n",
        "c.py": "from edtech import data\n",
        "d.py": "from . import data\n",
        "e.py": "import edtech.data as d\n",
        "f.py": "def f():\n    import importlib\n    return importlib.import_module('streamlit')\n",
    }
    seen = {}
    for name, code in samples.items():
        (tmp_path / name).write_text(code)
        seen[name] = [m for _, m in imported_modules(tmp_path / name, package="edtech.services")]
    assert "streamlit" in seen["a.py"] and "streamlit.runtime" in seen["b.py"] and "streamlit" in seen["f.py"]
    assert "edtech.store.data" in seen["c.py"] and "edtech.store.data" in seen["e.py"]
    assert "edtech.services.data" in seen["d.py"]
