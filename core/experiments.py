"""The paper's analyses as tidy data frames (DESIGN §2): Tables 1–2, WiC JSS, KDE, layer-wise Cohen's d,
polysemy. Each distinct text is traced once per model; traces come from the cache when present.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from core import datasets
from core.metrics import cohens_d, jss, kde, spearman
from core.paper import published

KDE_GRID = np.linspace(0.0, 1.0, 201)
CHUNK = 256  # texts traced (and dropped from memory) at a time

ProgressFactory = Callable[[str, int], Callable[[int], None]]  # (description, total) -> advance(n)


@dataclass(frozen=True)
class Target:
    """The routing to read from one text: a character span, a whitespace-word index, or the whole text."""

    text: str
    start: int | None = None
    end: int | None = None
    word_index: int | None = None


@dataclass
class BenchmarkData:
    wordsim: pd.DataFrame
    simlex: pd.DataFrame
    scws: pd.DataFrame
    wic: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, root: Path | None = None, limit: int | None = None, seed: int = 0) -> "BenchmarkData":
        """All four datasets; `limit` keeps a random subsample of at most `limit` rows of each."""
        report = datasets.LoadReport("SCWS")
        frames = [datasets.load_wordsim353(root), datasets.load_simlex999(root), datasets.load_scws(root, report),
                  datasets.load_wic(root)]
        notes = [str(report)] if report.skipped else []
        if limit:
            frames = [f.sample(n=min(limit, len(f)), random_state=seed).sort_index().reset_index(drop=True)
                      for f in frames]
            notes.append(f"--limit {limit}: a random subsample of at most {limit} rows per dataset (seed {seed}).")
        return cls(*frames, notes=notes)


def _no_progress(_desc: str, _total: int) -> Callable[[int], None]:
    return lambda _n: None


def route_targets(tracer, targets: Sequence[Target], stacks: Sequence[str], desc: str,
                  progress: ProgressFactory = _no_progress) -> dict[str, np.ndarray]:
    """(N, L, E) routing of each target per stack; texts traced once each, in chunks so memory stays flat."""
    by_text: dict[str, list[int]] = {}
    for i, t in enumerate(targets):
        by_text.setdefault(t.text, []).append(i)
    texts = list(by_text)
    out: dict[str, np.ndarray] = {}
    advance = progress(desc, len(texts))
    for c in range(0, len(texts), CHUNK):
        chunk = texts[c : c + CHUNK]
        for text, trace in zip(chunk, tracer.trace(chunk, stacks=stacks)):
            for stack in trace.stacks:
                for i in by_text[text]:
                    t = targets[i]
                    if t.word_index is not None:
                        vec = trace.word_probs_at(stack, t.word_index)
                    else:
                        start = 0 if t.start is None else t.start
                        end = len(text) if t.end is None else t.end
                        vec = trace.span_probs(stack, start, end)
                    if stack not in out:
                        out[stack] = np.full((len(targets), *vec.shape), np.nan, dtype=np.float32)
                    out[stack][i] = vec
        advance(len(chunk))
    return out


def _layer_jss(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """(N, L) JSS per pair and layer, per stack."""
    return {stack: jss(a[stack], b[stack]) for stack in a}


def _corr_row(meta: dict, table: str, stack: str, setting: str, dataset: str, x, y) -> dict:
    return {**meta, "table": table, "stack": stack, "setting": setting, "dataset": dataset,
            **spearman(x, y).as_dict()}


@dataclass
class Results:
    """Every output of a reproduction, as frames; saved as the CSVs the CLI writes."""

    models: pd.DataFrame
    table1: pd.DataFrame
    table2: pd.DataFrame
    wic_pairs: pd.DataFrame
    wic_kde: pd.DataFrame
    cohens_d: pd.DataFrame
    polysemy: pd.DataFrame
    polysemy_trend: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    FILES = ("models", "table1", "table2", "wic_pairs", "wic_kde", "cohens_d", "polysemy", "polysemy_trend")

    def save(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        for name in self.FILES:
            getattr(self, name).to_csv(out / f"{name}.csv", index=False)
        self.comparison.to_csv(out / "comparison.csv", index=False)  # derived; recomputed on load
        (out / "notes.txt").write_text("\n".join(self.notes) + ("\n" if self.notes else ""), encoding="utf-8")

    @functools.cached_property
    def comparison(self) -> pd.DataFrame:
        """Derived from the frames above once (save, report and page all read it)."""
        return comparison_frame(self)

    @classmethod
    def load(cls, folder: Path) -> "Results":
        from core.errors import DataError

        missing = [n for n in cls.FILES if not (folder / f"{n}.csv").is_file()]
        if missing:
            raise DataError(f"{folder} is not a complete result folder: missing {', '.join(m + '.csv' for m in missing)}.")
        frames = {n: pd.read_csv(folder / f"{n}.csv") for n in cls.FILES}
        notes_file = folder / "notes.txt"
        notes = notes_file.read_text(encoding="utf-8").splitlines() if notes_file.is_file() else []
        return cls(**frames, notes=notes)


def _with_published(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    pub = published()
    pub = pub[pub.table == table].drop(columns="table")
    merged = frame.merge(pub, on=["experts", "stack", "setting"], how="left")
    if "family" in merged:  # the paper's values are for Switch only; never set them beside another family
        merged.loc[merged["family"] != "switch", "published_rho"] = np.nan
    merged["difference"] = merged["rho"] - merged["published_rho"]
    return merged


def scopes(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Pooled, then per model. Models of different families are never pooled together (their layers and
    stacks differ in meaning): with several families there is one "pooled <family>" scope per family."""
    families = list(dict.fromkeys(frame["family"])) if "family" in frame and len(frame) else []
    if len(families) > 1:
        pooled = [(f"pooled {f}", frame[frame["family"] == f]) for f in families]
    else:
        pooled = [("pooled", frame)]
    return pooled + [(m, g) for m, g in frame.groupby("model", sort=False)]


