"""One column-label map and one number format for every table the app or a report shows.

`readable(frame)` is the last step before a table meets a reader: human headers (never snake_case), a value and its
CI as "0.159 [0.112, 0.202]", p as 0.03 / 2.1e-05 / < 1e-10, counts with thousands separators, other numbers to
three decimals, yes/no for flags, and "—" for anything missing (never `nan`). Files written for machines (CSV,
parquet, LaTeX exports) keep their raw columns: this is presentation only.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable

import pandas as pd

MISSING = "—"
P_FLOOR = 1e-10

LABELS: dict[str, str] = {
    "rho": "ρ", "d": "Cohen's d", "p": "p", "n": "n", "n_T": "pairs, same meaning", "n_F": "pairs, different meaning",
    "mean_T": "mean JSS, same meaning", "mean_F": "mean JSS, different meaning", "layer": "layer", "layer_pos": "sparse layer",
    "experts": "experts", "top_k": "top-k", "is_demo": "demo", "params": "parameters", "dtype": "precision",
    "decoder_read": "decoder reading", "paper_checkpoint": "the paper's checkpoint", "rho_over_experts": "ρ over expert counts",
    "layer_from": "from layer", "layer_to": "to layer", "published_rho": "published ρ", "rho_without": "ρ without context",
    "rho_with": "ρ with context", "williams_t": "Williams t", "williams_p": "Williams p", "d_routing": "d, routing",
    "d_cosine": "d, router inputs (cosine)", "d_random_mean": "d, random routers", "d_random": "d, random routers",
    "retention": "retention", "partial_r": "partial r", "d_overlap": "d, expert overlap",
    "rho_routing": "ρ, routing", "rho_cosine": "ρ, router inputs (cosine)", "rho_random_mean": "ρ, random routers",
    "rho_routing_high": "ρ, routing (high)", "std_share": "spread of shares", "corpus_share": "share in the corpus",
    "share": "share", "tokens": "tokens", "domains": "domains", "revision": "revision", "source": "source",
    "family": "family", "architecture": "architecture", "model": "model", "stack": "stack", "setting": "setting",
    "dataset": "dataset", "number": "number", "evidence": "evidence", "verdict": "verdict", "claim": "claim",
    "paper": "paper", "survives": "survives every choice", "changed_by": "changed by", "gain": "context gain",
    "near_tie_share": "re-routes that were near-ties", "mean_kl_F": "mean KL, different meaning",
    "mean_kl_T": "mean KL, same meaning", "d_confident": "d without near-tie flips",
}
COUNT_COLUMNS = {"n", "n_T", "n_F", "params", "tokens", "count", "pairs", "occurrences", "experts", "top_k", "dropped",
                 "domains", "texts"}
INTEGER_COLUMNS = {"layer", "layer_from", "layer_to", "layer_pos", "expert"}
# a value column and the column names of its CI bounds
CI_PAIRS: tuple[tuple[str, str, str], ...] = (("rho", "ci_low", "ci_high"), ("d", "ci_low", "ci_high"),
                                              ("gain", "ci_low", "ci_high"), ("value", "ci_low", "ci_high"),
                                              ("d_random_mean", "d_random_low", "d_random_high"),
                                              ("d_confident", "d_confident_low", "d_confident_high"))
SNAKE = re.compile(r"[a-z0-9]+_[a-z0-9_]+")


def label(column: str) -> str:
    """A column's header as a reader sees it."""
    if column in LABELS:
        return LABELS[column]
    if column.endswith("_p") and column[:-2] in LABELS:
        return f"p ({LABELS[column[:-2]]})"
    return column.replace("_", " ") if SNAKE.fullmatch(column) else column


def is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in {"", "nan", "none", "<na>"}


def format_p(p) -> str:
    """p as a reader wants it: 0.03, 0.0012, 2.1e-05, or < 1e-10 (never 0 and never 0.0000)."""
    if is_missing(p):
        return MISSING
    p = float(p)
    if p < P_FLOOR:
        return "< 1e-10"
    if p >= 0.001:
        return f"{p:.2g}" if p < 0.01 else f"{p:.2f}".rstrip("0").rstrip(".") if p < 1 else "1"
    return f"{p:.1e}"


