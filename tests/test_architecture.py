"""The layout DESIGN's target asks for, checked on the code itself: wings as folders, no import cycle, no
streamlit below core/, family knowledge only in the adapters, modules of readable size."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core"
MAX_MODULE_LINES = 300


def _modules(folder: Path) -> dict[str, Path]:
    return {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
            for p in folder.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Modules imported at module level (imports inside functions are deferred and cannot form a load cycle)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def test_core_has_its_wings_as_folders():
    wings = {p.name for p in CORE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert {"models", "tracing", "analysis", "viz", "training", "cli"} <= wings
    for wing in wings:  # no one-file packages
        assert len([p for p in (CORE / wing).glob("*.py") if p.name != "__init__.py"]) >= 2, wing


def test_no_import_cycle_and_no_streamlit_below_core():
    modules = _modules(CORE)
    graph = nx.DiGraph()
    for name, path in modules.items():
        imported = _imports(path)
        assert not any(i == "streamlit" or i.startswith("streamlit.") for i in imported), name
        graph.add_node(name)
        graph.add_edges_from((name, i) for i in imported if i in modules and i != name)
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, cycles


def test_no_family_switch_outside_the_adapters():
    pattern = re.compile(r'family (==|!=) "|architecture (==|!=) "')
    hits = [f"{p.relative_to(ROOT)}:{i}" for folder in ("core", "ui", "app_pages") for p in (ROOT / folder).rglob("*.py")
            if "adapters" not in p.parts
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, hits


@pytest.mark.parametrize("folder", ["core", "ui", "app_pages"])
def test_modules_stay_readable(folder):
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / folder).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, long


def test_product_text_never_points_outside_the_repository():
    texts = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "app_pages").rglob("*.py"),
             *(ROOT / "core").rglob("*.py"), *(ROOT / "ui").rglob("*.py")]
    hits = [str(p.relative_to(ROOT)) for p in texts if re.search(r"DESIGN(\.md| §)|\.\./shared/DESIGN", p.read_text())]
    assert not hits, hits
