"""Routes from serving engines: payloads in each engine's documented wire format, generated here from the project's
own traces (never typed by hand), round-trip through their importers to the same expert ids; the IDs-only WiC
analysis on an imported payload equals the one on the native trace reduced to ids; bad payloads are one error line."""
from __future__ import annotations

import base64
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from core.lens.routes import compare_traces, export_traces, import_routes
from core.studies.id_overlap import wic_overlap
from core.tracing.portable import id_arrays, read, write
from helpers import npy_base64, traced_wic

MODEL = "demo-mixtral-8"


@pytest.fixture(scope="module")
def native():
    """demo-mixtral-8's own traces of 40 WiC pairs' sentences, exported to the portable format."""
    wic, texts, lm, traces = traced_wic(MODEL, 40)
    frame, meta = export_traces(traces, lm)
    ids = [np.transpose(t.stacks["decoder"].selected, (1, 0, 2)).astype(np.int64) for t in traces]  # (T, L, k)
    token_ids = [lm.tokenizer(t)["input_ids"] for t in texts]
    return wic, texts, frame, meta, ids, token_ids, lm


def _raw64(a: np.ndarray, dtype) -> str:
    return base64.b64encode(a.astype(dtype).tobytes()).decode()


def payloads(ids: list[np.ndarray], token_ids: list[list[int]]) -> dict[str, tuple[str, str | bytes]]:
    """Each engine's wire format for the same routes: (file suffix, content)."""
    out = {}
    out["vllm-http"] = ("json", json.dumps([{"choices": [{"text": "", "routed_experts": [],
                                                          "prompt_routed_experts": a.tolist()}],
                                             "prompt_token_ids": t} for a, t in zip(ids, token_ids)]))
    out["vllm-npy"] = ("json", json.dumps([{"choices": [{"text": "", "routed_experts": npy_base64(a[:0]),
                                                         "prompt_routed_experts": npy_base64(a)}]} for a in ids]))
    out["vllm-offline"] = ("json", json.dumps([{"prompt_token_ids": t, "prompt_routed_experts": a.tolist(),
                                                "outputs": [{"token_ids": [], "routed_experts": None}]}
                                               for a, t in zip(ids, token_ids)]))
    out["sglang-native"] = ("json", json.dumps([{"text": "", "meta_info": {"routed_experts": _raw64(a, np.int32),
                                                                           "prompt_tokens": len(a)}} for a in ids]))
    out["sglang-openai"] = ("json", json.dumps([{"choices": [{"sgl_ext": {"routed_experts": _raw64(a, np.int32),
                                                                          "routed_experts_start_len": 0}}],
                                                 "usage": {"prompt_tokens": len(a)}} for a in ids]))
    records = []
    for step, a in enumerate(ids):  # two ranks, each holding a consecutive slice of the tokens
        half = len(a) // 2
        for layer in range(a.shape[1]):
            for rank, part in enumerate((a[:half], a[half:])):
                records.append(json.dumps({"step": step, "layer": layer, "rank": rank,
                                           "indices": part[:, layer].tolist()}))
    out["megatron-tracer"] = ("jsonl", "\n".join(records))
    out["llama.cpp"] = ("csv", "layer,expert\n" + "\n".join(f"{layer},{e}" for tok in ids[0] for layer, row
                                                            in enumerate(tok) for e in row))
    return out


ENGINE_OF = {"vllm-http": "vllm", "vllm-npy": "vllm", "vllm-offline": "vllm", "sglang-native": "sglang",
             "sglang-openai": "sglang", "megatron-tracer": "megatron-tracer", "llama.cpp": "llama.cpp"}


@pytest.mark.parametrize("kind", list(ENGINE_OF))
def test_each_engines_payload_round_trips_to_the_same_ids(native, tmp_path, kind):
    _wic, texts, _frame, _meta, ids, token_ids, _lm = native
    suffix, content = payloads(ids, token_ids)[kind]
    path = tmp_path / f"payload.{suffix}"
    path.write_text(content, encoding="utf-8")
    n = 1 if kind == "llama.cpp" else len(texts)  # a moe-trace CSV holds one text
    frame, meta = import_routes(ENGINE_OF[kind], path, MODEL, texts[:n])
    got = id_arrays(frame, "decoder")
    assert len(got) == n and meta.holds == "ids" and meta.top_k == 2 and meta.num_experts == 8
    for i in range(n):
        np.testing.assert_array_equal(got[i], ids[i])
    write(frame, meta, tmp_path / "imported")
    again, meta2 = read(tmp_path / "imported")
    assert meta2.texts == texts[:n] and len(again) == len(frame)