def analyse_model(tracer, data: BenchmarkData, progress: ProgressFactory = _no_progress) -> dict[str, pd.DataFrame]:
    """All per-model frames for one traced model."""
    lm = tracer.loaded
    meta = {"model": lm.name, "experts": lm.num_experts, "family": lm.family}
    stacks = ("encoder", "decoder")

    # Words traced alone: WordSim353, SimLex-999, SCWS without context (DESIGN §2).
    words = sorted({*data.wordsim.word1, *data.wordsim.word2, *data.simlex.word1, *data.simlex.word2,
                    *data.scws.word1, *data.scws.word2})
    word_index = {w: i for i, w in enumerate(words)}
    alone = route_targets(tracer, [Target(w) for w in words], stacks, f"{lm.name}: words alone", progress)

    def pair_jss(w1: Sequence[str], w2: Sequence[str]) -> dict[str, np.ndarray]:
        i1 = [word_index[w] for w in w1]
        i2 = [word_index[w] for w in w2]
        return {s: jss(alone[s][i1], alone[s][i2]).mean(axis=1) for s in alone}

    t1_rows, t2_rows = [], []
    for name, frame, task in (("WordSim353", data.wordsim, "association"), ("SimLex-999", data.simlex, "similarity")):
        sims = pair_jss(frame.word1, frame.word2)
        for stack, vals in sims.items():
            t1_rows.append(_corr_row(meta, "table1", stack, task, name, vals, frame.score))

    scws_alone = pair_jss(data.scws.word1, data.scws.word2)
    ctx1 = [Target(c, s, e) for c, s, e in zip(data.scws.context1, data.scws.start1, data.scws.end1)]
    ctx2 = [Target(c, s, e) for c, s, e in zip(data.scws.context2, data.scws.start2, data.scws.end2)]
    in_ctx = route_targets(tracer, ctx1 + ctx2, stacks, f"{lm.name}: SCWS contexts", progress)
    n = len(data.scws)
    scws_ctx = {s: jss(v[:n], v[n:]).mean(axis=1) for s, v in in_ctx.items()}
    for stack in scws_alone:
        t2_rows.append(_corr_row(meta, "table2", stack, "without context", "SCWS", scws_alone[stack], data.scws.score))
        t2_rows.append(_corr_row(meta, "table2", stack, "with context", "SCWS", scws_ctx[stack], data.scws.score))

    # WiC: the target word in sentence 1 vs sentence 2, per layer.
    wic = data.wic
    s1 = [Target(t, word_index=i) for t, i in zip(wic.sentence1, wic.idx1)]
    s2 = [Target(t, word_index=i) for t, i in zip(wic.sentence2, wic.idx2)]
    wic_routes = route_targets(tracer, s1 + s2, stacks, f"{lm.name}: WiC sentences", progress)
    m = len(wic)
    layers = {st: list(tracer.routers[st]) for st in wic_routes}
    pair_rows = []
    for stack, v in wic_routes.items():
        per_layer = jss(v[:m], v[m:])  # (pairs, L)
        blocks = [b for b, _ in layers[stack]]
        for li, block in enumerate(blocks):
            pair_rows.append(pd.DataFrame({
                **meta, "pair": np.arange(m), "split": wic.split.to_numpy(), "lemma": wic.lemma.to_numpy(),
                "pos": wic.pos.to_numpy(), "label": np.where(wic.label.to_numpy(), "T", "F"), "stack": stack,
                "layer_pos": li, "layer": block, "jss": per_layer[:, li],
            }))
    t1 = _with_published(pd.DataFrame(t1_rows), "table1")
    t2 = _with_published(pd.DataFrame(t2_rows), "table2")
    return {"table1": t1, "table2": t2, "wic_pairs": pd.concat(pair_rows, ignore_index=True)}


