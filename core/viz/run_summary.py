"""A saved run summed up for a reader: one line per model, and its notes with repeats said once (Benchmarks' header
and report.html)."""
from __future__ import annotations

import re

import pandas as pd

from core.results.store import Note, Results


def model_line(row: pd.Series) -> str:
    """A model in one readable line: name, family, experts and top-k, architecture, size, precision, origin."""
    parts = [f"**{row['model']}**", f"{row.get('family', '')}, {int(row['experts'])} experts"
             + (f", top-{int(row['top_k'])}" if pd.notna(row.get("top_k")) else "")]
    if isinstance(row.get("architecture"), str) and row["architecture"]:
        parts.append(row["architecture"])
    if pd.notna(row.get("params")):
        parts.append(f"{float(row['params']) / 1e6:,.1f}M parameters")
    if isinstance(row.get("dtype"), str):
        parts.append(row["dtype"])
    if bool(row.get("is_demo", False)):
        parts.append("a demo model trained here")
    return " · ".join(parts)


def merged_notes(results: Results) -> list[Note]:
    """The run's notes with those that differ only in the model they name said once, the models listed together
    (three "Controls leave out moefied-minilm-N …" lines become one)."""
    names = sorted(map(str, results.models.model), key=len, reverse=True) if len(results.models) else []
    groups: dict[tuple[str, bool], list[str]] = {}
    order: list[tuple[str, bool]] = []
    for note in results.notes:
        found = next(((n, m) for n in names if (m := re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", note.text))),
                     None)
        hit = found[0] if found else None
        key = ((note.text[:found[1].start()] + "{}" + note.text[found[1].end():]) if found else note.text, note.caveat)
        if key not in groups:
            groups[key] = []
            order.append(key)
        if hit:
            groups[key].append(hit)
    out = []
    for template, caveat in order:
        models = groups[(template, caveat)]
        text = template.replace("{}", ", ".join(models), 1) if models else template
        out.append(Note(text, caveat))
    return out
