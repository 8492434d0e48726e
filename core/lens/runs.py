"""Runs that end in files: the paper's analyses with their report, and where the newest saved result of a model is.
Orchestration lives here, above the figures it writes, so nothing below core/lens imports core/viz."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.analysis.reproduce import reproduce as compute_and_save
from core.analysis.reproduce import saved_results
from core.analysis.results import Results, result_model_names
from core.tracing.tracer import Tracer
from core.viz.report import write_report


def reproduce(tracers: Sequence[Tracer], out: Path, *, report: bool = True, **options: Any) -> Results:
    """Tables 1–2, Figures 1–3, the claims (and with `sensitivity=True` the sensitivity table) for these models,
    saved atomically to `out` with a self-contained report.html unless `report=False`. `options`: those of
    core.analysis.reproduce.reproduce (data_dir, limit, seed, progress, decoder_read, sensitivity, retrace, fmt)."""
    return compute_and_save(tracers, out, extra=write_report if report else None, **options)


def newest_result(model: str) -> Path | None:
    """The newest saved result folder that holds `model` (the user's own runs first, then the bundled results)."""
    for folder in saved_results():
        if model in result_model_names(folder):
            return folder
    return None
