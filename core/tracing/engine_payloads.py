"""The serving engines' route payloads, decoded into (tokens, MoE layers, k) arrays of expert ids (docs/trace-format.md
names each wire format). Every engine returns chosen expert ids only — no weights, logits or probabilities.

- vLLM (`--enable-return-routed-experts`): `routed_experts` per choice (generated tokens) and `prompt_routed_experts`
  (prompt tokens), int16 [tokens, layers, k], as nested lists or a base64 `.npy` buffer; the offline `LLM`'s
  `RequestOutput` saved as the same keys (`prompt_routed_experts`, `outputs[i].routed_experts`).
- SGLang (`--enable-return-routed-experts`, `"return_routed_experts": true`): native `meta_info["routed_experts"]`,
  base64 int32 reshaped to (−1, layers, k), prompt tokens first (`meta_info["prompt_tokens"]` of them); OpenAI
  endpoints: per choice `sgl_ext["routed_experts"]`, its first row at `routed_experts_start_len`.
- Megatron-Core: RouterTracer JSONL, one record per (step, layer, rank) with `indices` [tokens][k] (ranks hold
  consecutive token slices); RouterReplay's recorded top-k per layer saved with numpy (`layer_<n>`: (tokens, k)).
- llama.cpp `moe-trace`: a `layer,expert` CSV, k rows per token and layer, tokens in order.

A payload that does not match the model (layers, k, E) or cannot be read is an InputError naming the field.
"""
from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import dataclass, field

import numpy as np

from core.errors import InputError


@dataclass(frozen=True)
class Shape:
    """What the model routes: its sparse layers (block indices), k and E."""

    layers: tuple[int, ...]
    top_k: int
    num_experts: int


@dataclass
class Decoded:
    """One text's routes from a payload: ids (T, L, k), and what the payload says about its tokens."""

    ids: np.ndarray
    phases: list[str]
    token_ids: list[int] | None = None
    notes: list[str] = field(default_factory=list)


