"""Runs that end in files: the paper's analyses with their report, and where the newest saved result of a model is.
Orchestration lives here, above the figures it writes, so nothing below core/lens imports core/viz."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from core.corpus.stats import ExpertStats
from core.lens.compute import reproduce as compute_and_save
from core.lens.compute import results_dir, saved_results
from core.results.store import Results, has_models, result_model_names
from core.studies.claims import claims_frame
from core.tracing.tracer import Tracer
from core.types import DecoderRead
from core.viz.report import write_report


def reproduce(tracers: Sequence[Tracer], out: Path, *, report: bool = True, **options: Any) -> Results:
    """Tables 1–2, Figures 1–3, the claims (and with `sensitivity=True` the sensitivity table) for these models,
    saved atomically to `out` with a self-contained report.html unless `report=False`. `options`: those of
    core.lens.compute.reproduce (data_dir, limit, seed, progress, decoder_read, sensitivity, retrace, fmt)."""
    return compute_and_save(tracers, out, extra=write_report if report else None, **options)


def newest_result(model: str) -> Path | None:
    """The newest saved result folder that holds `model` (the user's own runs first, then the bundled results)."""
    for folder in saved_results():
        if model in result_model_names(folder):
            return folder
    return None


def run_folder(tracers: Sequence[Tracer], limit: int | None, *, seed: int = 0, decoder_read: DecoderRead = "input",
               sensitivity: bool = False) -> Path:
    """The app's folder for this run (core.lens.compute.results_dir), keyed by each model's weights and revision."""
    return results_dir([t.loaded.result_key for t in tracers], limit, seed, decoder_read, sensitivity)


def already_saved(folder: Path) -> bool:
    """Whether a complete result is saved in `folder` (a shared server shows it instead of computing it again)."""
    return has_models(folder)


def word_specialisation(stats: ExpertStats | Path | str, word: str, stack: str, layer: int) -> pd.Series | None:
    """How consistently a corpus routes `word` at one layer (core.corpus.stats.ExpertStats.word_specialisation):
    occurrences, top expert, its share and Wilson CI; None when the statistics do not count it. `stats`: the
    statistics or their folder (`Lens.experts` writes run/stats)."""
    loaded = stats if isinstance(stats, ExpertStats) else ExpertStats.load_from(Path(stats))
    return loaded.word_specialisation(word, stack, layer)


def open_result(folder: Path) -> Results:
    """A saved result, its claims judged by the current rule: a result saved before claims carried a verdict (and
    its CI) has them judged again from its own frames, so no page shows a verdict that rests on a point estimate."""
    results = Results.load(Path(folder))
    if len(results.claims) and "verdict" not in results.claims.columns:
        results.claims = claims_frame(results)
    return results
