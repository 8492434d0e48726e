"""The paper's claims, each judged on a reproduction: does this model support it, and how strongly.

Each claim is a sentence of the paper turned into a test on the headline numbers (core.studies.headline), per model
and stack. The sensitivity run (core.studies.sensitivity) judges the same claims under every alternative choice and
says whether the verdict survives all of them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.results.store import Results
from core.studies.headline import Aggregate, headline_numbers, significant

CLAIM_COLUMNS = ["claim", "paper", "model", "stack", "supported", "value", "ci_low", "ci_high", "p", "evidence"]


@dataclass(frozen=True)
class Verdict:
    supported: bool
    value: float
    ci_low: float
    ci_high: float
    p: float
    evidence: str


@dataclass(frozen=True)
class Claim:
    """`judge` gets the headline numbers of one (model, stack) and returns a verdict, or None where it cannot apply."""

    name: str
    paper: str  # where the paper says it
    judge: Callable[[pd.DataFrame], Verdict | None]
    stack_level: bool = True  # judged per stack; False: once per model over both stacks


def _one(numbers: pd.DataFrame, name: str) -> pd.Series | None:
    hit = numbers[numbers.number == name]
    return hit.iloc[0] if len(hit) else None


def _fmt_ci(r: pd.Series) -> str:
    ci = f" [{r.ci_low:+.3f}, {r.ci_high:+.3f}]" if np.isfinite(r.ci_low) else ""
    p = f", p {r.p:.2g}" if np.isfinite(r.p) else ""
    return f"{r.value:+.3f}{ci}{p}"


def _positive_and_significant(name: str, what: str) -> Callable[[pd.DataFrame], Verdict | None]:
    def judge(numbers: pd.DataFrame) -> Verdict | None:
        r = _one(numbers, name)
        if r is None or not np.isfinite(r.value):
            return None
        ok = r.value > 0 and significant(r.value, r.ci_low, r.ci_high, r.p)
        return Verdict(ok, r.value, r.ci_low, r.ci_high, r.p, f"{what} {_fmt_ci(r)}")
    return judge


def _association_beats_similarity(numbers: pd.DataFrame) -> Verdict | None:
    a = _one(numbers, "Table 1 ρ · WordSim353 association")
    s = _one(numbers, "Table 1 ρ · SimLex-999 similarity")
    if a is None or s is None or not (np.isfinite(a.value) and np.isfinite(s.value)):
        return None
    diff = a.value - s.value
    return Verdict(bool(diff > 0), diff, np.nan, np.nan, np.nan,
                   f"ρ WordSim353 {a.value:.3f} − ρ SimLex-999 {s.value:.3f} = {diff:+.3f}")


def _every_layer_significant(numbers: pd.DataFrame) -> Verdict | None:
    d = numbers[numbers.number == "WiC Cohen's d"].dropna(subset=["value"])
    if not len(d):
        return None
    ok = [v > 0 and significant(v, lo, hi, p) for v, lo, hi, p in zip(d.value, d.ci_low, d.ci_high, d.p)]
    weakest = d.iloc[int(np.argmin(d.value.to_numpy()))]
    return Verdict(all(ok), float(weakest.value), float(weakest.ci_low), float(weakest.ci_high), float(d.p.max()),
                   f"{sum(ok)} of {len(ok)} layers with d > 0 and p < 0.05; smallest d {_fmt_ci(weakest)}")


def _decoder_below_encoder(numbers: pd.DataFrame) -> Verdict | None:
    d = numbers[numbers.number == "WiC Cohen's d"].dropna(subset=["value"])
    means = d.groupby("stack").value.mean()
    if not {"encoder", "decoder"} <= set(means.index):
        return None
    diff = float(means["encoder"] - means["decoder"])
    return Verdict(diff > 0, diff, np.nan, np.nan, np.nan,
                   f"mean d encoder {means['encoder']:.3f} − decoder {means['decoder']:.3f} = {diff:+.3f}")


def _polysemy_insignificant(numbers: pd.DataFrame) -> Verdict | None:
    r = _one(numbers, "polysemy trend r")
    if r is None or not np.isfinite(r.p):
        return None
    return Verdict(bool(r.p >= 0.05), r.value, np.nan, np.nan, r.p, f"r {r.value:+.3f}, p {r.p:.2g}")


CLAIMS: tuple[Claim, ...] = (
    Claim("Routing similarity correlates with word association (WordSim353 ρ > 0, significant)", "§4.1, Table 1",
          _positive_and_significant("Table 1 ρ · WordSim353 association", "ρ")),
    Claim("Routing follows association more than strict similarity (ρ WordSim353 > ρ SimLex-999)", "§4.1, Table 1",
          _association_beats_similarity),
    Claim("Context significantly increases the correlation (SCWS Δρ > 0, p < 0.05)", "§4.2, Table 2",
          _positive_and_significant("context gain Δρ (SCWS)", "Δρ")),
    Claim("Same-meaning WiC pairs route more alike in every layer (d > 0, p < 0.05 at each)", "§4.2, Fig. 2",
          _every_layer_significant),
    Claim("The decoder responds less to context than the encoder (mean d lower)", "§4.2, Fig. 2",
          _decoder_below_encoder, stack_level=False),
    Claim("The polysemy trend is not significant (p ≥ 0.05)", "§4.3, Fig. 3", _polysemy_insignificant),
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
                                 "supported": verdict.supported, "value": verdict.value, "ci_low": verdict.ci_low,
                                 "ci_high": verdict.ci_high, "p": verdict.p, "evidence": verdict.evidence})
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def claims_frame(results: Results, aggregate: Aggregate = "mean of models") -> pd.DataFrame:
    """The claims judged on one reproduction (rows "across models" use Fig. 2's aggregate of d only)."""
    return judge_claims(headline_numbers(results, aggregate))

