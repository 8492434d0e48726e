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


# Wings from the lowest to the highest: an import may only run to the same level or lower. "base" is core's own
# top-level modules (errors, settings, types, …); core/__main__.py, the entry point, sits above everything.
WING_LEVELS = {"base": 0, "models": 1, "tracing": 2, "data": 2, "measures": 2, "results": 3, "studies": 4,
               "corpus": 5, "viz": 5, "training": 5, "classroom": 5, "lens": 6, "cli": 7, "__main__": 8}


def _modules(folder: Path, root: Path = ROOT) -> dict[str, Path]:
    return {".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p
            for p in folder.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Every module `path` imports: at module level, inside functions (deferred) and under TYPE_CHECKING alike —
    a deferred import is still an arrow, and a circle through one is still a circle."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def _wing(module: str, package: Path) -> str:
    parts = module.split(".")
    if parts[-1] == "__main__":
        return "__main__"
    return parts[1] if len(parts) > 1 and (package / parts[1]).is_dir() else "base"


def import_graph(package: Path, root: Path = ROOT) -> nx.DiGraph:
    modules = _modules(package, root)
    graph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_node(name)
        graph.add_edges_from((name, i) for i in _imports(path) if i in modules and i != name)
    return graph


def layering_problems(package: Path, root: Path = ROOT) -> list[str]:
    """Circles between modules (deferred imports included), circles between wings, and arrows from a lower wing
    to a higher one."""
    graph = import_graph(package, root)
    problems = [" → ".join(c) for c in nx.simple_cycles(graph)]
    wings = nx.DiGraph()
    for a, b in graph.edges:
        wa, wb = _wing(a, package), _wing(b, package)
        if wa != wb:
            wings.add_edge(wa, wb)
            if WING_LEVELS.get(wb, 0) > WING_LEVELS.get(wa, 0):
                problems.append(f"{a} → {b} (from {wa} up to {wb})")
    problems += ["wings " + " → ".join(c) for c in nx.simple_cycles(wings)]
    return problems


def test_core_has_its_wings_as_folders():
    wings = {p.name for p in CORE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert {"models", "tracing", "data", "measures", "results", "studies", "viz", "training", "cli", "lens"} <= wings
    assert wings <= set(WING_LEVELS), wings - set(WING_LEVELS)  # a new wing needs its level
    for wing in wings:  # no one-file packages
        assert len([p for p in (CORE / wing).glob("*.py") if p.name != "__init__.py"]) >= 2, wing


def test_no_circle_no_upward_arrow_and_no_streamlit_below_core():
    for name, path in _modules(CORE).items():
        imported = _imports(path)
        assert not any(i == "streamlit" or i.startswith("streamlit.") for i in imported), name
    assert layering_problems(CORE) == []


def test_the_layering_check_finds_a_deferred_circle_and_an_upward_arrow(tmp_path):
    """A planted package: studies.a imports viz.b inside a function (deferred, upward), viz.b imports studies.a
    at module level — one circle through a deferred import, one arrow up, one circle between wings."""
    for folder in ("core/studies", "core/viz"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "core/__init__.py").write_text("")
    (tmp_path / "core/studies/a.py").write_text("def f():\n    from core.viz.b import g\n    return g\n")
    (tmp_path / "core/viz/b.py").write_text("from core.studies.a import f\n\ndef g():\n    return f\n")
    problems = layering_problems(tmp_path / "core", tmp_path)
    assert any("core.studies.a → core.viz.b (from studies up to viz)" == p for p in problems), problems
    assert any(set(p.split(" → ")) == {"core.studies.a", "core.viz.b"} for p in problems), problems
    assert any(p.startswith("wings ") for p in problems), problems
    (tmp_path / "core/studies/a.py").write_text("def f():\n    return 1\n")  # the arrow removed: clean
    assert layering_problems(tmp_path / "core", tmp_path) == []


# Code that decides by a family, an architecture or a model's source, or builds a Hub id, outside the adapters and
# the registry's data: each is family knowledge in the wrong place.
FAMILY_LITERALS = re.compile(r'family (==|!=|in) [("]|architecture (==|!=|in) [("]|\.source (==|!=|in) [("]'
                             r'|(==|!=) "moefied"|"moefied" (==|!=)|f"google/|startswith\("google/')


def family_literal_hits(files: list[Path]) -> list[str]:
    return [f"{p.name}:{i}" for p in files for i, line in enumerate(p.read_text().splitlines(), 1)
            if FAMILY_LITERALS.search(line)]


def test_no_family_switch_outside_the_adapters():
    files = [p for folder in ("core", "ui", "app_pages") for p in (ROOT / folder).rglob("*.py")
             if "adapters" not in p.parts and p != CORE / "models" / "registry.py"]
    assert not family_literal_hits(files), family_literal_hits(files)


def test_the_family_check_finds_planted_literals(tmp_path):
    planted = {"a.py": 'if entry.source == "moefied":\n    pass\n', "b.py": 'name = f"google/switch-base-{e}"\n',
               "c.py": 'ok = loaded.family in ("mixtral", "olmoe")\n', "d.py": "if entry.moefied:\n    pass\n"}
    for name, text in planted.items():
        (tmp_path / name).write_text(text)
    hits = family_literal_hits(sorted(tmp_path.glob("*.py")))
    assert [h.split(":")[0] for h in hits] == ["a.py", "b.py", "c.py"], hits


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


PAGE_ALLOWED = ("core.lens", "core.viz", "core.errors", "core.settings", "core.types")


def pages_past_the_lens(folder: Path) -> list[str]:
    """Imports of core a page makes beyond the public layer (the Lens and what it exports, figure builders, errors,
    settings, types): each is something a notebook user would miss next."""
    hits = []
    for path in sorted(folder.glob("*.py")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            m = re.match(r"\s*(?:from|import) (core(?:\.\w+)*)", line)
            if m and not m.group(1).startswith(PAGE_ALLOWED) and m.group(1) != "core":
                hits.append(f"{path.name}:{i}: {m.group(1)}")
    return hits


def test_pages_use_only_the_public_layer_of_core(tmp_path):
    assert pages_past_the_lens(ROOT / "app_pages") == []
    (tmp_path / "page.py").write_text("from core.lens import Lens\nfrom core.results.store import Results\n"
                                      "def f():\n    from core.studies.paper import CITATION\n")
    assert [h.split(": ")[1] for h in pages_past_the_lens(tmp_path)] == ["core.results.store", "core.studies.paper"]