def pair_means(wic_pairs: pd.DataFrame) -> pd.DataFrame:
    """Mean JSS over a stack's sparse layers per WiC pair (the per-pair "encoder/decoder JSS")."""
    keys = ["model", "experts", "pair", "split", "lemma", "pos", "label", "stack"]
    keys += ["family"] if "family" in wic_pairs else []
    return wic_pairs.groupby(keys, as_index=False, sort=False)["jss"].mean()


def kde_frame(wic_pairs: pd.DataFrame) -> pd.DataFrame:
    """Density of pair JSS per label, pooled over models ("pooled") and per model (Fig. 1)."""
    means = pair_means(wic_pairs)
    rows = []
    for model, frame in scopes(means):
        for (stack, label), g in frame.groupby(["stack", "label"], sort=False):
            rows.append(pd.DataFrame({"model": model, "stack": stack, "label": label, "x": KDE_GRID,
                                      "density": kde(g.jss.to_numpy(), KDE_GRID), "n": len(g)}))
    return pd.concat(rows, ignore_index=True)


def cohens_d_frame(wic_pairs: pd.DataFrame) -> pd.DataFrame:
    """Layer-wise Cohen's d (same − different meaning), pooled over models and per model (Fig. 2)."""
    rows = []
    for model, frame in scopes(wic_pairs):
        for (stack, layer_pos), g in frame.groupby(["stack", "layer_pos"], sort=True):
            t = g.jss[g.label == "T"].to_numpy()
            f = g.jss[g.label == "F"].to_numpy()
            rows.append({"model": model, "stack": stack, "layer_pos": int(layer_pos), "layer": int(g.layer.iloc[0]),
                         "d": cohens_d(t, f), "mean_T": float(t.mean()) if len(t) else np.nan,
                         "mean_F": float(f.mean()) if len(f) else np.nan, "n_T": len(t), "n_F": len(f)})
    return pd.DataFrame(rows)


SenseCounts = Callable[[Sequence[str]], dict[str, int]]  # lemmas -> WordNet sense count of each


