"""Routes from outside a Routing Lens trace: export our own traces to the portable format, import a serving engine's
payload into it (aligned with the model's tokenizer, checked against its config), and compare two traces of the same
texts (core.tracing.portable, core.tracing.engine_payloads)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import InputError
from core.tracing import engine_payloads as engines
from core.tracing.portable import TraceMeta, from_arrays, id_arrays
from core.types import ENGINES

ENGINE_SOURCE = {"vllm": "vllm", "sglang": "sglang", "megatron-tracer": "megatron", "megatron-replay": "megatron",
                 "llama.cpp": "llama.cpp"}


def model_shape(name: str) -> tuple[engines.Shape, str, object]:
    """(what the model routes, its routed stack, its tokenizer) from its config alone: the model is built on the meta
    device (no weights), so a 671B checkpoint's shape is read in seconds."""
    import torch
    from transformers import AutoTokenizer

    from core.models.loading import _adapter, _location, load_config
    from core.models.registry import resolve

    entry = resolve(name)
    config = load_config(entry)
    adapter = _adapter(entry, config)
    with torch.device("meta"):
        model = adapter.model_class().from_config(config)
    stack = adapter.stacks[-1]
    layers = tuple(int(b) for b, _ in adapter.routers(model)[stack])
    tokenizer = AutoTokenizer.from_pretrained(_location(entry))
    return engines.Shape(layers, int(adapter.top_k), int(adapter.num_experts)), stack, tokenizer


def decode(engine: str, path: Path, shape: engines.Shape) -> list[engines.Decoded]:
    """The payload file of `engine` decoded (an InputError names what is wrong)."""
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; one of {', '.join(ENGINES)}.")
    if not path.is_file():
        raise InputError(f"{path.name}: no such file.")
    if engine == "megatron-replay":
        try:
            with np.load(path, allow_pickle=False) as npz:
                return engines.megatron_replay(dict(npz), shape)
        except (ValueError, OSError):
            raise InputError(f"{path.name}: not a numpy .npz of layer_<n> arrays.") from None
    text = path.read_text(encoding="utf-8", errors="replace")
    if engine == "llama.cpp":
        return engines.llama_cpp(text, shape)
    if engine == "megatron-tracer":
        return engines.megatron_tracer(text, shape)
    try:
        payload = json.loads(text)
    except ValueError:
        raise InputError(f"{path.name}: not JSON.") from None
    return decode_payload(engine, payload, shape)


def decode_payload(engine: str, payload, shape: engines.Shape) -> list[engines.Decoded]:
    """An HTTP engine's JSON answer (or a list of them, one per text) decoded."""
    parse = engines.vllm if engine == "vllm" else engines.sglang
    if isinstance(payload, list) and payload and isinstance(payload[0], dict) and "choices" in payload[0]:
        return [d for p in payload for d in parse(p, shape)[:1]]
    return parse(payload, shape)


def aligned(decoded: list[engines.Decoded], texts: Sequence[str], tokenizer) -> list[list[int]]:
    """The tokenizer's ids of each text, checked against the payload's prompt rows (and its token ids, where it has
    them), so words can be pooled; an InputError names the text and what differs."""
    if len(decoded) != len(texts):
        raise InputError(f"the payload holds {len(decoded)} texts; {len(texts)} were given.")
    out = []
    for i, (d, text) in enumerate(zip(decoded, texts)):
        ids = tokenizer(text)["input_ids"]
        prompt = sum(p == "prefill" for p in d.phases)
        if d.token_ids is not None and list(d.token_ids) != list(ids):
            raise InputError(f"text {i}: the engine's prompt token ids differ from the tokenizer's ({len(d.token_ids)} "
                             f"vs {len(ids)} tokens): give the model the engine served.")
        if prompt != len(ids):
            raise InputError(f"text {i}: {prompt} prompt rows of routes; the tokenizer gives {len(ids)} tokens.")
        out.append(list(ids))
    return out


def import_routes(engine: str, path: Path | None, model: str, texts: Sequence[str], version: str = "",
                  precision: str = "", batching: str = "", payload=None) -> tuple[pd.DataFrame, TraceMeta]:
    """A payload file (or an already-read HTTP `payload`) as a portable trace of `texts`."""
    shape, stack, tokenizer = model_shape(model)
    decoded = decode_payload(engine, payload, shape) if payload is not None else decode(engine, Path(path), shape)
    token_ids = aligned(decoded, texts, tokenizer)
    tokens = [tokenizer.convert_ids_to_tokens(ids) + [""] * (len(d.ids) - len(ids))
              for ids, d in zip(token_ids, decoded)]
    meta = TraceMeta(model_id=model, source=ENGINE_SOURCE[engine], holds="ids", num_experts=shape.num_experts,
                     top_k=shape.top_k, layers={stack: list(shape.layers)}, texts=list(texts), precision=precision,
                     source_version=version, batching=batching,
                     tokens="both" if any(p == "generated" for d in decoded for p in d.phases) else "prefill",
                     notes=[n for d in decoded for n in d.notes])
    frame = from_arrays([d.ids for d in decoded], meta, stack,
                        token_ids=[ids + [-1] * (len(d.ids) - len(ids)) for ids, d in zip(token_ids, decoded)],
                        tokens=tokens, phases=[d.phases for d in decoded])
    return frame, meta


