"""Where the project keeps things: bundled models, the runtime cache, the benchmark data."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_MODELS_DIR = REPO_ROOT / "models"


def cache_dir() -> Path:
    """Runtime cache (traces, trained models, datasets); `ROUTING_LENS_CACHE` overrides `cache/`."""
    return Path(os.environ.get("ROUTING_LENS_CACHE", REPO_ROOT / "cache"))
