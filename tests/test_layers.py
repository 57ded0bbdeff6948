"""Import direction, checked by parsing every module with ``ast``.

schema -> store, derive (one layer: a build derives) and filters -> queries -> stats -> tables/figures -> ui -> pages:
a module imports only from its own layer or the layers before it. ``streamlit`` only in
ui/, pages/ and app.py; ``plotly`` only in figures/; ``duckdb`` only in store, derive,
ingest and queries (through the store).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "dashboard"
RANK = {"i18n": 0, "schema": 0, "store": 1, "filters": 1, "derive": 1, "queries": 3, "stats": 4, "tables": 5, "figures": 5,
        "ui": 6}
APP_FILES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]


def _layer(path: Path) -> str | None:
    rel = path.relative_to(PKG).parts
    name = rel[0].removesuffix(".py")
    return name if name in RANK else None


def _imports(path: Path) -> list[tuple[str, int]]:
    """(absolute dotted module, line) for every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    pkg_parts = ["dashboard", *path.relative_to(PKG).parts[:-1]] if path.is_relative_to(PKG) else []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[: len(pkg_parts) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                if not node.module:  # from . import x
                    out += [(f"{mod}.{a.name}", node.lineno) for a in node.names]
                    continue
            else:
                mod = node.module or ""
            out.append((mod, node.lineno))
    return out


def _package_files() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


@pytest.mark.parametrize("path", _package_files(), ids=lambda p: str(p.relative_to(PKG)))
def test_package_imports_point_down(path):
    layer = _layer(path)
    problems = []
    for mod, line in _imports(path):
        top = mod.split(".")[0]
        if top == "streamlit" and layer != "ui":
            problems.append(f"line {line}: streamlit outside ui/")
        if top == "plotly" and layer != "figures":
            problems.append(f"line {line}: plotly outside figures/")
        if top == "duckdb" and layer not in {"store", "derive"} and "ingest" not in path.parts:
            problems.append(f"line {line}: duckdb outside store/derive/ingest")
        if layer is not None and mod.startswith("dashboard."):
            target = mod.split(".")[1]
            if target in RANK and RANK[target] > RANK[layer]:
                problems.append(f"line {line}: {layer} imports {target} (a later layer)")
    assert not problems, f"{path.relative_to(ROOT)}: " + "; ".join(problems)


@pytest.mark.parametrize("path", APP_FILES, ids=lambda p: p.name)
def test_pages_are_thin(path):
    """Pages and app.py use the ui layer only (plus streamlit), and stay short."""
    for mod, line in _imports(path):
        if mod.startswith("dashboard."):
            assert mod.split(".")[1] == "ui", f"{path.name} line {line}: pages import dashboard.ui only, not {mod}"
        else:
            assert mod.split(".")[0] in {"streamlit", "__future__"}, f"{path.name} line {line}: imports {mod}"
    assert len(path.read_text().splitlines()) <= 30, f"{path.name} is not thin"
