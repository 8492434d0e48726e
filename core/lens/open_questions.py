"""The paper's open questions, for the CLI and the pages: the routing lab's comparison of router designs, and the
bundled answers (core.studies.router_lab, core.studies.frequency, core.studies.negation_mwe)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from core.results.bundled import open_questions_dir
from core.studies.targets import ProgressFactory, no_progress


def run_lab(tracers: Sequence, data_dir: str | None = None, limit: int | None = None, seed: int = 0,
            progress: ProgressFactory = no_progress) -> dict:
    """Each design's WiC and SCWS analyses and controls (the hash design has no linear router: no random-router
    control), then the lab's three tables and its headline."""
    from core.studies.controls import run_controls
    from core.studies.experiments import BenchmarkData, analyse_model
    from core.studies.router_lab import design_frame, headline, lab_claims, layer_frame

    data = BenchmarkData.load(Path(data_dir) if data_dir else None, limit=limit, seed=seed)
    per_model = [analyse_model(t, data, progress) for t in tracers]
    wic_pairs = pd.concat([m["wic_pairs"] for m in per_model], ignore_index=True)
    table2 = pd.concat([m["table2"] for m in per_model], ignore_index=True)
    with_weight = [t for t in tracers if t.adapter.router_weight(t.routers["encoder"][0][1]) is not None]
    controls, _notes = run_controls(with_weight, data, progress, seed=seed)
    records = {t.loaded.name: t.adapter.record for t in tracers}
    designs = design_frame(wic_pairs, table2, records)
    return {"lab_designs": designs, "lab_layers": layer_frame(wic_pairs, controls["controls"]),
            "lab_claims": lab_claims(designs), "headline": headline(designs)}


def bundled_open_questions(folder: Path | None = None) -> dict[str, pd.DataFrame]:
    """Every bundled open-question table that exists (name → frame)."""
    root = folder or open_questions_dir()
    return {p.stem: pd.read_parquet(p) for p in sorted(root.glob("*.parquet"))}


def probe_items(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The negation and multi-word-expression items: the committed lists (seed 0), else built under `seed`."""
    root = open_questions_dir()
    if seed == 0 and (root / "negation_items.parquet").is_file() and (root / "mwe_items.parquet").is_file():
        return pd.read_parquet(root / "negation_items.parquet"), pd.read_parquet(root / "mwe_items.parquet")
    from core.data.wordnet import wordnet
    from core.studies.probe_sentences import mwe_items, negation_items, training_sentences

    wn, excluded = wordnet(), training_sentences()
    return negation_items(wn, seed, excluded=excluded), mwe_items(wn, seed, excluded=excluded)


def run_open_questions(tracers: Sequence, polysemy: pd.DataFrame, progress: ProgressFactory = no_progress,
                       seed: int = 0) -> dict[str, pd.DataFrame]:
    """Negation and multi-word expressions on every model, word frequency on the polysemy table, and their claims."""
    from core.studies.frequency import frequency_claims, frequency_effect
    from core.studies.probes import mwe_frame, negation_frame, probe_claims

    negation, mwe = probe_items(seed)
    frames = [f for t in tracers for f in (negation_frame(t, negation, progress), mwe_frame(t, mwe, progress))]
    probes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    frequency = frequency_effect(polysemy) if len(polysemy) else pd.DataFrame()
    claims = [c for c in (probe_claims(probes) if len(probes) else None,
                          frequency_claims(frequency) if len(frequency) else None) if c is not None and len(c)]
    return {"probes": probes, "frequency": frequency,
            "claims": pd.concat(claims, ignore_index=True) if claims else pd.DataFrame()}
