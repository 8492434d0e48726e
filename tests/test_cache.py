"""The on-disk trace cache: hits are exact, corruption is detected, keys do not collide."""
from __future__ import annotations

import numpy as np

from core.tracing.cache import MAGIC, TraceCache, trace_key
from core.tracing.tracer import Tracer


def _files(root):
    return sorted(p for p in root.rglob("*.rlt") if not p.name.startswith(".tmp"))


def test_hit_returns_identical_arrays(tiny_loaded, tmp_path):
    cache = TraceCache(tmp_path)
    tracer = Tracer(tiny_loaded, cache=cache)
    first = tracer.trace("I sat on the river bank.")[0]
    assert len(_files(tmp_path)) == 1
    again = Tracer(tiny_loaded, cache=TraceCache(tmp_path)).trace("I sat on the river bank.")[0]
    assert again.tokens == first.tokens and again.words == first.words
    for stack in ("encoder", "decoder"):
        for key in ("token_probs", "word_probs", "top1", "dropped", "layers"):
            assert np.array_equal(getattr(again.stacks[stack], key), getattr(first.stacks[stack], key))


def test_encoder_request_served_from_full_trace(tiny_loaded, tmp_path):
    cache = TraceCache(tmp_path)
    Tracer(tiny_loaded, cache=cache).trace("bank")
    calls = []
    tracer = Tracer(tiny_loaded, cache=cache)
    tracer._forward = lambda *a: calls.append(a)  # any forward pass would fail loudly
    enc = tracer.trace("bank", stacks=("encoder",))[0]
    assert set(enc.stacks) == {"encoder"} and not calls


def test_corrupt_and_truncated_files_are_discarded_and_recomputed(tiny_loaded, tmp_path):
    cache = TraceCache(tmp_path)
    tracer = Tracer(tiny_loaded, cache=cache)
    good = tracer.trace("The bank raised rates.")[0]
    (path,) = _files(tmp_path)
    data = path.read_bytes()
    for damaged in (data[: len(data) // 2], data[:-1] + bytes([data[-1] ^ 0xFF]), b"", b"garbage"):
        path.write_bytes(damaged)
        cache.discarded = 0
        again = tracer.trace("The bank raised rates.")[0]
        assert cache.discarded == 1
        np.testing.assert_array_equal(again.stacks["encoder"].token_probs, good.stacks["encoder"].token_probs)
        assert path.read_bytes()[:8] == MAGIC


def test_keys_differ_by_revision_dtype_text_stacks_and_length():
    base = dict(model="m", revision="r1", dtype="float32", text="bank", stacks=("encoder", "decoder"), max_tokens=512)
    keys = {trace_key(**base)}
    for change in (dict(revision="r2"), dict(dtype="bfloat16"), dict(text="bank "), dict(stacks=("encoder",)),
                   dict(max_tokens=64), dict(model="m2")):
        keys.add(trace_key(**{**base, **change}))
    assert len(keys) == 7
    assert trace_key(**base) == trace_key(**{**base, "stacks": ("decoder", "encoder")})


def test_atomic_write_leaves_no_temp_files(tiny_loaded, tmp_path):
    Tracer(tiny_loaded, cache=TraceCache(tmp_path)).trace(["a b", "c d e"])
    assert not list(tmp_path.rglob(".tmp-*"))
    assert len(_files(tmp_path)) == 2


def test_keys_differ_across_library_versions(monkeypatch):
    """A trace made under another transformers or torch version is never served (routing changed across them)."""
    import torch
    import transformers

    base = dict(model="m", revision="r", dtype="float32", text="t", stacks=("encoder",), max_tokens=512)
    now = trace_key(**base)
    assert now == trace_key(**base)
    monkeypatch.setattr(transformers, "__version__", "4.40.0")
    older_transformers = trace_key(**base)
    monkeypatch.setattr(torch, "__version__", "2.1.0")
    older_both = trace_key(**base)
    assert len({now, older_transformers, older_both}) == 3


def test_half_precision_keys_say_the_experts_kernel(tiny_model_dir):
    from core.models.loading import load_model
    from core.tracing.tracer import Tracer

    keys = {}
    for dtype in ("float32", "bfloat16"):
        for kernel in ("loop", "grouped"):
            keys[dtype, kernel] = Tracer(load_model(str(tiny_model_dir), dtype=dtype, experts_kernel=kernel)).key(
                "the bank", ("encoder", "decoder"))
    assert keys["float32", "loop"] == keys["float32", "grouped"]  # equal to 1e-6: one cache entry
    assert keys["bfloat16", "loop"] != keys["bfloat16", "grouped"]  # half-precision sums may round differently
