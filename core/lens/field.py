"""The field's studies as one use case: compute over a corpus run (and its checkpoints), save Parquet and
report.html together. Shared by `python -m core studies` and notebooks."""
from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from core.corpus.field_studies import STUDIES, FieldStudies, compute
from core.settings import REPO_ROOT
from core.viz.studies_report import render

BUNDLED_STUDIES = REPO_ROOT / "results" / "studies"


def run_studies(run_dir: Path, out: Path | None = None, checkpoints: Sequence[Path] | None = None,
                capacity_factor: float = 2.0, progress: Callable[[str], None] | None = None
                ) -> tuple[FieldStudies, Path]:
    """Every study over `run_dir`, written to `out` (default RUN_DIR/studies) with its report.html."""
    studies = compute(Path(run_dir), checkpoints, capacity_factor, progress=progress)
    out = Path(out) if out else Path(run_dir) / STUDIES
    studies.save(out, extra=lambda tmp: (tmp / "report.html").write_text(render(studies), encoding="utf-8"))
    return studies, out


def studies_folders(corpus_root: Path) -> list[Path]:
    """Studies the Experts page can open: the user's (RUN/studies under the corpus folder, newest first), then the
    bundled ones."""
    def complete(p: Path) -> bool:
        return (p / "meta.parquet").is_file()

    mine = sorted((p for p in corpus_root.glob(f"*/{STUDIES}") if complete(p)) if corpus_root.is_dir() else [],
                  key=lambda p: p.stat().st_mtime, reverse=True)
    bundled = sorted((p for p in BUNDLED_STUDIES.glob("*/") if complete(p)) if BUNDLED_STUDIES.is_dir() else [],
                     key=lambda p: (-_series_length(p), p.name))  # a checkpoint series first: every tab has figures
    return mine + bundled


def _series_length(folder: Path) -> int:
    """Checkpoints in a studies folder; cached per modification time, since the Studies view lists on every view."""
    meta = folder / "meta.parquet"
    return _series_length_of(str(meta), meta.stat().st_mtime)


@functools.lru_cache(maxsize=64)
def _series_length_of(meta: str, _mtime: float) -> int:
    try:
        return len(json.loads(pd.read_parquet(meta).checkpoints.iloc[0]))
    except (OSError, ValueError, KeyError, IndexError):
        return 0
