"""The paper's analyses as tidy data frames (docs/definitions.md): Tables 1–2, WiC JSS, KDE, layer-wise Cohen's d,
polysemy. Each distinct text is traced once per model; traces come from the cache when present.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.data import datasets
from core.measures.aggregate import average_rows, expert_trend, mean_of_models_d
from core.measures.metrics import correlation_gain, spearman
from core.measures.metrics import jss as similarity_of
from core.measures.routing_stats import margins
from core.results.store import Note, Results
from core.studies.paper import published
from core.studies.polysemy import SenseCounts, polysemy_frames
from core.studies.scws import footnote_frame, identical
from core.studies.targets import DropCounter, ProgressFactory, Target, no_progress, route_targets
from core.studies.wic import cohens_d_frame, kde_frame
from core.tracing.tracer import Tracer
from core.types import STACKS, DecoderRead, SenseCount, Similarity


@dataclass
class BenchmarkData:
    wordsim: pd.DataFrame
    simlex: pd.DataFrame
    scws: pd.DataFrame
    wic: pd.DataFrame
    notes: list[Note] = field(default_factory=list)

    @classmethod
    def load(cls, root: Path | None = None, limit: int | None = None, seed: int = 0) -> BenchmarkData:
        """All four datasets; `limit` keeps a random subsample of at most `limit` rows of each."""
        report = datasets.LoadReport("SCWS")
        frames = [datasets.load_wordsim353(root), datasets.load_simlex999(root), datasets.load_scws(root, report),
                  datasets.load_wic(root)]
        notes = [Note(str(report))] if report.skipped else []
        if limit:
            frames = [f.sample(n=min(limit, len(f)), random_state=seed).sort_index().reset_index(drop=True)
                      for f in frames]
            notes.append(Note(f"--limit {limit}: a random subsample of at most {limit} rows per dataset (seed {seed})."))
        return cls(*frames, notes=notes)


def _corr_row(meta: dict, table: str, stack: str, setting: str, dataset: str, x, y) -> dict:
    return {**meta, "table": table, "stack": stack, "setting": setting, "dataset": dataset,
            **asdict(spearman(x, y))}


def _with_published(frame: pd.DataFrame, table: str, applies: bool) -> pd.DataFrame:
    """The paper's ρ beside ours; `applies` is False for a family the paper did not study (never set beside it)."""
    pub = published()
    pub = pub[pub.table == table].drop(columns="table")
    merged = frame.merge(pub, on=["experts", "stack", "setting"], how="left")
    if not applies:
        merged["published_rho"] = np.nan
    merged["difference"] = merged["rho"] - merged["published_rho"]
    return merged


