"""One call for the whole analysis: data → traces → frames → CSVs + report.html (CLI and app share it)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from core.experiments import BenchmarkData, ProgressFactory, Results, _no_progress, run
from core.nltk_setup import sense_counts, wordnet_setup
from core.paths import cache_dir
from core.report import write_report


def reproduce(tracers, out: Path, data_dir: Path | None = None, limit: int | None = None, seed: int = 0,
              progress: ProgressFactory = _no_progress) -> Results:
    data = BenchmarkData.load(data_dir, limit=limit, seed=seed)
    wordnet_setup()  # fail fast (before any tracing) when WordNet is not installed
    results = run(tracers, data, sense_counts, progress=progress)
    results.save(out)
    write_report(results, out)
    return results


def results_dir(model_keys: list[str], limit: int | None, seed: int = 0) -> Path:
    """Where the app keeps a run's outputs: one folder per (models, revisions, limit, seed)."""
    key = hashlib.sha256(json.dumps([sorted(model_keys), limit, seed]).encode()).hexdigest()[:12]
    return cache_dir() / "results" / key


def saved_results() -> list[Path]:
    """Result folders the app can show, newest first."""
    root = cache_dir() / "results"
    found = [p for p in root.glob("*") if (p / "table1.csv").is_file()] if root.is_dir() else []
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)