def test_megatron_replay_round_trips(native, tmp_path):
    _wic, texts, _f, _m, ids, _t, _lm = native
    np.savez(tmp_path / "replay.npz", **{f"layer_{b}": ids[0][:, i] for i, b in enumerate(range(ids[0].shape[1]))})
    frame, _meta = import_routes("megatron-replay", tmp_path / "replay.npz", MODEL, texts[:1])
    np.testing.assert_array_equal(id_arrays(frame, "decoder")[0], ids[0])


def test_the_ids_only_wic_analysis_of_an_import_equals_the_native_one(native, tmp_path):
    wic, texts, frame, meta, ids, token_ids, lm = native
    path = tmp_path / "vllm.json"
    path.write_text(payloads(ids, token_ids)["vllm-npy"][1], encoding="utf-8")
    imported, _ = import_routes("vllm", path, MODEL, texts)
    reduced = frame.assign(probs=None, weights=None)  # the native trace, ids only
    a = wic_overlap(reduced, texts, lm.tokenizer, 8, wic, MODEL)
    b = wic_overlap(imported, texts, lm.tokenizer, 8, wic, MODEL)
    pd.testing.assert_frame_equal(a, b)
    assert (a.basis == "IDs only").all() and set(a.layer_pos) == {-1, 0, 1, 2, 3}


def test_compare_traces_agrees_with_itself_and_finds_a_planted_difference(native, tmp_path):
    _wic, texts, frame, _meta, ids, token_ids, _lm = native
    same = compare_traces(frame, frame)
    assert (same.set_equal == 1).all() and (same.jaccard == 1).all()
    assert set(same.margin_bin) > {"all"}  # the native side has distributions: margin bins too
    changed = [a.copy() for a in ids]
    changed[0][:, 0, 0] = (changed[0][:, 0, 0] + 1) % 8  # every token of text 0 at layer 0: another first choice
    changed[0][:, 0, 1] = np.where(changed[0][:, 0, 1] == changed[0][:, 0, 0], (changed[0][:, 0, 1] + 1) % 8,
                                   changed[0][:, 0, 1])
    path = tmp_path / "v.json"
    path.write_text(payloads(changed, token_ids)["vllm-http"][1], encoding="utf-8")
    imported, _ = import_routes("vllm", path, MODEL, texts)
    table = compare_traces(frame, imported)
    layer0 = table[(table.layer_pos == 0) & (table.margin_bin == "all")].iloc[0]
    tokens0 = len(ids[0])
    assert layer0.top1_equal == pytest.approx(1 - tokens0 / layer0.tokens, abs=1e-12)
    assert (table[(table.layer_pos > 0) & (table.margin_bin == "all")].set_equal == 1).all()