def _array(value, name: str, dtype) -> np.ndarray:
    """A nested list, a base64 `.npy` buffer or base64 raw bytes of `dtype`."""
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError:
            raise InputError(f"{name}: not base64.") from None
        if raw[:6] == b"\x93NUMPY":
            try:
                return np.load(io.BytesIO(raw), allow_pickle=False)
            except ValueError:
                raise InputError(f"{name}: a damaged .npy buffer.") from None
        if len(raw) % np.dtype(dtype).itemsize:
            raise InputError(f"{name}: {len(raw)} bytes is not a whole number of {np.dtype(dtype).name} values.")
        return np.frombuffer(raw, dtype=dtype)
    try:
        return np.asarray(value, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{name}: expected a list of expert ids or a base64 buffer.") from None


def check(ids: np.ndarray, shape: Shape, name: str) -> np.ndarray:
    """(T, L, k) ids matching the model, else an InputError naming the field and what differs."""
    if ids.ndim == 1:
        per = len(shape.layers) * shape.top_k
        if ids.size % per:
            raise InputError(f"{name}: {ids.size} ids do not split into tokens of {len(shape.layers)} layers × "
                             f"k {shape.top_k}.")
        ids = ids.reshape(-1, len(shape.layers), shape.top_k)
    if ids.ndim != 3:
        raise InputError(f"{name}: expected [tokens, layers, k], got {ids.ndim} dimensions.")
    if ids.shape[1] != len(shape.layers):
        raise InputError(f"{name}: {ids.shape[1]} MoE layers per token; the model has {len(shape.layers)}.")
    if ids.shape[2] != shape.top_k:
        raise InputError(f"{name}: k = {ids.shape[2]} experts per token and layer; the model routes top-"
                         f"{shape.top_k}.")
    real = ids[ids >= 0]
    if real.size and int(real.max()) >= shape.num_experts:
        raise InputError(f"{name}: expert id {int(real.max())}; the model has {shape.num_experts} experts "
                         f"(0–{shape.num_experts - 1}).")
    if (ids < -1).any():
        raise InputError(f"{name}: negative expert id {int(ids.min())} (−1 alone means no expert).")
    return ids.astype(np.int16)


def _get(obj: dict, key: str, where: str):
    if not isinstance(obj, dict):
        raise InputError(f"{where.rstrip('.') or 'the payload'}: expected an object with {key}.")
    if key not in obj:
        raise InputError(f"{where}{key}: missing.")
    return obj[key]


def _items(obj, where: str) -> list:
    """A JSON list (a lone object counts as a list of one)."""
    if isinstance(obj, dict):
        return [obj]
    if not isinstance(obj, list):
        raise InputError(f"{where}: expected a list.")
    return obj


def _int(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise InputError(f"{where}: expected a number.")
    return int(value)


def vllm(payload, shape: Shape) -> list[Decoded]:
    """An OpenAI-compatible completion response, or a list of offline `RequestOutput`s saved as JSON."""
    outs = []
    if isinstance(payload, dict) and "choices" in payload:
        prompt = payload.get("prompt_routed_experts")
        for i, choice in enumerate(_items(payload["choices"], "choices")):
            gen = _get(choice, "routed_experts", f"choices[{i}].")
            p = choice.get("prompt_routed_experts", prompt)
            parts = ([check(_array(p, "prompt_routed_experts", np.int16), shape, "prompt_routed_experts")]
                     if p is not None else [])
            parts.append(check(_array(gen, f"choices[{i}].routed_experts", np.int16), shape,
                               f"choices[{i}].routed_experts"))
            ids = np.concatenate(parts)
            phases = ["prefill"] * (len(parts[0]) if p is not None else 0) + ["generated"] * len(parts[-1])
            token_ids = _token_ids(payload.get("prompt_token_ids") or choice.get("prompt_token_ids"),
                                   "prompt_token_ids")
            outs.append(Decoded(ids, phases, token_ids))
        return outs
    for i, req in enumerate(_items(payload, "the payload")):
        prompt = check(_array(_get(req, "prompt_routed_experts", f"[{i}]."), f"[{i}].prompt_routed_experts",
                              np.int16), shape, f"[{i}].prompt_routed_experts")
        first = _items(req.get("outputs") or [], f"[{i}].outputs")[:1]
        gen = [check(_array(o["routed_experts"], f"[{i}].outputs.routed_experts", np.int16), shape,
                     f"[{i}].outputs.routed_experts") for o in first
               if isinstance(o, dict) and o.get("routed_experts") is not None]
        ids = np.concatenate([prompt, *gen])
        outs.append(Decoded(ids, ["prefill"] * len(prompt) + ["generated"] * (len(ids) - len(prompt)),
                            _token_ids(req.get("prompt_token_ids"), f"[{i}].prompt_token_ids")))
    return outs


def _token_ids(value, where: str) -> list[int] | None:
    if value is None or value == []:
        return None
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise InputError(f"{where}: expected a list of token ids.")
    return list(value)


def sglang(payload, shape: Shape) -> list[Decoded]:
    """A native /generate response (or a list of them), or an OpenAI-compatible response with `sgl_ext`."""
    if isinstance(payload, dict) and "choices" in payload:
        outs = []
        for i, choice in enumerate(_items(payload["choices"], "choices")):
            ext = _get(choice, "sgl_ext", f"choices[{i}].")
            ids = check(_array(_get(ext, "routed_experts", f"choices[{i}].sgl_ext."), "routed_experts", np.int32),
                        shape, f"choices[{i}].sgl_ext.routed_experts")
            start = _int(ext.get("routed_experts_start_len", 0) or 0, f"choices[{i}].sgl_ext.routed_experts_start_len")
            usage = payload.get("usage") or {}
            prompt = _int(usage.get("prompt_tokens", start) if isinstance(usage, dict) else start, "usage.prompt_tokens")
            phases = ["prefill" if start + t < prompt else "generated" for t in range(len(ids))]
            note = [f"rows start at token {start}"] if start else []
            outs.append(Decoded(ids, phases, None, note))
        return outs
    outs = []
    for i, item in enumerate(_items(payload, "the payload")):
        meta = _get(item, "meta_info", f"[{i}].")
        ids = check(_array(_get(meta, "routed_experts", f"[{i}].meta_info."), "meta_info.routed_experts", np.int32),
                    shape, f"[{i}].meta_info.routed_experts")
        prompt = _int(meta.get("prompt_tokens", len(ids)), f"[{i}].meta_info.prompt_tokens")
        outs.append(Decoded(ids, ["prefill" if t < prompt else "generated" for t in range(len(ids))]))
    return outs


def megatron_tracer(lines: str, shape: Shape) -> list[Decoded]:
    """RouterTracer JSONL: per step one text; per layer the ranks' token slices in rank order."""
    steps: dict[int, dict[int, dict[int, np.ndarray]]] = {}
    for n, line in enumerate(lines.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            raise InputError(f"line {n}: not JSON.") from None
        if not isinstance(rec, dict):
            raise InputError(f"line {n}: expected a JSON object.")
        indices = rec.get("indices", rec.get("topk_indices"))
        for key, value in (("step", rec.get("step")), ("layer", rec.get("layer")), ("indices", indices)):
            if value is None:
                raise InputError(f"line {n}: {key}: missing.")
        layer = _int(rec["layer"], f"line {n}: layer")
        if layer not in shape.layers:
            raise InputError(f"line {n}: layer {layer} is not a MoE layer of the model ({list(shape.layers)}).")
        try:
            flat = np.asarray(indices, dtype=np.int64)
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"line {n}: indices: not a list of expert ids.") from None
        if flat.size % shape.top_k:
            raise InputError(f"line {n}: indices: {flat.size} ids do not split into rows of k {shape.top_k}.")
        step, rank = _int(rec["step"], f"line {n}: step"), _int(rec.get("rank", 0), f"line {n}: rank")
        steps.setdefault(step, {}).setdefault(layer, {})[rank] = flat.reshape(-1, shape.top_k)
    outs = []
    for step in sorted(steps):
        per_layer = steps[step]
        if missing := [b for b in shape.layers if b not in per_layer]:
            raise InputError(f"step {step}: layer {missing[0]} has no record.")
        joined = [np.concatenate([per_layer[b][r] for r in sorted(per_layer[b])]) for b in shape.layers]
        if len({len(j) for j in joined}) > 1:
            raise InputError(f"step {step}: the layers hold different numbers of tokens "
                             f"({', '.join(str(len(j)) for j in joined)}).")
        stacked = np.stack(joined, axis=1)
        outs.append(Decoded(check(stacked, shape, f"step {step}"), ["prefill"] * len(stacked)))
    return outs


def megatron_replay(arrays: dict[str, np.ndarray], shape: Shape) -> list[Decoded]:
    """RouterReplay's recorded top-k: `layer_<n>` (tokens, k) per MoE layer, one text."""
    missing = [b for b in shape.layers if f"layer_{b}" not in arrays]
    if missing:
        raise InputError(f"layer_{missing[0]}: missing (one array per MoE layer of the model).")
    layers = [np.asarray(arrays[f"layer_{b}"]) for b in shape.layers]
    if len({a.shape for a in layers}) > 1:
        raise InputError(f"layer_<n>: the arrays differ in shape ({', '.join(str(a.shape) for a in layers)}).")
    stacked = np.stack(layers, axis=1)
    return [Decoded(check(stacked, shape, "RouterReplay"), ["prefill"] * len(stacked))]


def llama_cpp(text: str, shape: Shape) -> list[Decoded]:
    """`layer,expert` rows: k per token and layer, layers in order, tokens in order; one text."""
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
    if rows and not rows[0][0].strip().lstrip("-").isdigit():
        header = [h.strip() for h in rows[0]]
        if header[:2] != ["layer", "expert"]:
            raise InputError(f"header: expected layer,expert, got {','.join(header)}.")
        rows = rows[1:]
    try:
        pairs = np.array([[int(r[0]), int(r[1])] for r in rows], dtype=np.int64).reshape(-1, 2)
    except (ValueError, IndexError, OverflowError):
        raise InputError("a row is not two integers layer,expert.") from None
    per_token = len(shape.layers) * shape.top_k
    if len(pairs) % per_token:
        raise InputError(f"{len(pairs)} rows do not split into tokens of {len(shape.layers)} layers × k "
                         f"{shape.top_k}.")
    layer_col = pairs[:, 0].reshape(-1, len(shape.layers), shape.top_k)
    expected = np.asarray(shape.layers)[None, :, None]
    if not (layer_col == expected).all():
        bad = int(layer_col[layer_col != np.broadcast_to(expected, layer_col.shape)][0])
        raise InputError(f"layer: {bad} where the model's MoE layers in order ({list(shape.layers)}) were expected.")
    ids = pairs[:, 1].reshape(-1, len(shape.layers), shape.top_k)
    return [Decoded(check(ids, shape, "expert"), ["prefill"] * len(ids))]