def export_traces(traces: Sequence, lm) -> tuple[pd.DataFrame, TraceMeta]:
    """Routing Lens's own traces (RoutingTrace) in the portable format: ids, and the distributions they came from."""
    stacks = list(traces[0].stacks) if traces else list(lm.stacks)
    meta = TraceMeta(model_id=lm.name, source="routing-lens", holds="distributions", num_experts=lm.num_experts,
                     top_k=lm.top_k, layers={s: [int(b) for b in traces[0].stacks[s].layers] for s in stacks}
                     if traces else {}, texts=[t.text for t in traces], revision=str(lm.revision),
                     precision=str(lm.dtype), source_version=_version(), batching="length buckets (batch-invariant)")
    token_ids = [lm.tokenizer(t.text)["input_ids"] for t in traces]  # one tokenizer call per text, for every stack
    token_ids = [ti if len(ti) == len(t.tokens) else [-1] * len(t.tokens) for ti, t in zip(token_ids, traces)]
    frames = []
    for stack in stacks:
        ids = [np.transpose(t.stacks[stack].selected, (1, 0, 2)) for t in traces]
        probs = [np.transpose(t.stacks[stack].token_probs, (1, 0, 2)) for t in traces]
        frames.append(from_arrays(ids, meta, stack, token_ids=token_ids, tokens=[list(t.tokens) for t in traces],
                                  probs=probs))
    return pd.concat(frames, ignore_index=True), meta


def _version() -> str:
    from core.version import __version__

    return __version__


def compare_traces(a: pd.DataFrame, b: pd.DataFrame, margin_bins: Sequence[float] = (0.0, 0.01, 0.05, 0.2, 1.0)
                   ) -> pd.DataFrame:
    """Per stack and layer (and, where `a` holds distributions, per decision-margin bin): how often the two traces'
    chosen sets are equal, their first choices equal, and their mean Jaccard, over the tokens both hold."""
    from core.measures.routing_stats import jaccard

    rows = []
    for stack in sorted(set(a["stack"]) & set(b["stack"])):
        ia, ib = id_arrays(a, stack), id_arrays(b, stack)
        shared = sorted(set(ia) & set(ib))
        if not shared:
            continue
        n = [min(len(ia[t]), len(ib[t])) for t in shared]
        xa = np.concatenate([ia[t][:m] for t, m in zip(shared, n)])
        xb = np.concatenate([ib[t][:m] for t, m in zip(shared, n)])
        margin = _margins(a, stack, shared, n, xa.shape[-1])
        for li in range(xa.shape[1]):
            same = (np.sort(xa[:, li], -1) == np.sort(xb[:, li], -1)).all(-1)
            top1 = xa[:, li, 0] == xb[:, li, 0]
            jac = jaccard(xa[:, li], xb[:, li])
            rows.append({"stack": stack, "layer_pos": li, "margin_bin": "all", "tokens": len(same),
                         "set_equal": float(same.mean()), "top1_equal": float(top1.mean()),
                         "jaccard": float(jac.mean())})
            if margin is not None:
                bins = pd.cut(margin[:, li], list(margin_bins), include_lowest=True)
                for label, idx in pd.Series(np.arange(len(same))).groupby(bins, observed=True):
                    rows.append({"stack": stack, "layer_pos": li, "margin_bin": str(label), "tokens": len(idx),
                                 "set_equal": float(same[idx].mean()), "top1_equal": float(top1[idx].mean()),
                                 "jaccard": float(jac[idx].mean())})
    return pd.DataFrame(rows)


def _margins(frame: pd.DataFrame, stack: str, shared: list[int], n: list[int], k: int) -> np.ndarray | None:
    """(tokens, L) decision margins p_(k) − p_(k+1) from a trace's distributions; None when it holds ids only."""
    part = frame[frame["stack"] == stack]
    if part.probs.isna().any() or part.probs.iloc[0] is None:
        return None
    arrays = id_arrays(part, stack, "probs")
    out = []
    for t, m in zip(shared, n):
        probs = arrays[t][:m]
        top = -np.sort(-probs, axis=-1)
        out.append(top[..., k - 1] - (top[..., k] if probs.shape[-1] > k else 0.0))
    return np.concatenate(out)