@pytest.mark.parametrize("mutate, field", [
    (lambda p: p[0]["choices"][0].pop("routed_experts"), "routed_experts: missing"),
    (lambda p: p[0]["choices"][0].__setitem__("prompt_routed_experts", [[[0, 1]] * 3]), "MoE layers"),
    (lambda p: p[0]["choices"][0].__setitem__("prompt_routed_experts", [[[0, 1, 2]] * 4]), "k = 3"),
    (lambda p: p[0]["choices"][0].__setitem__("prompt_routed_experts", [[[0, 9]] * 4]), "expert id 9"),
    (lambda p: p[0]["choices"][0].__setitem__("prompt_routed_experts", "%%%"), "not base64"),
])
def test_a_mismatched_payload_is_one_error_naming_the_field(native, tmp_path, mutate, field):
    _wic, texts, _f, _m, ids, token_ids, _lm = native
    payload = json.loads(payloads(ids[:1], token_ids[:1])["vllm-http"][1])
    mutate(payload)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(InputError, match=field):
        import_routes("vllm", path, MODEL, texts[:1])
    (tmp_path / "texts.txt").write_text(texts[0] + "\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "core", "import", "vllm", str(path), "--model", MODEL, "--texts",
                          str(tmp_path / "texts.txt"), "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert run.returncode == 2
    lines = [x for x in run.stderr.splitlines() if x.strip()]
    assert lines[-1].startswith("error:") and field.split(":")[0] in lines[-1] and "Traceback" not in run.stderr


def test_the_wrong_texts_are_refused(native, tmp_path):
    _wic, texts, _f, _m, ids, token_ids, _lm = native
    path = tmp_path / "v.json"
    path.write_text(payloads(ids[:2], token_ids[:2])["vllm-npy"][1], encoding="utf-8")
    with pytest.raises(InputError, match="prompt rows"):
        import_routes("vllm", path, MODEL, [texts[1], texts[0]] if len(ids[0]) != len(ids[1]) else ["x", "y z w"])
    with pytest.raises(InputError, match="holds 2 texts"):
        import_routes("vllm", path, MODEL, texts[:3])


def test_an_imported_payload_becomes_a_corpus_run_that_experts_and_studies_read(native, tmp_path):
    """IDs only: the studies run on the ids; a corpus run exports back to the same ids."""
    from core.corpus.portable_runs import to_portable
    from core.corpus.run import read_manifest

    _wic, texts, _f, _m, ids, token_ids, _lm = native
    path = tmp_path / "v.json"
    path.write_text(payloads(ids, token_ids)["vllm-npy"][1], encoding="utf-8")
    (tmp_path / "texts.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "core", "--quiet", "import", "vllm", str(path), "--model", MODEL,
                          "--texts", str(tmp_path / "texts.txt"), "--out", str(tmp_path / "t"), "--corpus-out",
                          str(tmp_path / "run")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    spec = read_manifest(tmp_path / "run")
    assert spec.source == "imported:vllm" and spec.top_k == 2
    frame, meta = to_portable(tmp_path / "run", spec)
    back = id_arrays(frame, "decoder")
    for i in range(len(texts)):
        np.testing.assert_array_equal(back[i], ids[i])
    for command in ("experts", "studies"):
        done = subprocess.run([sys.executable, "-m", "core", "--quiet", command, str(tmp_path / "run")],
                              capture_output=True, text=True)
        assert done.returncode == 0, (command, done.stderr[-2000:])
    assert "routes imported from vllm (IDs only)" in (tmp_path / "run" / "studies" / "report.html").read_text()


# ---------- fuzz: the importers fed mutated payloads raise only the project's own error ----------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from core.lens.routes import decode  # noqa: E402
from core.tracing.engine_payloads import Shape  # noqa: E402

FUZZ = settings(max_examples=int(__import__("os").environ.get("ROUTING_LENS_FUZZ_EXAMPLES", "60")), derandomize=True,
                deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow,
                                                                     HealthCheck.function_scoped_fixture])
SHAPE = Shape(layers=(0, 1, 2, 3), top_k=2, num_experts=8)
JSON_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-5, 20), st.floats(allow_nan=True),
                                     st.text(max_size=12)),
                           lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                   st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=20)


def _mutate(obj, draw, depth: int = 0):
    """The payload with one of its values (anywhere) replaced, deleted or cut short."""
    if isinstance(obj, dict) and obj:
        key = draw(st.sampled_from(sorted(obj)))
        action = draw(st.sampled_from(["replace", "delete", "recurse"]))
        out = dict(obj)
        if action == "delete":
            out.pop(key)
        elif action == "replace" or depth > 4:
            out[key] = draw(JSON_VALUES)
        else:
            out[key] = _mutate(obj[key], draw, depth + 1)
        return out
    if isinstance(obj, list) and obj:
        i = draw(st.integers(0, len(obj) - 1))
        out = list(obj)
        out[i] = _mutate(obj[i], draw, depth + 1) if draw(st.booleans()) else draw(JSON_VALUES)
        return out
    if isinstance(obj, str):
        return obj[: draw(st.integers(0, len(obj)))] + draw(st.sampled_from(["", "=", "%", "A"]))
    return draw(JSON_VALUES)


@FUZZ
@given(st.sampled_from(["vllm-http", "vllm-npy", "vllm-offline", "sglang-native", "sglang-openai", "megatron-tracer",
                        "llama.cpp"]), st.data())
def test_importers_fed_mutated_payloads_raise_only_input_errors(tmp_path_factory, kind, data):
    rng = np.random.default_rng(0)
    ids = [rng.integers(0, 8, size=(5, 4, 2)), rng.integers(0, 8, size=(3, 4, 2))]
    suffix, content = payloads(ids, [[1] * 5, [1] * 3])[kind]
    if suffix == "json":
        content = json.dumps(_mutate(json.loads(content), data.draw))
    else:  # a line cut, dropped or doubled
        lines = content.splitlines()
        i = data.draw(st.integers(0, len(lines) - 1))
        lines[i] = data.draw(st.sampled_from([lines[i][: len(lines[i]) // 2], "", lines[i] + "," + lines[i], "x"]))
        content = "\n".join(lines)
    path = tmp_path_factory.mktemp("fuzz") / f"p.{suffix}"
    path.write_text(content, encoding="utf-8")
    try:
        decoded = decode(ENGINE_OF[kind], path, SHAPE)
    except InputError:
        return
    for d in decoded:  # whatever is accepted fits the model
        assert d.ids.ndim == 3 and d.ids.shape[1:] == (4, 2) and d.ids.max(initial=-1) < 8
