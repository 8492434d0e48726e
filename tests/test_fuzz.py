"""Property-based fuzzing (hypothesis): arbitrary Unicode, words, spans, CLI arguments and mutated dataset files.
The only exception allowed anywhere is the project's own (RoutingLensError: a message for the user); pooled rows
sum to 1; spans stay inside the text.

CI runs a seeded, small number of examples per property (`ROUTING_LENS_FUZZ_EXAMPLES`, default 60);
`python -m bench.fuzz` runs the long campaign and prints the example counts.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import RoutingLensError
from core.tracing.words import assign_tokens, find_word, pool, pooling_matrix, word_spans
from fakes import write_synthetic_data

EXAMPLES = int(os.environ.get("ROUTING_LENS_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])

# Control characters, combining marks, RTL, CJK, emoji, zero-width and lone surrogates (escaped: a str cannot carry
# them to a tokenizer, so they are written as the backslash escape a browser's text box would send).
ODD = ["\u0000", "\u0007", "\u001b", "\u0301", "\u0327", "\u200b", "\u200d", "\u2028", "\ufeff", "\u202e", "ש", "ل",
       "中", "文", "🙂", "👩‍👩‍👧", "\\ud800", "\t", "\n", " ", "bank", "<b>", "</b>", "&amp;", "'", "’", "-"]
texts = st.lists(st.one_of(st.text(max_size=40), st.sampled_from(ODD)), max_size=40).map("".join)
long_texts = st.one_of(texts, st.integers(0, 20_000).map(lambda n: ("bank 🙂 " * (n // 7 + 1))[:n]))


@FUZZ
@given(long_texts)
def test_word_spans_stay_inside_and_cover_every_word(text):
    spans = word_spans(text)
    assert ((spans[:, 0] >= 0) & (spans[:, 1] <= len(text)) & (spans[:, 0] < spans[:, 1])).all()
    assert [text[s:e] for s, e in spans] == text.split()


@FUZZ
@given(texts, st.one_of(st.text(max_size=12), st.sampled_from(ODD)))
def test_find_word_spans_match_the_word(text, word):
    for s, e in find_word(text, word):
        assert 0 <= s < e <= len(text)
        assert re.fullmatch(re.escape(word.strip()), text[s:e], re.IGNORECASE)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=30), long_texts,
       st.integers(1, 8))
def test_alignment_and_pooling_rows_sum_to_one(token_spans, text, experts):
    spans = word_spans(text[:60])
    token_word = assign_tokens(np.asarray(token_spans, dtype=np.int32).reshape(-1, 2), spans)
    assert ((token_word >= -1) & (token_word < max(len(spans), 1))).all()
    matrix = pooling_matrix(token_word, len(spans))
    probs = np.random.default_rng(0).dirichlet(np.ones(experts), size=(2, len(token_spans))).astype(np.float32)
    pooled = pool(probs, matrix)
    has_token = np.isin(np.arange(len(spans)), token_word)
    assert np.allclose(pooled[:, has_token].sum(-1), 1.0, atol=1e-5)
    assert np.allclose(pooled[:, ~has_token], 0.0)


@pytest.fixture(scope="module")
def tiny_tracer(tiny_model_dir):
    from core.models.loading import load_model
    from core.tracing.tracer import Tracer

    return Tracer(load_model(str(tiny_model_dir), dtype="float32"), max_tokens=64)


@FUZZ
@given(long_texts)
def test_encode_raises_only_input_errors_and_aligns_inside_the_text(tiny_tracer, text):
    try:
        e = tiny_tracer.encode(text)
    except RoutingLensError:
        return
    assert len(e.ids) <= 64 and len(e.ids) == len(e.tokens) == len(e.token_word)
    assert ((e.word_spans[:, 0] >= 0) & (e.word_spans[:, 1] <= len(text))).all()
    assert ((e.token_word >= -1) & (e.token_word < len(e.word_spans))).all()
    assert set(range(len(e.word_spans))) <= set(e.token_word.tolist())  # every kept word has a token


@settings(FUZZ, max_examples=max(EXAMPLES // 4, 10))
@given(texts, texts, st.one_of(st.text(max_size=8), st.sampled_from(ODD)))
def test_trace_and_compare_word_on_odd_text(tiny_tracer, s1, s2, word):
    from core.studies.word_pair import compare_word

    try:
        t1, t2 = tiny_tracer.trace([s1, s2])
    except RoutingLensError:
        return
    for t in (t1, t2):
        for routing in t.stacks.values():
            assert np.allclose(routing.word_probs.sum(-1), 1.0, atol=1e-4)
    o1, o2 = find_word(s1, word), find_word(s2, word)
    if o1 and o2:
        try:
            result = compare_word(t1, o1[0], t2, o2[0])
        except RoutingLensError:
            return
        for comp in result.values():
            assert ((comp.jss >= 0) & (comp.jss <= 1)).all()


@settings(FUZZ, max_examples=max(EXAMPLES // 50, 10))  # each example loads the model: 200 in the long campaign
@given(st.lists(st.one_of(st.sampled_from(["--text", "--stacks", "--max-tokens", "--level", "--json", "--model",
                                           "--limit", "--decoder-read", "--dtype", "encoder", "decoder", "-1", "0",
                                           "3", "nan", "label", "float64"]), texts), max_size=6))
def test_cli_argument_handling_never_tracebacks(tiny_model_dir, tmp_path_factory, args):
    from core.cli import main

    os.environ["ROUTING_LENS_CACHE"] = str(tmp_path_factory.getbasetemp() / "fuzz-cache")
    argv = ["trace", "--model", str(tiny_model_dir), *[a for a in args if a != "--model"]]
    try:
        rc = main(argv)
    except SystemExit as exit_:  # argparse: a usage message and status 2
        assert exit_.code in (0, 2)
        return
    assert rc in (0, 2)


FILES = ["wordsim353/combined.csv", "simlex999/SimLex-999.txt", "scws/ratings.txt", "wic/train/train.data.txt",
         "wic/train/train.gold.txt"]
mutations = st.lists(st.tuples(st.sampled_from(["replace", "delete", "truncate", "bytes", "fields"]),
                               st.integers(0, 200), st.one_of(texts, st.sampled_from(ODD))), min_size=1, max_size=4)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pristine")
    write_synthetic_data(root, n=20)
    return root


def _mutate(path: Path, ops) -> None:
    data = path.read_bytes()
    lines = data.split(b"\n")
    for op, at, text in ops:
        lines = lines or [b""]  # a file truncated and emptied still has a (blank) line to mutate
        i = at % len(lines)
        if op == "replace":
            lines[i] = text.encode("utf-8", "surrogatepass")
        elif op == "delete" and lines:
            del lines[i]
        elif op == "truncate":
            lines = b"\n".join(lines)[: at * 7].split(b"\n")
        elif op == "bytes":
            lines[i] = lines[i][: at % 9] + b"\xff\xfe\x00" + text.encode("utf-8", "surrogatepass")
        elif op == "fields":
            lines[i] = lines[i].replace(b"\t", b",").replace(b",", b"\t\t", 1)
    path.write_bytes(b"\n".join(lines))


@FUZZ
@given(st.sampled_from(FILES), mutations)
def test_dataset_loaders_fed_mutated_files_raise_only_data_errors(pristine, tmp_path_factory, target, ops):
    from core.data import datasets

    root = tmp_path_factory.mktemp("mutated")
    shutil.rmtree(root)
    shutil.copytree(pristine, root)
    _mutate(root / target, ops)
    for load in (datasets.load_wordsim353, datasets.load_simlex999, datasets.load_scws, datasets.load_wic):
        try:
            frame = load(root)
        except RoutingLensError:
            continue
        # a loader that accepts a mutated file returns real rows: no empty or half-parsed frame passes as data
        assert len(frame) > 0 and not frame.isna().all(axis=None)


def _assign_reference(token_spans: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """The per-token scan the vectorised assign_tokens replaced."""
    out = np.full(len(token_spans), -1, dtype=np.int32)
    for i, (s, e) in enumerate(token_spans):
        hit = np.nonzero((spans[:, 0] < e) & (spans[:, 1] > s))[0] if e > s else []
        if len(hit):
            out[i] = hit[0]
    return out


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 70), st.integers(0, 70)), max_size=40), texts)
def test_vectorised_alignment_equals_the_per_token_scan(token_spans, text):
    spans = word_spans(text[:60])
    tokens = np.asarray(token_spans, dtype=np.int32).reshape(-1, 2)
    assert np.array_equal(assign_tokens(tokens, spans), _assign_reference(tokens, spans))


INPUTS = ["EMPTY", "BINARY", "BADJSON", "NUMTEXT", "GOODTXT", "PARTIAL_RUN", "BROKEN_RUN", "EMPTY_RUN", "NOWHERE"]
COMMANDS = {
    "trace": ["--text", "--stacks", "--max-tokens", "--json", "--decoder-read", "--dtype", "--no-cache"],
    "corpus": ["--input", "--out", "--stacks", "--max-tokens", "--every", "--shard-segments", "--engine"],
    "experts": ["--out"], "studies": ["--capacity-factor", "--checkpoints"],
    "ablate": ["--corpus", "--max-tokens", "--layer", "--expert", "--stack", "--every"],
    "intervene": ["--text", "--force", "--ban", "--top-k", "--steer", "--strength", "--layer", "--token",
                  "--counterfactuals", "--out"],
    "check-model": ["--text"], "reproduce": ["--limit", "--seed", "--format", "--decoder-read"],
    "datasets": ["check"],
    "import": ["--model", "--texts", "--dataset", "--out", "--corpus-out"], "compare-traces": ["--out"],
    "id-analysis": ["--out"], "export-trace": ["--corpus", "--texts", "--out"],
    "capture": ["--engine", "--url", "--model", "--texts", "--out", "--concurrency", "--retries"],
}
VALUES = ["", "0", "1", "-3", "x", "nan", "1,2", "encoder", "decoder", "label", "float64", "out.txt", "ray", *INPUTS]


def _files(root: Path) -> dict[str, str]:
    """Every odd input a user can hand the CLI: empty, binary, malformed JSON, a number as text, run folders with a
    partial or damaged manifest and with no shards."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "empty.txt").write_text("")
    (root / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (root / "bad.jsonl").write_text('{"text": "ok"}\n{not json\n')
    (root / "num.jsonl").write_text('{"text": 7}\n')
    (root / "good.txt").write_text("The bank raised its rates.\n")
    for name, manifest in (("partial", '{"model": "m"}'), ("broken", "{not json"), ("emptyrun", None)):
        (root / name).mkdir(exist_ok=True)
        if manifest is not None:
            (root / name / "manifest.json").write_text(manifest)
    return {"EMPTY": str(root / "empty.txt"), "BINARY": str(root / "binary.txt"), "BADJSON": str(root / "bad.jsonl"),
            "NUMTEXT": str(root / "num.jsonl"), "GOODTXT": str(root / "good.txt"), "PARTIAL_RUN": str(root / "partial"),
            "BROKEN_RUN": str(root / "broken"), "EMPTY_RUN": str(root / "emptyrun"), "NOWHERE": str(root / "nowhere")}


@settings(FUZZ, max_examples=max(EXAMPLES // 2, 20))
@given(st.sampled_from(sorted(COMMANDS)), st.data())
def test_every_command_ends_in_exit_0_or_one_error_line(tmp_path_factory, capsys, command, data):
    """Every command's options and input files, fuzzed: exit 0, or exit 2 with one `error:` line; never a traceback.
    Model loading is replaced by a failure, so a case that gets past its checks ends in the model's own message."""
    from unittest import mock

    from core.cli import main
    from core.errors import ModelNotAvailableError

    files = _files(tmp_path_factory.getbasetemp() / "cli-fuzz")
    options = data.draw(st.lists(st.sampled_from(COMMANDS[command]), max_size=4))
    argv = [command]
    if command in ("experts", "studies"):
        argv.append(files[data.draw(st.sampled_from(["PARTIAL_RUN", "BROKEN_RUN", "EMPTY_RUN", "NOWHERE", "EMPTY"]))])
    if command == "import":
        argv.append(data.draw(st.sampled_from(["vllm", "sglang", "megatron-tracer", "megatron-replay", "llama.cpp",
                                               "x"])))
    if command in ("import", "compare-traces", "id-analysis"):
        for _ in range(2 if command == "compare-traces" else 1):
            argv.append(files[data.draw(st.sampled_from(["EMPTY", "BINARY", "BADJSON", "NUMTEXT", "NOWHERE"]))])
    for option in options:
        argv.append(option)
        if option not in ("--json", "--no-cache", "--counterfactuals", "check"):
            value = data.draw(st.sampled_from(VALUES))
            argv.append(files.get(value, value))
    unavailable = ModelNotAvailableError("no model in the fuzz test")
    with mock.patch("core.models.loading.load_model", side_effect=unavailable):
        try:
            rc = main(argv)
        except SystemExit as exit_:  # argparse: usage and `prog: error: …`, status 2
            rc = exit_.code
    err = capsys.readouterr().err
    assert rc in (0, 2), (argv, err)
    assert "Traceback" not in err
    if rc == 2:
        assert len([line for line in err.splitlines() if re.match(r"(\S+( \S+)?: )?error:", line)]) == 1, (argv, err)
