"""One call for the whole analysis: data → traces → frames → CSVs + report.html (CLI and app share it)."""
from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from core.analysis import datadir
from core.analysis.experiments import BenchmarkData, ProgressFactory, Results, no_progress, run
from core.analysis.wordnet import sense_counts, wordnet_setup
from core.settings import cache_dir
from core.tracing.tracer import Tracer
from core.types import DecoderRead
from core.viz.report import write_report


def reproduce(tracers: Sequence[Tracer], out: Path, data_dir: Path | str | None = None, limit: int | None = None,
              seed: int = 0, progress: ProgressFactory = no_progress, decoder_read: DecoderRead = "input") -> Results:
    """`data_dir`: the benchmark data folder (default: see core.analysis.datadir); WordNet's lexnames is read from
    there too, so a run whose data lives only there still finds it."""
    root = datadir.data_dir(data_dir)
    data = BenchmarkData.load(root, limit=limit, seed=seed)
    wordnet_setup(root)  # fail fast (before any tracing) when WordNet is not installed
    results = run(tracers, data, functools.partial(sense_counts, data_root=root), progress=progress,
                  decoder_read=decoder_read)
    results.save(out)
    write_report(results, out)
    return results


def results_dir(model_keys: list[str], limit: int | None, seed: int = 0, decoder_read: DecoderRead = "input") -> Path:
    """Where the app keeps a run's outputs: one folder per (models, revisions, limit, seed, decoder reading)."""
    spec = [sorted(model_keys), limit, seed] + ([decoder_read] if decoder_read != "input" else [])
    key = hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:12]
    return cache_dir() / "results" / key


def saved_results() -> list[Path]:
    """Result folders the app can show, newest first."""
    root = cache_dir() / "results"
    found = [p for p in root.glob("*") if (p / "models.csv").is_file()] if root.is_dir() else []
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)
