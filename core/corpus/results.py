"""Where corpus statistics live: the bundled demo-switch-8 on Brown (results/corpus/), and the user's runs
(cache/corpus/<run>/stats/)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from pyarrow.lib import ArrowException

from core.settings import REPO_ROOT, cache_dir

BUNDLED_CORPUS = "demo-switch-8-brown"


def bundled_stats_dir() -> Path:
    return REPO_ROOT / "results" / "corpus" / BUNDLED_CORPUS


def user_ablation_dir(model: str) -> Path:
    """Where `python -m core ablate` writes a model's ablation by default."""
    return cache_dir() / "ablation" / model.replace("/", "--")


def ablation_folder(model: str) -> Path | None:
    """The newest expert ablation of `model` (`python -m core ablate`): the user's, else the bundled one."""
    for folder in (user_ablation_dir(model),
                   REPO_ROOT / "results" / "ablation" / f"{model.replace('/', '--')}-brown"):
        if (folder / "ablation.parquet").is_file():
            return folder
    return None


def corpus_root() -> Path:
    return cache_dir() / "corpus"


def stats_folders() -> list[Path]:
    """Statistics folders the Experts page can open: the user's runs (newest first), then the bundled one."""
    root = corpus_root()
    mine = sorted((p for p in root.glob("*/stats") if (p / "meta.parquet").is_file()) if root.is_dir() else [],
                  key=lambda p: p.stat().st_mtime, reverse=True)
    bundled = [bundled_stats_dir()] if (bundled_stats_dir() / "meta.parquet").is_file() else []
    return mine + bundled


def label(folder: Path) -> str:
    try:
        meta = pd.read_parquet(folder / "meta.parquet").iloc[0]
    except (OSError, ValueError, IndexError, ArrowException):
        return folder.parent.name
    where = "bundled" if folder == bundled_stats_dir() else folder.parent.name
    return f"{meta.model} · {int(meta.tokens):,} tokens · {int(meta.domains)} domains · {where}"
