"""The paper's claims, each judged on a reproduction with its uncertainty: supported, contradicted or inconclusive.

Each claim is a sentence of the paper turned into a test on the headline numbers (core.studies.headline), per model
and stack, and judged by one rule on a 95 % CI (`verdict_of`); no verdict rests on a point estimate. The sensitivity run (core.studies.sensitivity) judges the same claims under every alternative choice and
says whether the verdict survives all of them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from core.measures.claim_tests import detectable_r
from core.results.store import Results
from core.studies.headline import ASSOCIATION_GAP, STACK_GAP, TREND, Aggregate, headline_numbers

CLAIM_COLUMNS = ["claim", "paper", "model", "stack", "verdict", "value", "ci_low", "ci_high", "p", "evidence"]
Verdict = Literal["supported", "contradicted", "inconclusive"]
VERDICTS: tuple[Verdict, ...] = ("supported", "contradicted", "inconclusive")
NOT_APPLICABLE = "not applicable"  # a matrix cell of a claim that cannot be judged on that model and stack
EQUIVALENCE_R = 0.1  # "no trend": the CI must exclude a small trend (Cohen's r = 0.1) on both sides


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    value: float
    ci_low: float
    ci_high: float
    p: float
    evidence: str


@dataclass(frozen=True)
class Claim:
    """`judge` gets the headline numbers of one (model, stack) and returns a judgement, or None where it cannot
    apply (a "not applicable" cell)."""

    name: str
    paper: str  # where the paper says it: section and table or figure
    judge: Callable[[pd.DataFrame], Judgement | None]
    stack_level: bool = True  # judged per stack; False: once per model over both stacks


def verdict_of(ci_low: float, ci_high: float, direction: int = 1) -> Verdict:
    """The one rule (docs/definitions.md): supported when the 95 % CI excludes 0 in the claimed direction,
    contradicted when it excludes 0 in the other, inconclusive otherwise (including no CI: never a point estimate)."""
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return "inconclusive"
    low, high = sorted((direction * ci_low, direction * ci_high))
    return "supported" if low > 0 else "contradicted" if high < 0 else "inconclusive"


def change_verdict_of(ci_low: float, ci_high: float) -> Verdict:
    """The rule for a claim that something *differs* (either direction): supported when the 95 % CI excludes 0,
    contradicted when it lies within ±EQUIVALENCE_R (no difference worth the name), inconclusive otherwise."""
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return "inconclusive"
    if ci_low > 0 or ci_high < 0:
        return "supported"
    return "contradicted" if -EQUIVALENCE_R < ci_low and ci_high < EQUIVALENCE_R else "inconclusive"


def _one(numbers: pd.DataFrame, name: str) -> pd.Series | None:
    hit = numbers[numbers.number == name]
    return hit.iloc[0] if len(hit) else None


def _fmt_ci(r: pd.Series) -> str:
    ci = f" [95% CI {r.ci_low:+.3f}, {r.ci_high:+.3f}]" if np.isfinite(r.ci_low) else " (no CI)"
    p = f", p {r.p:.2g}" if np.isfinite(r.p) else ""
    return f"{r.value:+.3f}{ci}{p}"


def _positive(name: str, what: str) -> Callable[[pd.DataFrame], Judgement | None]:
    def judge(numbers: pd.DataFrame) -> Judgement | None:
        r = _one(numbers, name)
        if r is None or not np.isfinite(r.value):
            return None
        return Judgement(verdict_of(r.ci_low, r.ci_high), r.value, r.ci_low, r.ci_high, r.p, f"{what} {_fmt_ci(r)}")
    return judge


def _association_beats_similarity(numbers: pd.DataFrame) -> Judgement | None:
    gap = _one(numbers, ASSOCIATION_GAP)
    a = _one(numbers, "Table 1 ρ · WordSim353 association")
    s = _one(numbers, "Table 1 ρ · SimLex-999 similarity")
    if gap is None or a is None or s is None or not np.isfinite(gap.value):
        return None
    return Judgement(verdict_of(gap.ci_low, gap.ci_high), gap.value, gap.ci_low, gap.ci_high, gap.p,
                     f"ρ WordSim353 {a.value:.3f} − ρ SimLex-999 {s.value:.3f} = {_fmt_ci(gap)} (independent "
                     "correlations: Zou's CI, Fisher-z p)")


def _every_layer(numbers: pd.DataFrame) -> Judgement | None:
    d = numbers[numbers.number == "WiC Cohen's d"].dropna(subset=["value"])
    if not len(d):
        return None
    verdicts = [verdict_of(lo, hi) for lo, hi in zip(d.ci_low, d.ci_high)]
    verdict: Verdict = ("supported" if all(v == "supported" for v in verdicts) else
                        "contradicted" if "contradicted" in verdicts else "inconclusive")
    weakest = d.iloc[int(np.argmin(d.ci_low.fillna(-np.inf).to_numpy()))]
    return Judgement(verdict, float(weakest.value), float(weakest.ci_low), float(weakest.ci_high), float(d.p.max()),
                     f"{verdicts.count('supported')} of {len(d)} layers with a CI above 0; the weakest layer's d "
                     f"{_fmt_ci(weakest)}")


def _decoder_below_encoder(numbers: pd.DataFrame) -> Judgement | None:
    gap = _one(numbers, STACK_GAP)
    if gap is None or not np.isfinite(gap.value):
        return None
    return Judgement(verdict_of(gap.ci_low, gap.ci_high), gap.value, gap.ci_low, gap.ci_high, gap.p,
                     f"mean d encoder − decoder {_fmt_ci(gap)} (paired bootstrap over {int(gap.n):,} WiC pairs)")


def _no_polysemy_trend(numbers: pd.DataFrame) -> Judgement | None:
    r = _one(numbers, TREND)
    if r is None or not np.isfinite(r.value):
        return None
    if verdict_of(r.ci_low, r.ci_high) != "inconclusive":
        verdict: Verdict = "contradicted"  # a trend: the CI excludes 0
    elif np.isfinite(r.ci_low) and -EQUIVALENCE_R < r.ci_low and r.ci_high < EQUIVALENCE_R:
        verdict = "supported"  # the CI rules out even a small trend either way
    else:
        verdict = "inconclusive"  # no significant trend, but the data cannot rule out a small one
    n = int(r.n) if np.isfinite(r.n) else 0
    return Judgement(verdict, r.value, r.ci_low, r.ci_high, r.p,
                     f"r {_fmt_ci(r)} over {n} lemmas; the smallest trend detectable with 80% power is "
                     f"|r| {detectable_r(n):.2f}; supported only when the CI excludes |r| ≥ {EQUIVALENCE_R}")


CLAIMS: tuple[Claim, ...] = (
    Claim("Routing similarity correlates with word association (WordSim353 ρ > 0)", "§4.1, Table 1",
          _positive("Table 1 ρ · WordSim353 association", "ρ")),
    Claim("Routing follows association more than strict similarity (ρ WordSim353 > ρ SimLex-999)", "§4.1, Table 1",
          _association_beats_similarity),
    Claim("Context increases the correlation (SCWS Δρ > 0)", "§4.2, Table 2",
          _positive("context gain Δρ (SCWS)", "Δρ")),
    Claim("Same-meaning WiC pairs route more alike in every layer (d > 0 at each)", "§4.2, Fig. 2", _every_layer),
    Claim("The decoder responds less to context than the encoder (mean d lower)", "§4.2, Fig. 2",
          _decoder_below_encoder, stack_level=False),
    Claim("There is no polysemy trend (r ≈ 0)", "§4.3, Fig. 3", _no_polysemy_trend),
)


def judge_claims(numbers: pd.DataFrame) -> pd.DataFrame:
    """Every claim for every model (and across models, where a family has several) and stack it applies to."""
    rows = []
    for model, g in numbers.groupby("model", sort=False):
        if str(model).startswith("average over E"):
            continue  # Table 1–2 averages: judged through their models
        for claim in CLAIMS:
            groups = [(s, h) for s, h in g.groupby("stack", sort=True)] if claim.stack_level else [("both", g)]
            for stack, h in groups:
                verdict = claim.judge(h)
                if verdict is not None:
                    rows.append({"claim": claim.name, "paper": claim.paper, "model": model, "stack": stack,
                                 "verdict": verdict.verdict, "value": verdict.value, "ci_low": verdict.ci_low,
                                 "ci_high": verdict.ci_high, "p": verdict.p, "evidence": verdict.evidence})
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def claims_frame(results: Results, aggregate: Aggregate = "mean of models") -> pd.DataFrame:
    """The claims judged on one reproduction (rows "across models" use Fig. 2's aggregate of d only)."""
    return judge_claims(headline_numbers(results, aggregate))



def matrix_cells(claims: pd.DataFrame) -> pd.DataFrame:
    """One row per (claim, model · stack) cell of the claims matrix: verdict, evidence and, after a sensitivity run,
    whether the verdict survives every choice and which choice changes it. A model-level claim (stack "both") fills
    each stack column of its model; a cell no claim row reaches is "not applicable"."""
    if not len(claims):
        return pd.DataFrame(columns=["claim", "paper", "column", "verdict", "evidence", "survival"])
    stacks = {m: [s for s in dict.fromkeys(g["stack"]) if s != "both"] or ["both"]
              for m, g in claims.groupby("model", sort=False)}
    columns = [f"{m} · {s}" for m, ss in stacks.items() for s in ss]
    found = {}
    for r in claims.itertuples():
        survival = ""
        if "survives" in claims.columns and pd.notna(r.survives):
            survival = "survives every choice" if bool(r.survives) else f"changes under {r.changed_by}"
        for s in (stacks[r.model] if r.stack == "both" else [r.stack]):
            found[(r.claim, f"{r.model} · {s}")] = (r.verdict, r.evidence, survival)
    rows = []
    for claim in dict.fromkeys(claims.claim):
        paper = claims[claims.claim == claim].paper.iloc[0]
        for column in columns:
            verdict, evidence, survival = found.get((claim, column), (NOT_APPLICABLE, "", ""))
            rows.append({"claim": claim, "paper": paper, "column": column, "verdict": verdict, "evidence": evidence,
                         "survival": survival})
    return pd.DataFrame(rows)


def claims_matrix(claims: pd.DataFrame) -> pd.DataFrame:
    """The matrix as a table (claims × model · stack), each cell its verdict and, after a sensitivity run,
    "(survives)" or "(changes under …)": what claims_matrix.csv and the LaTeX table hold."""
    cells = matrix_cells(claims)
    if not len(cells):
        return pd.DataFrame()
    text = cells.verdict + cells.survival.map(lambda s: f" ({s.replace('survives every choice', 'survives')})"
                                              if s else "")
    wide = cells.assign(text=text).pivot(index=["claim", "paper"], columns="column", values="text")
    wide = wide.loc[list(dict.fromkeys(zip(cells.claim, cells.paper))), list(dict.fromkeys(cells.column))]
    wide.columns.name = None
    return wide.reset_index()
