"""The routing lab: router designs compared on one representation (the paper's §5: "develop more refined routing
mechanisms to better integrate contextual cues").

Every design routes the same experts — all-MiniLM-L6-v2's FFNs split into 16 by the same co-activation partition —
trained on the same NLTK text with the same seed rules (core.training.router_training), and is scored on full WiC and
SCWS exactly as the paper's analyses score a model (core.studies.experiments), beside the controls (random routers
and the router-input cosine, core.studies.controls). The claim: *the router design changes the context response*,
judged per design on the paired bootstrap CI of d(design) − d(softmax top-k) over the same WiC pairs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.measures.claim_tests import paired_d_difference
from core.measures.metrics import effect_size
from core.studies.claims import EQUIVALENCE_R, change_verdict_of
from core.studies.wic import cohens_d_frame

LAB_CLAIM = "The router design changes the context response (WiC d differs from softmax top-k's)"
LAB_CLAIM_WHERE = "§5 (future work: routing mechanisms)"
BASELINE = "lab-softmax"


@dataclass(frozen=True)
class LabDesign:
    name: str  # the model's name: models/<name>/
    design: str  # core.models.router_designs
    experts: int
    top_k: int
    label: str


LAB_DESIGNS: tuple[LabDesign, ...] = (
    LabDesign("lab-softmax", "softmax", 16, 8, "softmax top-8 of 16"),
    LabDesign("lab-sigmoid-bias", "sigmoid-bias", 16, 8, "sigmoid + balancing bias, top-8 of 16"),
    LabDesign("lab-expert-choice", "expert-choice", 16, 8, "expert choice, 8 of 16 per token on average"),
    LabDesign("lab-hash", "hash", 16, 8, "hash routing, 8 of 16 (a context-free control)"),
    LabDesign("lab-top1", "softmax", 2, 1, "softmax top-1 of 2 (equal compute: 768 neurons per token)"),
)
LABELS = {d.name: d.label for d in LAB_DESIGNS}


def _pairs(wic_pairs: pd.DataFrame, model: str) -> tuple[np.ndarray, np.ndarray]:
    """(layers, pairs) JSS of one model's encoder and the same-meaning mask."""
    g = wic_pairs[(wic_pairs.model == model) & (wic_pairs["stack"] == "encoder")]
    wide = g.pivot_table(index="pair", columns="layer_pos", values="jss")
    label = g.drop_duplicates("pair").set_index("pair").label.reindex(wide.index)
    return wide.to_numpy().T, (label == "T").to_numpy()


def layer_frame(wic_pairs: pd.DataFrame, controls: pd.DataFrame) -> pd.DataFrame:
    """Per design and layer: WiC d with its CI beside the controls (random routers' d, the router-input cosine's d)."""
    d = cohens_d_frame(wic_pairs)
    d = d[d.model.isin(LABELS)][["model", "stack", "layer_pos", "layer", "d", "ci_low", "ci_high", "p"]]
    cols = ["model", "stack", "layer_pos", "d_random_mean", "d_random_low", "d_random_high", "d_cosine",
            "d_cosine_low", "d_cosine_high"]
    if len(controls):
        d = d.merge(controls[[c for c in cols if c in controls]], on=["model", "stack", "layer_pos"], how="left")
    return d.assign(design=d.model.map(LABELS)).reset_index(drop=True)


def design_frame(wic_pairs: pd.DataFrame, table2: pd.DataFrame, records: dict[str, dict]) -> pd.DataFrame:
    """Per design: the layer-mean WiC d with its CI, its difference to softmax top-k (paired bootstrap over the same
    pairs), SCWS ρ with and without context, and from training: held-out fidelity and load balance."""
    base = _pairs(wic_pairs, BASELINE) if BASELINE in set(wic_pairs.model) else None
    rows = []
    for design in LAB_DESIGNS:
        if design.name not in set(wic_pairs.model):
            continue
        jss, same = _pairs(wic_pairs, design.name)
        mean = np.nanmean(jss, axis=0)
        e = effect_size(mean[same], mean[~same])
        row = {"model": design.name, "design": design.label, "experts": design.experts, "top_k": design.top_k,
               "d": e.d, "ci_low": e.ci_low, "ci_high": e.ci_high, "n": len(mean)}
        if base is not None and design.name != BASELINE:
            diff = paired_d_difference(jss, base[0], same)
            row.update(d_minus_softmax=diff.value, diff_low=diff.ci_low, diff_high=diff.ci_high, diff_p=diff.p)
        t2 = table2[(table2.model == design.name) & (table2["stack"] == "encoder")]
        for setting, key in (("with context", "scws_rho_context"), ("without context", "scws_rho_alone")):
            hit = t2[t2.setting == setting]
            row[key] = float(hit.rho.iloc[0]) if len(hit) else np.nan
        record = records.get(design.name, {})
        curve = {c["k"]: c for c in record.get("fidelity", {}).get("curve", [])}
        layers = record.get("fidelity", {}).get("layers", [])
        row.update(fidelity_cosine=curve.get(design.top_k, {}).get("cosine_mean", np.nan),
                   load_cv=float(np.mean([x.get("load_cv", np.nan) for x in layers])) if layers else np.nan,
                   load_max_over_mean=float(np.mean([x.get("load_max_over_mean", np.nan) for x in layers]))
                   if layers else np.nan,
                   unprocessed_share=float(np.mean([x.get("unprocessed_share", 0.0) for x in layers]))
                   if layers else np.nan,
                   training_seconds=record.get("seconds", {}).get("training", np.nan))
        rows.append(row)
    return pd.DataFrame(rows)


