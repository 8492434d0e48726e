"""`reproduce --sensitivity`: every headline number recomputed under each alternative open choice, one at a time
(docs/definitions.md): precision, decoder reading, aggregation across expert counts, JSS as 1 − JSD or 1 − JS
distance, sense counting, expert capacity on/off, the distribution (the router's scores or its chosen weights). Traces of the alternatives are cached like any other.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import RoutingLensError
from core.models.adapters.scoring import normalised_sigmoid
from core.models.devices import half_dtype
from core.results.store import Note, Results
from core.studies.claims import claims_frame
from core.studies.experiments import BenchmarkData, run
from core.studies.headline import KEYS, Aggregate, headline_numbers, significant
from core.studies.polysemy import SenseCounts, polysemy_trend
from core.studies.targets import ProgressFactory, no_progress
from core.tracing.tracer import Tracer
from core.types import DecoderRead, DType

# The same model in another precision; raises RoutingLensError where it cannot be loaded (too large for float32).
Retrace = Callable[[Tracer, DType], Tracer]


@dataclass(frozen=True)
class Variant:
    """One alternative choice and the reproduction under it."""

    choice: str  # "precision", "decoder reading", ...
    label: str  # the column name: "precision: bfloat16"
    results: Results
    aggregate: Aggregate = "mean of models"


def other_precision(dtype: str, device: str) -> DType:
    """float32 → the half precision the device computes well; half → float32."""
    return half_dtype(device) if dtype == "float32" else "float32"


def run_variants(tracers: Sequence[Tracer], data: BenchmarkData, sense_counts: SenseCounts, baseline: Results,
                 retrace: Retrace | None = None, progress: ProgressFactory = no_progress,
                 decoder_read: DecoderRead = "input") -> tuple[list[Variant], list[Note]]:
    """Each alternative choice applied alone to the baseline's settings. Choices that cannot apply to these models
    are named in the notes, never silently skipped."""
    variants: list[Variant] = []
    notes: list[Note] = []

    def rerun(the_tracers: Sequence[Tracer], **choice) -> Results:
        kwargs = {"decoder_read": decoder_read, **choice}
        return run(the_tracers, data, sense_counts, progress=progress, **kwargs)

    if retrace is not None:
        try:
            others = [retrace(t, other_precision(t.loaded.dtype, t.loaded.device)) for t in tracers]
            label = "precision: " + ", ".join(dict.fromkeys(o.loaded.dtype for o in others))
            variants.append(Variant("precision", label, rerun(others)))
        except RoutingLensError as err:
            notes.append(Note(f"Sensitivity to precision not computed: {err}", caveat=True))
    if any(len(t.loaded.adapter.decoder_reads) > 1 for t in tracers):
        alt = "label" if decoder_read == "input" else "input"
        variants.append(Variant("decoder reading", f"decoder reading: {alt}", rerun(tracers, decoder_read=alt)))
    else:
        notes.append(Note("Sensitivity to the decoder reading: not applicable (no model reads a teacher-forced "
                          "decoder two ways)."))
    variants.append(Variant("JSS", "JSS: 1 − JS distance", rerun(tracers, similarity="1-JS distance")))
    variants.append(Variant("sense counting", "senses: all parts of speech",
                            dataclasses.replace(baseline, polysemy_trend=polysemy_trend(baseline.polysemy,
                                                                                        "senses_all_pos"))))
    if any(t.loaded.adapter.capacity is not None for t in tracers):
        variants.append(Variant("capacity", "capacity: off", rerun([t.without_capacity() for t in tracers])))
    else:
        notes.append(Note("Sensitivity to expert capacity: not applicable (no model has a capacity limit)."))
    if all(t.loaded.adapter.has_router for t in tracers):
        variants.append(Variant("distribution", "distribution: the chosen weights",
                                rerun([t.with_chosen_weights() for t in tracers])))
    else:
        notes.append(Note("Sensitivity to the distribution (the scores or the chosen weights): not applicable (a "
                          "model without a router has no chosen weights)."))
    sigmoid = [t.loaded.adapter.scoring.distribution is normalised_sigmoid for t in tracers]
    if any(sigmoid):  # normalised sigmoid scores sit near uniform whatever the router's sharpness
        variants.append(Variant("distribution", "distribution: softmax of the logits",
                                rerun([t.with_softmax_of_logits() if s else t for t, s in zip(tracers, sigmoid)])))
    else:
        notes.append(Note("Sensitivity to the scoring scale (softmax of the logits): not applicable (no model scores "
                          "with sigmoids)."))
    if baseline.cohens_d.model.astype(str).str.startswith("mean of models").any():
        variants.append(Variant("aggregation", "aggregation: pooled pairs", baseline, aggregate="pooled pairs"))
    else:
        notes.append(Note("Sensitivity to the aggregation over expert counts: not applicable (it needs two or more "
                          "models of one family)."))
    return variants, notes


def _verdict(value: float, low: float, high: float, p: float) -> tuple[float, bool]:
    return float(np.sign(value)) if np.isfinite(value) else np.nan, significant(value, low, high, p)


def sensitivity_table(baseline: Results, variants: Sequence[Variant]) -> pd.DataFrame:
    """One row per headline number: its value, CI and p, its value under each alternative, the largest swing beside
    the CI's half-width, and `flips`: the alternatives under which its sign or its significance changes."""
    table = headline_numbers(baseline)
    table["significant"] = [significant(*r) for r in zip(table.value, table.ci_low, table.ci_high, table.p)]
    swings = pd.DataFrame(index=table.index)
    flips: list[list[str]] = [[] for _ in range(len(table))]
    for v in variants:
        alt = headline_numbers(v.results, v.aggregate).drop_duplicates(KEYS)
        merged = table[KEYS].merge(alt, on=KEYS, how="left")
        table[v.label] = merged.value.to_numpy()
        swings[v.label] = (merged.value - table.value).abs().to_numpy()
        for i, (b, a) in enumerate(zip(table.itertuples(), merged.itertuples())):
            if not np.isfinite(a.value) or not np.isfinite(b.value):
                continue
            if _verdict(b.value, b.ci_low, b.ci_high, b.p) != _verdict(a.value, a.ci_low, a.ci_high, a.p):
                flips[i].append(v.label)
    has_swing = swings.notna().any(axis=1)
    table["largest swing"] = swings.max(axis=1, skipna=True).where(has_swing)
    table["under"] = swings.fillna(-1).idxmax(axis=1).where(has_swing, "")
    table["CI half-width"] = (table.ci_high - table.ci_low) / 2
    table["flips under"] = ["; ".join(f) for f in flips]
    return table


def claims_with_survival(baseline: Results, variants: Sequence[Variant]) -> pd.DataFrame:
    """The paper's claims on the baseline, with `survives` (the verdict is the same under every alternative where
    the claim can be judged) and the alternatives that change it."""
    claims = claims_frame(baseline)
    keys = ["claim", "model", "stack"]
    changed: dict[tuple, list[str]] = {}
    for v in variants:
        alt = claims_frame(v.results, v.aggregate)
        merged = claims[keys + ["verdict"]].merge(alt[keys + ["verdict"]], on=keys, how="inner",
                                                  suffixes=("", "_alt"))
        for r in merged.itertuples():
            if r.verdict != r.verdict_alt:
                changed.setdefault((r.claim, r.model, r.stack), []).append(v.label)
    flips = [changed.get((c, m, s), []) for c, m, s in zip(claims.claim, claims.model, claims["stack"])]
    return claims.assign(survives=[not f for f in flips], changed_by=["; ".join(f) for f in flips])
