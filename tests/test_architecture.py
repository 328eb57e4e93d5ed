"""Layering rules of docs/architecture.md, checked on the source with ast (no imports executed)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "edtech"
PAGES = ROOT / "app_pages"

# The layers of docs/architecture.md, by folder name; everything else under edtech/ is a capability
# (roi, adoption, risk, budget, report, evidence, ...), found from the folders themselves.
FOUNDATION = {"core": {"core"}, "ingest": {"core", "ingest"}, "store": {"core", "ingest", "store"}}
FRONT = {"services", "cli", "sample"}


def packages() -> list[str]:
    return sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists())


def capabilities() -> set[str]:
    return set(packages()) - set(FOUNDATION) - FRONT


def allowed(layer: str) -> set[str]:
    """edtech sub-packages a module in `layer` may import."""
    if layer in FOUNDATION:
        return FOUNDATION[layer]
    if layer == "sample":
        return {"core", "ingest", "sample"}
    if layer == "services":
        return set(packages()) - {"cli"}
    if layer == "cli":
        return {"core", "services", "cli"}
    return {"core"} | capabilities()          # capabilities are pure: frames in, frames out


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


def layer_of(path: Path) -> str | None:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else None


def test_there_is_something_to_check() -> None:
    assert {"core", "ingest", "store", "services", "cli"} <= set(packages())
    assert {"roi", "adoption", "risk", "budget", "report"} <= capabilities()
    assert len(package_files()) > 30


@pytest.mark.parametrize("path", package_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_edtech_never_imports_streamlit(path: Path) -> None:
    bad = [(line, m) for line, m in imported_modules(path) if m == "streamlit" or m.startswith("streamlit.")]
    assert not bad, f"{path.relative_to(ROOT)} imports streamlit at line(s) {[line for line, _ in bad]}"


@pytest.mark.parametrize("path", [p for p in package_files() if layer_of(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_each_layer_imports_only_the_layers_below_it(path: Path) -> None:
    layer = layer_of(path)
    ok = allowed(layer)
    bad = sorted({(line, m) for line, m in imported_modules(path)
                  if m.startswith("edtech.") and len(m.split(".")) > 1 and m.split(".")[1] in packages()
                  and m.split(".")[1] not in ok})
    assert not bad, f"{path.relative_to(ROOT)} ({layer}) may import only {sorted(ok)}; found {bad}"


@pytest.mark.parametrize("path", sorted(PAGES.glob("*.py")), ids=lambda p: p.name)
def test_pages_import_only_ui(path: Path) -> None:
    ours = [m for _, m in imported_modules(path) if m.split(".")[0] in {"edtech", "ui"}]
    bad = [m for m in ours if not m.startswith("ui")]
    assert not bad, f"{path.name} imports {bad}: pages read widgets, call ui.cache and render"


@pytest.mark.parametrize("path", [*package_files(), *sorted((ROOT / "ui").glob("*.py")), *sorted(PAGES.glob("*.py"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_names_imported_across_modules(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = [(node.lineno, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
           and (node.module or "").split(".")[0] in {"edtech", "ui", "tests"}
           for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert not bad, f"{path.relative_to(ROOT)} imports private names {bad}"


def test_the_checker_catches_violations(tmp_path: Path) -> None:
    """The rules above can fail: each spelling of a forbidden import is seen."""
    samples = {
        "a.py": "import streamlit as st\n",
        "b.py": "from streamlit.runtime import x\n",
        "c.py": "from edtech.store import data\n",
        "d.py": "from . import data\n",
        "e.py": "import edtech.store.data as d\n",
        "f.py": "def f():\n    import importlib\n    return importlib.import_module('streamlit')\n",
    }
    seen = {}
    for name, code in samples.items():
        (tmp_path / name).write_text(code)
        seen[name] = [m for _, m in imported_modules(tmp_path / name, package="edtech.roi")]
    assert "streamlit" in seen["a.py"] and "streamlit.runtime" in seen["b.py"] and "streamlit" in seen["f.py"]
    assert "edtech.store.data" in seen["c.py"] and "edtech.store.data" in seen["e.py"]
    assert "edtech.roi.data" in seen["d.py"]
    assert "store" not in allowed("roi") and "services" not in allowed("store") and allowed("core") == {"core"}