def polysemy_frames(wic_pairs: pd.DataFrame, sense_counts: SenseCounts) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per lemma with both T and F pairs: mean JSS(T) − mean JSS(F) vs WordNet senses, and the linear trend (Fig. 3)."""
    means = pair_means(wic_pairs)
    if "family" not in means:
        means["family"] = "switch"
    stats_ = means.groupby(["model", "experts", "family", "stack", "lemma", "label"], sort=True)["jss"].agg(["mean", "count"])
    wide = stats_.unstack("label")
    rows = []
    if ("mean", "T") in wide.columns and ("mean", "F") in wide.columns:
        both = wide[wide[("count", "T")].notna() & wide[("count", "F")].notna()]
        senses = sense_counts(list(both.index.get_level_values("lemma").unique()))
        for (model, experts, family, stack, lemma), r in both.iterrows():
            rows.append({"model": model, "experts": experts, "family": family, "stack": stack, "lemma": lemma,
                         "senses": senses[lemma], "mean_jss_T": r[("mean", "T")], "mean_jss_F": r[("mean", "F")],
                         "difference": r[("mean", "T")] - r[("mean", "F")], "n_T": int(r[("count", "T")]),
                         "n_F": int(r[("count", "F")])})
    poly = pd.DataFrame(rows, columns=["model", "experts", "family", "stack", "lemma", "senses", "mean_jss_T",
                                       "mean_jss_F", "difference", "n_T", "n_F"])
    trend_rows = []
    for model, frame in scopes(poly):
        for stack, g in frame.groupby("stack", sort=False):
            if model.startswith("pooled"):
                g = g.groupby("lemma", as_index=False).agg(senses=("senses", "first"), difference=("difference", "mean"))
            ok = g.senses > 0
            if ok.sum() >= 3 and g.senses[ok].nunique() > 1:
                res = stats.linregress(g.senses[ok], g.difference[ok])
                trend_rows.append({"model": model, "stack": stack, "slope": res.slope, "intercept": res.intercept,
                                   "r": res.rvalue, "p": res.pvalue, "n": int(ok.sum())})
            else:
                trend_rows.append({"model": model, "stack": stack, "slope": np.nan, "intercept": np.nan,
                                   "r": np.nan, "p": np.nan, "n": int(ok.sum())})
    return poly, pd.DataFrame(trend_rows, columns=["model", "stack", "slope", "intercept", "r", "p", "n"])


def run(tracers: Sequence, data: BenchmarkData, sense_counts: SenseCounts,
        progress: ProgressFactory = _no_progress) -> Results:
    """All analyses over one or more models (one tracer each)."""
    per_model = [analyse_model(t, data, progress) for t in tracers]
    wic_pairs = pd.concat([m["wic_pairs"] for m in per_model], ignore_index=True)
    poly, trend = polysemy_frames(wic_pairs, sense_counts)
    models = pd.DataFrame([{
        "model": t.loaded.name, "experts": t.loaded.num_experts, "family": t.loaded.family,
        "architecture": t.loaded.architecture, "top_k": t.loaded.top_k, "is_demo": t.loaded.entry.is_demo,
        "source": t.loaded.entry.source, "revision": t.loaded.revision, "dtype": t.loaded.dtype,
        "params": t.loaded.params,
    } for t in tracers])
    notes = list(data.notes)
    if models.is_demo.any():
        notes.append("Demo models are tiny teaching models trained by Routing Lens, not the paper's switch-base "
                     "checkpoints: compare their numbers with the published ones only as an illustration.")
    if (models.family == "moefied").any():
        notes.append("MoE-fied models (moefied-*): a dense encoder MoE-fied after training; routing = activation mass "
                     "per neuron cluster; not a sparsely trained model. One stack: only encoder rows exist.")
    if (models.architecture == "decoder-only").any():
        notes.append("Decoder-only models: one causal stack, reported as 'decoder'. A token's routing depends only on "
                     "the tokens to its left, so 'with context' means left context; words traced alone have none. "
                     "Published values are the Switch paper's and are not set beside other families.")
    return Results(
        models=models,
        table1=pd.concat([m["table1"] for m in per_model], ignore_index=True),
        table2=pd.concat([m["table2"] for m in per_model], ignore_index=True),
        wic_pairs=wic_pairs,
        wic_kde=kde_frame(wic_pairs),
        cohens_d=cohens_d_frame(wic_pairs),
        polysemy=poly,
        polysemy_trend=trend,
        notes=notes,
    )


COMPARISON_METRICS = ("association ρ", "similarity ρ", "SCWS ρ without context", "SCWS ρ with context",
                      "WiC Cohen's d")


def comparison_frame(results: Results) -> pd.DataFrame:
    """One row per model and stack with the headline numbers side by side, so encoder–decoder, decoder-only and
    MoE-fied models can be read on the same metrics: Spearman ρ of Tables 1–2, the context gain (SCWS with −
    without), WiC mean JSS for same/different meaning and Cohen's d of the pair means, polysemy r."""
    info = results.models.set_index("model")
    means = pair_means(results.wic_pairs)

    def rho(table: pd.DataFrame, model: str, stack: str, setting: str) -> float:
        hit = table[(table.model == model) & (table["stack"] == stack) & (table.setting == setting)].rho
        return float(hit.iloc[0]) if len(hit) else np.nan

    trend = results.polysemy_trend
    rows = []
    for (model, stack), g in means.groupby(["model", "stack"], sort=False):
        same, diff = g.jss[g.label == "T"].to_numpy(), g.jss[g.label == "F"].to_numpy()
        r = trend[(trend.model == model) & (trend["stack"] == stack)].r
        m = info.loc[model] if model in info.index else pd.Series(dtype=object)
        layer_d = results.cohens_d[(results.cohens_d.model == model) & (results.cohens_d["stack"] == stack)].d
        row = {"model": model, "family": m.get("family", ""), "architecture": m.get("architecture", ""),
               "experts": m.get("experts", np.nan), "top_k": m.get("top_k", np.nan), "stack": stack,
               "association ρ": rho(results.table1, model, stack, "association"),
               "similarity ρ": rho(results.table1, model, stack, "similarity"),
               "SCWS ρ without context": rho(results.table2, model, stack, "without context"),
               "SCWS ρ with context": rho(results.table2, model, stack, "with context")}
        row["context gain"] = row["SCWS ρ with context"] - row["SCWS ρ without context"]
        row.update({"WiC mean JSS same": float(same.mean()) if len(same) else np.nan,
                    "WiC mean JSS different": float(diff.mean()) if len(diff) else np.nan,
                    "WiC Cohen's d": cohens_d(same, diff), "max layer d": float(layer_d.max()) if len(layer_d) else np.nan,
                    "polysemy r": float(r.iloc[0]) if len(r) else np.nan, "WiC pairs": len(g)})
        rows.append(row)
    return pd.DataFrame(rows)
