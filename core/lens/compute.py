"""One call for the whole analysis: data → traces → frames → saved outputs. The report is written by core.lens.runs,
which passes it as `extra`, so the computation never imports core.viz."""
from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from core.atomic_folder import write_folder
from core.data import datadir
from core.data.wordnet import sense_counts, wordnet_setup
from core.errors import DataError, InputError
from core.results.bundled import bundled_dir, bundled_sensitivity_dir
from core.results.run_info import RunInfo
from core.results.store import Note, ResultFormat, has_models
from core.settings import cache_dir
from core.studies.claims import claims_frame
from core.studies.controls import random_router_claims, run_controls
from core.studies.experiments import BenchmarkData, Results, run
from core.studies.sensitivity import Retrace, claims_with_survival, run_variants, sensitivity_table
from core.studies.targets import ProgressFactory, no_progress
from core.tracing.tracer import Tracer
from core.types import DecoderRead


def reproduce(tracers: Sequence[Tracer], out: Path, data_dir: Path | str | None = None, limit: int | None = None,
              seed: int = 0, progress: ProgressFactory = no_progress, decoder_read: DecoderRead = "input",
              sensitivity: bool = False, retrace: Retrace | None = None, fmt: ResultFormat = "csv",
              extra: Callable[[Results, Path], None] | None = None, controls: bool = False, swap: bool = False,
              open_questions: bool = False) -> Results:
    """`data_dir`: the benchmark data folder (default: see core.data.datadir); WordNet's lexnames is read from
    there too, so a run whose data lives only there still finds it. The paper's claims are always judged;
    `sensitivity` also reruns everything under each alternative choice (`retrace` gives a model in the other
    precision; without it precision is left out, with a note). `fmt`: the outputs as CSVs or Parquet files;
    `extra(results, folder)` writes more into the folder in the same atomic write (core.lens: report.html).
    `controls`: also the router-or-representation controls (core.studies.controls) and their claim; `swap`: the swap
    study (core.studies.swap) and its claim; `open_questions`: negation, multi-word expressions and word frequency
    (core.lens.open_questions) and their claims."""
    root = datadir.data_dir(data_dir)
    data = BenchmarkData.load(root, limit=limit, seed=seed)
    wordnet_setup(root)  # fail fast (before any tracing) when WordNet is not installed
    counts = functools.partial(sense_counts, data_root=root)
    results = run(tracers, data, counts, progress=progress, decoder_read=decoder_read)
    results.run_info = RunInfo([t.loaded.name for t in tracers], [str(t.loaded.revision) for t in tracers],
                               [str(t.loaded.dtype) for t in tracers], limit, seed, decoder_read, sensitivity,
                               controls=controls, swap=swap)
    results.claims = claims_frame(results)
    if controls:
        frames, notes = run_controls(tracers, data, progress, decoder_read)
        results.controls, results.controls_scws, results.controls_pairs = (
            frames["controls"], frames["controls_scws"], frames["controls_pairs"])
        results.notes += notes
    if sensitivity:
        variants, notes = run_variants(tracers, data, counts, results, retrace, progress, decoder_read)
        if retrace is None:
            notes.append(Note("Sensitivity to precision not computed: no way to reload the models was given."))
        results.sensitivity = sensitivity_table(results, variants)
        results.claims = claims_with_survival(results, variants)
        results.notes += notes
    if controls and len(results.controls):
        results.claims = pd.concat([results.claims, random_router_claims(results.controls)], ignore_index=True)
    if swap:
        run_swap(results, tracers, data.wic, progress)
    if open_questions:
        from core.lens.open_questions import run_open_questions

        answers = run_open_questions(tracers, results.polysemy, progress, seed)
        results.probes, results.frequency = answers["probes"], answers["frequency"]
        if len(answers["claims"]):
            results.claims = pd.concat([results.claims, answers["claims"]], ignore_index=True)
    save_atomically(results, Path(out), fmt, extra)
    return results


def run_swap(results: Results, tracers: Sequence[Tracer], wic: pd.DataFrame, progress: ProgressFactory) -> None:
    """The swap study on every model with a language-model head (loaded beside the tracer's), its claim added."""
    from core.models.loading import load_model
    from core.studies.swap import swap_claims, swap_study

    summaries, pairs = [], []
    for tracer in tracers:
        lm = tracer.loaded
        if lm.adapter.objective not in ("next token", "span corruption"):
            results.notes.append(Note(f"The swap study leaves out {lm.name}: no language-model head to measure an "
                                      "output on."))
            continue
        model = load_model(lm.name, dtype=lm.dtype, lm_head=True)
        advance = progress(f"{lm.name}: swap study", len(wic))
        try:
            per_pair, summary = swap_study(model, wic, lambda _done, _n, advance=advance: advance(1))
        except InputError as err:
            results.notes.append(Note(f"The swap study leaves out {lm.name}: {err}"))
            continue
        pairs.append(per_pair)
        summaries.append(summary)
    results.swap = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame()
    results.swap_pairs = pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame()
    if len(results.swap):
        results.claims = pd.concat([results.claims, swap_claims(results.swap)], ignore_index=True)


def save_atomically(results: Results, out: Path, fmt: ResultFormat = "csv",
                    extra: Callable[[Results, Path], None] | None = None) -> None:
    """Outputs (and `extra`'s files) written all at once (core.atomic_folder): an interrupted or failed write (disk
    full, kill -9) leaves the previous result or none, never a half-written one."""

    def fill(tmp: Path) -> None:
        results.save(tmp, fmt)
        if extra is not None:
            extra(results, tmp)

    try:
        write_folder(out, fill)
    except OSError as err:
        raise DataError(f"Could not write the results to {Path(out).name}/: {err.strerror or err}. Free some disk "
                        "space or choose another --out folder; nothing was left half-written.") from None


def results_dir(model_keys: list[str], limit: int | None, seed: int = 0, decoder_read: DecoderRead = "input",
                sensitivity: bool = False) -> Path:
    """Where the app keeps a run's outputs: one folder per (models' result keys, limit, seed, decoder reading, with
    or without the sensitivity table). `model_keys`: LoadedModel.result_key of each model (core.lens.runs.run_folder)."""
    spec = [sorted(model_keys), limit, seed] + ([decoder_read] if decoder_read != "input" else [])
    spec += ["sensitivity"] if sensitivity else []
    key = hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:12]
    return cache_dir() / "results" / key


def saved_results() -> list[Path]:
    """Result folders the app can show: the user's own, newest first, then the bundled full-data results."""
    root = cache_dir() / "results"
    found = [p for p in root.glob("*") if not p.name.startswith(".") and has_models(p)] if root.is_dir() else []
    bundled = [d for d in (bundled_dir(), bundled_sensitivity_dir()) if has_models(d)]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True) + bundled
