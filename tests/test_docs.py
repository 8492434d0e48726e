"""The README is a front door and the documentation site holds the rest: the README stays short and its links
resolve, and the code map in docs/layout.md matches the tree (every folder it names exists, every top-level
entry, core wing and ui module is named)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 200


def _map() -> list[str]:
    text = (ROOT / "docs" / "layout.md").read_text()
    return re.search(r"## What is here\n\n```\n(.*?)```", text, re.S).group(1).splitlines()


def test_readme_is_a_front_door_whose_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert local and all((ROOT / link).exists() for link in local), [x for x in local if not (ROOT / x).exists()]


def test_the_code_map_matches_the_tree():
    lines = _map()
    top = {line.split()[0] for line in lines if line and not line[0].isspace()}
    for entry in top:
        assert (ROOT / entry).exists(), entry
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for first in {path.split("/")[0] for path in tracked}:
        named = first + "/" if (ROOT / first).is_dir() else first
        assert any(t.startswith(named) for t in top) or first in {".gitignore", "README.md", "requirements-dev.txt"}, \
            f"{named} not in the map"
    wings = {line.split()[0].rstrip("/") for line in lines if re.match(r"^  \S+/\s", line)}
    assert wings == {p.name for p in (ROOT / "core").iterdir() if p.is_dir() and p.name != "__pycache__"}
    ui_text = " ".join(line for line in lines if line.startswith(("ui/", " " * 20)))
    for module in (ROOT / "ui").glob("*.py"):
        if module.stem != "__init__":
            assert module.stem in ui_text, f"ui/{module.name} is not in the map"


def test_every_list_in_the_docs_renders_as_a_list():
    """Python-Markdown (what mkdocs uses) reads a list right after a paragraph line as more paragraph: every
    top-level list item written in README.md and docs/ must come out as an <li>."""
    import markdown

    item = re.compile(r"^([-*+]|\d+\.) ")
    for path in [Path("README.md"), *sorted(Path("docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        outside = re.sub(r"```.*?```", "", text, flags=re.S)  # fenced code is not Markdown
        written = sum(1 for line in outside.splitlines() if item.match(line))
        html = markdown.markdown(text, extensions=["tables", "admonition", "pymdownx.superfences"])
        assert html.count("<li>") + html.count("<li ") >= written, path


def test_every_screenshot_shown_is_one_the_script_makes():
    """scripts/screenshots.py rewrites docs/screenshots/ from the running app: every image the README and the docs
    show is one it makes (so none can go stale unnoticed), and every one it makes is committed."""
    import sys

    sys.path.insert(0, str(Path("scripts").resolve()))
    from screenshots import shot_names

    made = set(shot_names())
    shown = {m for path in [Path("README.md"), *Path("docs").glob("*.md")]
             for m in re.findall(r"screenshots/([\w.-]+\.png)", path.read_text(encoding="utf-8"))}
    assert shown and shown <= made, shown - made
    assert made == {p.name for p in Path("docs/screenshots").glob("*.png")}


def test_the_quickstart_notebook_is_committed_with_its_outputs():
    """examples/quickstart.ipynb reads on a code host: every code cell ran (scripts/render_notebook.py), no error,
    its figures as PNG images (a code host draws no plotly JSON)."""
    import nbformat

    nb = nbformat.read("examples/quickstart.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs and c.execution_count for c in code)
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