def same_tokens(wic: pd.DataFrame, tokenizer) -> np.ndarray:
    """(pairs,) whether the target word has the same token ids in both sentences (the same surface form, as the
    tokenizer splits its whitespace word): on these pairs only context can separate the labels."""
    def ids(text: str, index: int) -> tuple[int, ...]:
        return tuple(tokenizer(text.split()[index], add_special_tokens=False)["input_ids"])

    return np.array([ids(a, i) == ids(b, j) for a, i, b, j in zip(wic.sentence1, wic.idx1, wic.sentence2, wic.idx2)])


def form_matched(wic_pairs: pd.DataFrame, matched: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """Per design, on the WiC pairs whose target has the same token ids in both sentences: mean layer-mean JSS of
    same − different meaning pairs with its percentile bootstrap 95 % CI, and d (0 where no pair's JSS differs from
    another's: a router that cannot see context). WiC's labels go with surface form (same-meaning pairs share the
    target's tokens more often), so on all pairs even hash routing shows a d; holding the tokens fixed removes that."""
    from scipy import stats

    rows = []
    for design in LAB_DESIGNS:
        if design.name not in set(wic_pairs.model):
            continue
        jss, same = _pairs(wic_pairs, design.name)
        mean = np.nanmean(jss, axis=0)[matched]
        t, f = mean[same[matched]], mean[~same[matched]]
        diff = float(t.mean() - f.mean())
        if np.ptp(mean) == 0:
            low = high = diff
            d = 0.0
        else:
            ci = stats.bootstrap((t, f), lambda a, b: a.mean() - b.mean(), n_resamples=2000, method="percentile",
                                 vectorized=False, rng=np.random.default_rng(seed)).confidence_interval
            low, high, d = float(ci.low), float(ci.high), effect_size(t, f).d
        rows.append({"model": design.name, "pairs_form_matched": int(matched.sum()), "diff_form_matched": diff,
                     "diff_form_matched_low": low, "diff_form_matched_high": high, "d_form_matched": d})
    return pd.DataFrame(rows)


def lab_claims(designs: pd.DataFrame) -> pd.DataFrame:
    """The claim row per design against softmax top-k: supported when the CI of the difference in d excludes 0,
    contradicted when it lies within ±0.1 (no change worth the name), inconclusive otherwise."""
    rows = []
    for r in designs.dropna(subset=["d_minus_softmax"]).itertuples() if "d_minus_softmax" in designs else []:
        low, high = r.diff_low, r.diff_high
        rows.append({"claim": LAB_CLAIM, "paper": LAB_CLAIM_WHERE, "model": r.model, "stack": "encoder",
                     "verdict": change_verdict_of(low, high), "value": r.d_minus_softmax, "ci_low": low, "ci_high": high, "p": r.diff_p,
                     "evidence": f"{r.design}: d {r.d:+.3f} − softmax top-k's = {r.d_minus_softmax:+.3f} [95% CI "
                                 f"{low:+.3f}, {high:+.3f}] (paired bootstrap over {r.n:,} WiC pairs; 'no change' "
                                 f"needs the CI within ±{EQUIVALENCE_R})"})
    return pd.DataFrame(rows)


def headline(designs: pd.DataFrame) -> str:
    """One sentence saying what the lab found (the figure's title)."""
    if designs.empty:
        return "Router designs: no results"
    changed = designs[(designs.get("diff_low", np.nan) > 0) | (designs.get("diff_high", np.nan) < 0)]
    if designs.d.isna().all():
        return "Router designs: no WiC d could be computed"
    best = designs.loc[designs.d.idxmax()]
    hash_row = designs[designs.model == "lab-hash"]
    tail = (f"; hash routing (context-free) d {hash_row.d.iloc[0]:+.2f}" if len(hash_row) else "")
    return (f"The router design changes the context response in {len(changed)} of {len(designs) - 1} designs "
            f"against softmax top-k; "
            f"{best.design} responds most (d {best.d:+.2f}){tail}")