def format_count(value) -> str:
    return MISSING if is_missing(value) else f"{int(round(float(value))):,}"


def format_number(value, digits: int = 3) -> str:
    if is_missing(value):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() and abs(value) >= 1000 else f"{value:.{digits}f}"
    return str(value)


def format_ci(value, low, high, digits: int = 3) -> str:
    if is_missing(value):
        return MISSING
    ci = "" if is_missing(low) or is_missing(high) else f" [{low:.{digits}f}, {high:.{digits}f}]"
    return f"{value:.{digits}f}{ci}"


def _is_p(column: str) -> bool:
    return column == "p" or column.endswith("_p") or column in {"p_value", "pvalue"}


def _format(column: str, values: pd.Series) -> list[str]:
    if _is_p(column) and pd.api.types.is_numeric_dtype(values):
        return [format_p(v) for v in values]
    if pd.api.types.is_bool_dtype(values):
        return [MISSING if is_missing(v) else ("yes" if v else "no") for v in values]
    if column in COUNT_COLUMNS and pd.api.types.is_numeric_dtype(values):
        return [format_count(v) for v in values]
    if column in INTEGER_COLUMNS and pd.api.types.is_numeric_dtype(values):
        return [MISSING if is_missing(v) else str(int(v)) for v in values]
    return [format_number(v.item() if hasattr(v, "item") else v) for v in values]


def readable(frame: pd.DataFrame, keep_index: bool = False) -> pd.DataFrame:
    """The table as shown: CIs merged into their value, every cell a formatted string, headers in words."""
    out = frame.reset_index() if keep_index else frame.copy()
    columns: dict[str, list[str]] = {}
    used: set[str] = set()
    for value, low, high in CI_PAIRS:
        if {value, low, high} <= set(out.columns) and not used & {low, high}:
            columns[value] = [format_ci(v, lo, hi) for v, lo, hi in zip(out[value], out[low], out[high])]
            used |= {low, high}
    for column in out.columns:
        stem = str(column)
        if stem.endswith(("_low", "_high")) and stem.rsplit("_", 1)[0] in out.columns:
            base = stem.rsplit("_", 1)[0]
            if f"{base}_low" in out and f"{base}_high" in out and base not in columns:
                columns[base] = [format_ci(v, lo, hi) for v, lo, hi in
                                 zip(out[base], out[f"{base}_low"], out[f"{base}_high"])]
            used.add(stem)
    shown = pd.DataFrame(index=range(len(out)))
    for column in out.columns:
        if column in used:
            continue
        name = str(column)
        cells = columns.get(name) or _format(name, out[column])
        header = label(name) + (" [95% CI]" if name in columns else "")
        shown[header] = cells
    return shown


def snake_case_headers(headers: Iterable[str]) -> list[str]:
    """Headers a reader would see as code (for tests and checks)."""
    return [h for h in map(str, headers) if SNAKE.fullmatch(h)]


SWAP_NOTE = ("Each WiC pair's word in sentence 2 routed as in sentence 1 (its experts and weights copied token by token), "
             "at every sparse layer at once (layer −1) and at one layer at a time: Cohen's d of the output's change "
             "(mean KL of its predictions from the word on) for different- against same-meaning pairs.")
NEAR_TIE_NOTE = ("Of the pairs whose word is routed to another top-k in its two sentences, the share where the closer of "
                 "the two decisions had a margin below 0.4/E (a near-tie: the flip may not be a response to context), "
                 "and Cohen's d with those pairs left out.")


def near_tie_table(cohens: pd.DataFrame, scope: str) -> pd.DataFrame:
    """Fig. 2's d beside how much of it could be near-tie flips (core.studies.wic.near_ties), one row per layer."""
    part = cohens[(cohens.model == scope)] if "near_tie_share" in cohens else cohens.iloc[0:0]
    part = part[part.near_tie_share.notna()] if len(part) else part
    cols = ["stack", "layer", "d", "ci_low", "ci_high", "near_tie_share", "d_confident", "d_confident_low",
            "d_confident_high"]
    return part[cols].reset_index(drop=True) if len(part) else pd.DataFrame(columns=cols)
