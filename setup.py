"""The wheel's data: the bundled demo models and the bundled results go to <prefix>/share/routing-lens/, where an
installed Routing Lens finds them (core.settings). Everything else is in pyproject.toml."""
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent


def data_files() -> list[tuple[str, list[str]]]:
    out = []
    for top in ("models", "results"):
        for folder in sorted(p for p in (ROOT / top).rglob("*") if p.is_dir()) + [ROOT / top]:
            files = sorted(str(f.relative_to(ROOT)) for f in folder.iterdir() if f.is_file())
            if files:
                out.append((f"share/routing-lens/{folder.relative_to(ROOT)}", files))
    return out


setup(data_files=data_files())
