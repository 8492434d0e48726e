"""Corpus runs and the portable trace format (core.tracing.portable), both ways:

- `to_portable(run)`: a corpus run's shards as a portable trace (ids, and distributions where the run kept them with
  --full-probs), so a run can be shared or compared with an engine's routes;
- `from_portable(frame, meta, out)`: a portable trace — an engine's imported routes — as a corpus run, so `experts`
  and `studies` read it. An IDs-only trace has no probabilities: the run's probs, entropy and margin are NaN and the
  manifest names the source as imported:<engine>; the studies that need them show nothing for it, the others
  (saturation, co-activation, domain and vocabulary specialisation, pathways, balance, SRP/SCH) run on the ids.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.corpus.rows import _fixed, schema
from core.corpus.run import CorpusSpec, shard_files, shard_path, write_manifest
from core.tracing.portable import TraceMeta


def to_portable(run: Path, spec: CorpusSpec) -> tuple[pd.DataFrame, TraceMeta]:
    frames = [pq.read_table(p).to_pandas() for p in shard_files(run)]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    full = "probs_all" in rows
    layers = {str(s): sorted(int(x) for x in g.layer.unique()) for s, g in rows.groupby("stack", observed=True)}
    texts = rows.drop_duplicates("doc").sort_values("doc")
    meta = TraceMeta(model_id=spec.model, source="routing-lens", holds="distributions" if full else "ids",
                     num_experts=spec.num_experts, top_k=spec.top_k, layers=layers,
                     texts=[f"{spec.source} segment {d}" for d in texts.doc], revision=spec.revision,
                     precision=spec.dtype, batching="corpus segments", notes=[f"corpus run of {spec.source}"])
    frame = pd.DataFrame({
        "text_id": rows.doc.astype(np.int32), "position": rows.position.astype(np.int32),
        "token_id": rows.token_id.astype(np.int64), "token": rows.token.astype(str), "phase": "prefill",
        "stack": rows["stack"].astype(str), "layer": rows.layer.astype(np.int16),
        "layer_pos": (rows.groupby("stack", observed=True).layer.rank(method="dense") - 1).astype(np.int16),
        "experts": list(np.stack(rows.experts.to_numpy()).astype(np.int16)), "weights": None,
        "probs": list(rows.probs_all) if full else None,
    })
    return frame, meta


def from_portable(frame: pd.DataFrame, meta: TraceMeta, out: Path) -> CorpusSpec:
    """One shard of every row, and a manifest marking the run as imported (and IDs only where it is)."""
    out.mkdir(parents=True, exist_ok=True)
    k, n = meta.top_k, len(frame)
    experts = np.stack(frame.experts.to_numpy()).astype(np.int16) if n else np.zeros((0, k), np.int16)
    arrays = {
        "doc": pa.array(frame.text_id.to_numpy(np.int32)), "position": pa.array(frame.position.to_numpy(np.int16)),
        "token_id": pa.array(frame.token_id.clip(lower=-1).to_numpy(np.int32)),
        "token": pa.array(frame.token.astype(str).tolist()), "word": pa.array([""] * n),
        "layer": pa.array(frame.layer.to_numpy(np.int16)), "experts": _fixed(experts, pa.int16()),
        "probs": _fixed(np.full((n, k), np.nan, np.float16), pa.float16()),
        "entropy": pa.array(np.full(n, np.nan, np.float16)), "dropped": pa.array([None] * n, type=pa.bool_()),
        "margin": pa.array(np.full(n, np.nan, np.float16)),
    }
    for name, values in (("source", [f"{meta.source} text {t}" for t in frame.text_id]),
                         ("domain", [meta.source] * n), ("stack", frame["stack"].astype(str).tolist())):
        arrays[name] = pa.array(values, type=pa.string()).dictionary_encode()
    sch = schema(k)
    table = pa.Table.from_arrays([arrays[f.name].cast(f.type) for f in sch], schema=sch)
    tmp = shard_path(out, 0).with_suffix(".tmp")
    pq.write_table(table, tmp)
    tmp.replace(shard_path(out, 0))
    spec = CorpusSpec(model=meta.model_id, revision=meta.revision, dtype=meta.precision or "unknown",
                      source=f"imported:{meta.source}", stacks=tuple(meta.layers), top_k=k,
                      num_experts=meta.num_experts, causal=tuple(meta.layers) == ("decoder",), done=[0],
                      tokens={"0": int(frame.drop_duplicates(["text_id", "position"]).shape[0])})
    write_manifest(out, spec)
    return spec
