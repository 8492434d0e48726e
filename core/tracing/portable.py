"""The portable routing trace: one format for routes from Routing Lens and from the serving engines (vLLM, SGLang,
Megatron-Core, llama.cpp), specified in docs/trace-format.md.

`NAME.parquet`: one row per (text, token, stack, sparse layer) — `text_id`, `position`, `token_id` (−1 unknown),
`token`, `phase` ("prefill" or "generated"), `stack`, `layer` (the block index), `layer_pos`, `experts` (the chosen
expert ids in the engine's order), `weights` and `probs` (null where the source has none).
`NAME.json`: the sidecar — what the trace is of and what it holds (`TraceMeta`), with the texts.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from core.errors import InputError

FORMAT = "routing-lens-trace"
VERSION = 1
Holds = Literal["ids", "weights", "distributions"]
SOURCES = ("routing-lens", "vllm", "sglang", "megatron", "llama.cpp")
COLUMNS = ("text_id", "position", "token_id", "token", "phase", "stack", "layer", "layer_pos", "experts", "weights",
           "probs")


@dataclass
class TraceMeta:
    """The sidecar: provenance and content of a portable trace."""

    model_id: str
    source: str  # one of SOURCES
    holds: Holds
    num_experts: int
    top_k: int
    layers: dict[str, list[int]]  # per stack, the block index of every sparse layer
    texts: list[str]
    revision: str = ""
    checkpoint_sha256: str = ""
    precision: str = ""
    source_version: str = ""
    tokens: str = "prefill"  # "prefill", "generated" or "both"
    batching: str = ""  # how texts were batched ("one text per request", "continuous batching", …)
    token_order: str = "position"  # rows within a text: in position order
    notes: list[str] = field(default_factory=list)
    format: str = FORMAT
    version: int = VERSION


def paths(path: Path | str) -> tuple[Path, Path]:
    """(NAME.parquet, NAME.json) for NAME, NAME.parquet or NAME.json."""
    p = Path(path)
    base = p.with_suffix("") if p.suffix in (".parquet", ".json") else p
    return base.with_suffix(".parquet"), base.with_suffix(".json")


def write(frame: pd.DataFrame, meta: TraceMeta, path: Path | str) -> tuple[Path, Path]:
    """Both files, each written to a temporary name and renamed (a reader never sees half a trace)."""
    table, sidecar = paths(path)
    table.parent.mkdir(parents=True, exist_ok=True)
    tmp_table, tmp_side = table.with_suffix(".parquet.tmp"), sidecar.with_suffix(".json.tmp")
    frame.loc[:, list(COLUMNS)].to_parquet(tmp_table, index=False, compression="zstd")
    tmp_side.write_text(json.dumps(asdict(meta), ensure_ascii=False, indent=1), encoding="utf-8")
    tmp_table.replace(table)
    tmp_side.replace(sidecar)
    return table, sidecar


def read(path: Path | str) -> tuple[pd.DataFrame, TraceMeta]:
    """A portable trace, checked: a missing file or field is an InputError naming it."""
    table, sidecar = paths(path)
    for p in (table, sidecar):
        if not p.is_file():
            raise InputError(f"{p.name}: no such file (a portable trace is NAME.parquet with its NAME.json).")
    try:
        raw = json.loads(sidecar.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise InputError(f"{sidecar.name}: not JSON.") from None
    if raw.get("format") != FORMAT:
        raise InputError(f"{sidecar.name}: format is {raw.get('format')!r}, not {FORMAT!r}.")
    try:
        meta = TraceMeta(**{k: v for k, v in raw.items() if k in TraceMeta.__dataclass_fields__})
    except TypeError as err:
        raise InputError(f"{sidecar.name}: a field is missing ({err}).") from None
    frame = pd.read_parquet(table)
    if missing := [c for c in COLUMNS if c not in frame]:
        raise InputError(f"{table.name}: column {missing[0]!r} is missing.")
    return frame, meta


def from_arrays(ids: list[np.ndarray], meta: TraceMeta, stack: str = "decoder", token_ids: list | None = None,
                tokens: list | None = None, phases: list | None = None, weights: list | None = None,
                probs: list | None = None) -> pd.DataFrame:
    """Rows from per-text arrays: ids[i] (T, L, k) chosen experts (−1: none), optional token ids, token strings,
    phases (T,), weights (T, L, k) and distributions (T, L, E); built as whole columns, not a frame per text."""
    if not ids:
        return pd.DataFrame(columns=list(COLUMNS))
    layers = np.asarray(meta.layers[stack], dtype=np.int16)
    n_layers = len(layers)
    lengths = np.array([a.shape[0] for a in ids])

    def per_token(values: list | None, fill, dtype) -> np.ndarray:
        """One value per token of every text, repeated for each of its layers."""
        flat = (np.concatenate([np.asarray(v, dtype=dtype) for v in values]) if values
                else np.full(lengths.sum(), fill, dtype=dtype))
        return np.repeat(flat, n_layers)

    def rows(arrays: list | None, dtype) -> list | None:
        return list(np.concatenate([a.reshape(-1, a.shape[-1]) for a in arrays]).astype(dtype)) if arrays else None

    return pd.DataFrame({
        "text_id": np.repeat(np.arange(len(ids), dtype=np.int32), lengths * n_layers),
        "position": np.repeat(np.concatenate([np.arange(t, dtype=np.int32) for t in lengths]), n_layers),
        "token_id": per_token(token_ids, -1, np.int64),
        "token": per_token(tokens, "", object),
        "phase": per_token(phases, "prefill", object),
        "stack": stack,
        "layer": np.tile(layers, lengths.sum()),
        "layer_pos": np.tile(np.arange(n_layers, dtype=np.int16), lengths.sum()),
        "experts": rows(ids, np.int16),
        "weights": rows(weights, np.float32),
        "probs": rows(probs, np.float32),
    })


def id_arrays(frame: pd.DataFrame, stack: str, column: str = "experts") -> dict[int, np.ndarray]:
    """Per text id, its (T, L, k) chosen experts of one stack in position order (`column="probs"`: its (T, L, E)
    distributions)."""
    part = frame[frame["stack"] == stack].sort_values(["text_id", "position", "layer_pos"], kind="stable")
    if part.empty:
        return {}
    values = np.stack(part[column].to_numpy())
    n_layers = int(part.layer_pos.max()) + 1
    text_ids, starts = np.unique(part.text_id.to_numpy(), return_index=True)
    ends = [*starts[1:], len(part)]
    return {int(t): values[a:b].reshape(-1, n_layers, values.shape[-1]) for t, a, b in zip(text_ids, starts, ends)}