def analyse_model(tracer: Tracer, data: BenchmarkData, progress: ProgressFactory = no_progress,
                  decoder_read: DecoderRead = "input", similarity: Similarity = "1-JSD") -> dict[str, pd.DataFrame]:
    """All per-model frames for one traced model. `decoder_read` applies to models whose adapter offers it (a
    teacher-forced decoder); the others are read the one way they have, and their rows say so. Every row carries
    the precision the routing was computed in."""
    lm = tracer.loaded
    read = lm.adapter.decoder_read(decoder_read)
    meta = {"model": lm.name, "experts": lm.num_experts, "family": lm.family, "decoder_read": read, "dtype": lm.dtype}

    def jss(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        return similarity_of(p, q, similarity)

    stacks = STACKS
    drops = DropCounter()

    # Words traced alone: WordSim353, SimLex-999, SCWS without context (docs/definitions.md).
    words = sorted({*data.wordsim.word1, *data.wordsim.word2, *data.simlex.word1, *data.simlex.word2,
                    *data.scws.word1, *data.scws.word2})
    word_index = {w: i for i, w in enumerate(words)}
    alone = route_targets(tracer, [Target(w) for w in words], stacks, "words alone", progress, drops, read)

    def pair_jss(w1: Sequence[str], w2: Sequence[str]) -> dict[str, np.ndarray]:
        """(pairs, layers) JSS of the two words traced alone, per stack."""
        i1 = [word_index[w] for w in w1]
        i2 = [word_index[w] for w in w2]
        return {s: jss(alone[s][i1], alone[s][i2]) for s in alone}

    layer_rows = []

    def per_layer(table: str, setting: str, dataset: str, sims: dict[str, np.ndarray], score) -> None:
        """Spearman ρ of each sparse layer's JSS, beside the stack mean (docs/definitions.md)."""
        for stack, values in sims.items():
            for li, (block, _module) in enumerate(tracer.routers[stack]):
                layer_rows.append({**_corr_row(meta, table, stack, setting, dataset, values[:, li], score),
                                   "layer_pos": li, "layer": int(block)})

    t1_rows, t2_rows = [], []
    for name, frame, task in (("WordSim353", data.wordsim, "association"), ("SimLex-999", data.simlex, "similarity")):
        sims = pair_jss(frame.word1, frame.word2)
        per_layer("table1", task, name, sims, frame.score)
        for stack, vals in sims.items():
            t1_rows.append(_corr_row(meta, "table1", stack, task, name, vals.mean(axis=1), frame.score))

    scws_alone_layers = pair_jss(data.scws.word1, data.scws.word2)
    scws_alone = {s: v.mean(axis=1) for s, v in scws_alone_layers.items()}
    ctx1 = [Target(c, s, e) for c, s, e in zip(data.scws.context1, data.scws.start1, data.scws.end1)]
    ctx2 = [Target(c, s, e) for c, s, e in zip(data.scws.context2, data.scws.start2, data.scws.end2)]
    in_ctx = route_targets(tracer, ctx1 + ctx2, stacks, "SCWS contexts", progress, drops, read)
    n = len(data.scws)
    scws_ctx_layers = {s: jss(v[:n], v[n:]) for s, v in in_ctx.items()}
    scws_ctx = {s: v.mean(axis=1) for s, v in scws_ctx_layers.items()}
    per_layer("table2", "without context", "SCWS", scws_alone_layers, data.scws.score)
    per_layer("table2", "with context", "SCWS", scws_ctx_layers, data.scws.score)
    gain_rows, subset_rows = [], []
    different = ~identical(data.scws).to_numpy()
    for stack in scws_alone:
        t2_rows.append(_corr_row(meta, "table2", stack, "without context", "SCWS", scws_alone[stack], data.scws.score))
        t2_rows.append(_corr_row(meta, "table2", stack, "with context", "SCWS", scws_ctx[stack], data.scws.score))
        for setting, values in (("without context", scws_alone[stack]), ("with context", scws_ctx[stack])):
            subset_rows.append({**_corr_row(meta, "table2", stack, setting, "SCWS", values[different],
                                            data.scws.score[different]), "subset": "different words only"})
        gain_rows.append({**meta, "stack": stack, "dataset": "SCWS",
                          **asdict(correlation_gain(scws_alone[stack], scws_ctx[stack], data.scws.score))})

    # WiC: the target word in sentence 1 vs sentence 2, per layer.
    wic = data.wic
    s1 = [Target(t, word_index=i) for t, i in zip(wic.sentence1, wic.idx1)]
    s2 = [Target(t, word_index=i) for t, i in zip(wic.sentence2, wic.idx2)]
    wic_routes = route_targets(tracer, s1 + s2, stacks, "WiC sentences", progress, drops, read)
    m = len(wic)
    layers = {st: list(tracer.routers[st]) for st in wic_routes}
    pair_rows = []
    for stack, v in wic_routes.items():
        layer_jss = jss(v[:m], v[m:])  # (pairs, L)
        blocks = [b for b, _ in layers[stack]]
        margin = np.minimum(margins(v[:m], lm.top_k), margins(v[m:], lm.top_k))  # (pairs, L): the closer call
        top = [np.sort(np.argsort(-x, axis=-1)[..., : lm.top_k], axis=-1) for x in (v[:m], v[m:])]
        rerouted = (top[0] != top[1]).any(-1)  # (pairs, L): the word's top-k differs between its two sentences
        for li, block in enumerate(blocks):
            pair_rows.append(pd.DataFrame({
                **meta, "pair": np.arange(m), "split": wic.split.to_numpy(), "lemma": wic.lemma.to_numpy(),
                "pos": wic.pos.to_numpy(), "label": np.where(wic.label.to_numpy(), "T", "F"), "stack": stack,
                "layer_pos": li, "layer": block, "jss": layer_jss[:, li],
                "margin": np.round(margin[:, li], 4).astype(np.float32),  # 4 decimals: what a near-tie needs
                "rerouted": rerouted[:, li],
            }))
    applies = lm.entry.is_paper_checkpoint  # other models only share an expert count with the paper's
    t1 = _with_published(pd.DataFrame(t1_rows), "table1", applies)
    t2 = _with_published(pd.DataFrame(t2_rows), "table2", applies)
    return {"table1": t1, "table2": t2, "wic_pairs": pd.concat(pair_rows, ignore_index=True),
            "context_gain": pd.DataFrame(gain_rows), "dropped": drops.frame(meta),
            "layer_rho": pd.DataFrame(layer_rows), "scws_different": pd.DataFrame(subset_rows)}


def _append(frame: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """`frame` with `rows` below it; an empty `rows` leaves the column types alone (no object-typed floats)."""
    return pd.concat([frame, rows], ignore_index=True) if len(rows) else frame


DEMO_NOTE = ("Demo models are tiny teaching models trained by Routing Lens, not the paper's switch-base "
             "checkpoints: compare their numbers with the published ones only as an illustration.")


def run(tracers: Sequence[Tracer], data: BenchmarkData, sense_counts: SenseCounts,
        progress: ProgressFactory = no_progress, decoder_read: DecoderRead = "input", similarity: Similarity = "1-JSD",
        senses: SenseCount = "senses") -> Results:
    """All analyses over one or more models (one tracer each); the keyword choices are docs/definitions.md's open
    ones (their defaults are the project's reading of the paper)."""
    per_model = [analyse_model(t, data, progress, decoder_read, similarity) for t in tracers]
    wic_pairs = pd.concat([m["wic_pairs"] for m in per_model], ignore_index=True)
    poly, trend = polysemy_frames(wic_pairs, sense_counts, senses)
    models = pd.DataFrame([{
        "model": t.loaded.name, "experts": t.loaded.num_experts, "family": t.loaded.family,
        "architecture": t.loaded.architecture, "top_k": t.loaded.top_k, "is_demo": t.loaded.entry.is_demo,
        "source": t.loaded.entry.source, "revision": t.loaded.revision, "dtype": t.loaded.dtype,
        "params": t.loaded.params, "figure_tag": t.loaded.adapter.copy.figure_tag,
        "decoder_read": t.loaded.adapter.decoder_read(decoder_read),
        "paper_checkpoint": t.loaded.entry.is_paper_checkpoint,
        # the paper's values are shown for reference (never as a difference) beside its family's other models
        "paper_reference": t.loaded.adapter.compares_with_paper and not t.loaded.entry.is_paper_checkpoint,
    } for t in tracers])
    notes = list(data.notes)
    if models.is_demo.any():
        notes.append(Note(DEMO_NOTE, caveat=True))
    caveats = dict.fromkeys(t.loaded.adapter.copy.caveat for t in tracers if t.loaded.adapter.copy.caveat)
    notes += [Note(c, caveat=True) for c in caveats]
    paper_models = set(models.model[models.paper_checkpoint])
    families = dict(zip(models.model, models.family))
    tables = {}
    for name in ("table1", "table2"):
        table = pd.concat([m[name] for m in per_model], ignore_index=True)
        paper_avg = published()
        paper_avg = paper_avg[(paper_avg.table == name) & (paper_avg.experts == 0)]
        tables[name] = _append(table, average_rows(table, paper_models, paper_avg))
    cohens = cohens_d_frame(wic_pairs)
    return Results(
        models=models,
        table1=tables["table1"],
        table2=tables["table2"],
        wic_pairs=wic_pairs,
        wic_kde=kde_frame(wic_pairs),
        cohens_d=_append(cohens, mean_of_models_d(cohens, families)),
        polysemy=poly,
        polysemy_trend=trend,
        notes=notes,
        context_gain=pd.concat([m["context_gain"] for m in per_model], ignore_index=True),
        dropped=pd.concat([m["dropped"] for m in per_model], ignore_index=True),
        layer_rho=pd.concat([m["layer_rho"] for m in per_model], ignore_index=True),
        scws_footnote=footnote_frame(data.scws),
        scws_different=pd.concat([m["scws_different"] for m in per_model], ignore_index=True),
        expert_trend=expert_trend(pd.concat([m[t] for m in per_model for t in ("table1", "table2")], ignore_index=True),
                                  cohens, models),
    )


