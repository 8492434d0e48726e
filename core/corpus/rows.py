"""The Parquet layout of a corpus run: one row per token × sparse layer (docs/corpus.md).

Columns: doc (segment index), source (source document id), domain, position (token index in the segment), token_id,
token, word (the whitespace word the token belongs to, "" for special tokens), stack, layer (block index), experts
(the k experts the model chose, its order), probs (their router probabilities, float16), entropy (of the token's
full router distribution, bits, float16), dropped (over capacity; null for families without one), margin (the
decision margin p_(k) − p_(k+1) of the full distribution, float16; null in runs made before it), with
--full-probs probs_all (all E probabilities, float32) and, with --predictions (decoder-only models), predicted (the
model's most likely next token id at this position).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from core.corpus.sources import Segment
from core.tracing.routing_trace import RoutingTrace


def schema(top_k: int, full_probs: bool = False, predictions: bool = False) -> pa.Schema:
    fields = [
        pa.field("doc", pa.int32()), pa.field("source", pa.dictionary(pa.int32(), pa.string())),
        pa.field("domain", pa.dictionary(pa.int32(), pa.string())), pa.field("position", pa.int16()),
        pa.field("token_id", pa.int32()), pa.field("token", pa.string()), pa.field("word", pa.string()),
        pa.field("stack", pa.dictionary(pa.int8(), pa.string())), pa.field("layer", pa.int16()),
        pa.field("experts", pa.list_(pa.int16(), top_k)), pa.field("probs", pa.list_(pa.float16(), top_k)),
        pa.field("entropy", pa.float16()), pa.field("dropped", pa.bool_()), pa.field("margin", pa.float16()),
    ]
    if full_probs:
        fields.append(pa.field("probs_all", pa.list_(pa.float32())))
    if predictions:
        fields.append(pa.field("predicted", pa.int32()))
    return pa.schema(fields)


def _fixed(values: np.ndarray, kind: pa.DataType) -> pa.Array:
    n, k = values.shape
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), type=kind), k)


def table(traces: Sequence[RoutingTrace], segments: Sequence[Segment], token_ids: Sequence[Sequence[int]],
          top_k: int, has_capacity: bool, full_probs: bool = False,
          predicted: Sequence[np.ndarray] | None = None) -> pa.Table:
    """The rows of a batch of traced segments, ordered by doc, stack, layer, position; `predicted`: per segment, the
    model's next-token prediction at each position (core.tracing.predictions)."""
    sch = schema(top_k, full_probs, predicted is not None)
    cols: dict[str, list] = {name: [] for name in sch.names}
    for i, (trace, seg, ids) in enumerate(zip(traces, segments, token_ids)):
        n = len(trace.tokens)
        words = np.asarray([trace.words[w] if w >= 0 else "" for w in trace.token_word], dtype=object)
        for stack, s in trace.stacks.items():
            n_layers = len(s.layers)
            probs = s.token_probs.astype(np.float32)  # (L, T, E)
            chosen = s.selected.astype(np.int64)[..., :top_k]
            with np.errstate(divide="ignore", invalid="ignore"):
                entropy = -np.nansum(np.where(probs > 0, probs * np.log2(probs), 0.0), axis=-1)
            rows = n_layers * n
            cols["doc"].append(np.full(rows, seg.doc, np.int32))
            cols["source"] += [seg.source] * rows
            cols["domain"] += [seg.domain] * rows
            cols["position"].append(np.tile(np.arange(n, dtype=np.int16), n_layers))
            cols["token_id"].append(np.tile(np.asarray(ids[:n], dtype=np.int32), n_layers))
            cols["token"] += list(trace.tokens) * n_layers
            cols["word"] += list(words) * n_layers
            cols["stack"] += [stack] * rows
            cols["layer"].append(np.repeat(s.layers.astype(np.int16), n))
            cols["experts"].append(chosen.reshape(rows, top_k).astype(np.int16))
            cols["probs"].append(np.take_along_axis(probs, chosen, axis=-1).reshape(rows, top_k).astype(np.float16))
            cols["entropy"].append(entropy.reshape(rows).astype(np.float16))
            cols["margin"].append(s.margins.reshape(rows).astype(np.float16))
            cols["dropped"].append(s.dropped.reshape(rows) if has_capacity else np.full(rows, None, dtype=object))
            if full_probs:
                cols["probs_all"] += list(probs.reshape(rows, -1))
            if predicted is not None:
                cols["predicted"].append(np.tile(np.asarray(predicted[i][:n], dtype=np.int32), n_layers))
    arrays = []
    for field in sch:
        values = cols[field.name]
        if field.name in ("experts", "probs"):
            kind = pa.int16() if field.name == "experts" else pa.float16()
            arrays.append(_fixed(np.concatenate(values) if values else np.zeros((0, top_k)), kind))
        elif field.name in ("doc", "position", "token_id", "layer", "entropy", "dropped", "margin", "predicted"):
            merged = np.concatenate(values) if values else np.zeros(0)
            arrays.append(pa.array(merged, type=field.type))
        elif isinstance(field.type, pa.DictionaryType):
            arrays.append(pa.array(values, type=pa.string()).dictionary_encode().cast(field.type))
        else:
            arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=sch)
