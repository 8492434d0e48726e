"""Corpus-scale routing: the Parquet rows, resuming after kill -9, the Ray engine against the local one, and the
statistics recovering a planted routing."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from core.corpus.rows import schema
from core.corpus.run import CorpusSpec, read_manifest, run_local, shard_files
from core.corpus.stats import ExpertStats, compute
from core.errors import DataError
from core.lens import word_specialisation
from core.models.loading import load_model
from core.tracing.tracer import Tracer
from helpers import experts_page

ROOT = Path(__file__).resolve().parent.parent
# Brown-style spacing: punctuation stands alone, as its own word
RIVER = ["The river bank was steep , and 12 ducks swam in the water .", "Water ran past the bank of the river ."]
MONEY = ["The bank raised its rates by 2 percent .", "Money at the bank earns interest , said Smith ."]


def _corpus(path: Path, n: int = 24) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            domain, texts = ("river", RIVER) if i % 2 == 0 else ("money", MONEY)
            f.write(json.dumps({"id": f"d{i}", "domain": domain, "text": texts[(i // 2) % 2]}) + "\n")
    return path


def _rows(out: Path) -> pd.DataFrame:
    """Every row of a run as plain values (dictionaries decoded, lists as tuples), in doc/stack/layer/position order:
    comparable whatever the engine's file layout and row order."""
    files = [str(p) for p in shard_files(out)]
    frame = pads.dataset(files, format="parquet").to_table().to_pandas()
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].astype(str)
        elif frame[col].dtype == object and len(frame) and isinstance(frame[col].iloc[0], np.ndarray):
            frame[col] = frame[col].map(lambda v: tuple(v.tolist()))
    return frame.sort_values(["doc", "stack", "layer", "position"]).reset_index(drop=True)


class PlantedTracer:
    """A real tiny model's tokenisation and word alignment, with routing planted by token class and domain:
    punctuation → e3, digits → e5, capitalised → e1, function words → e2, 'bank' → e4, other words → e6 in river
    texts and e7 in money texts; special tokens → e0; top-2, the second choice always e0 (e1 for e0's tokens), so the
    planted pairs are (0, e); the same experts at every layer."""

    RULES = {"punctuation": 3, "digits": 5, "capitalised": 1, "function": 2, "bank": 4}

    def __init__(self, real: Tracer) -> None:
        self.real, self.adapter, self.routers, self.loaded = real, real.adapter, real.routers, real.loaded

    def encode_many(self, texts):
        return self.real.encode_many(texts)

    def expert(self, word: str, text: str) -> int:
        from core.studies.word_pair import STOPWORDS

        w = word.strip(".,!?")
        if not any(c.isalnum() for c in word):
            return 3
        if any(c.isdigit() for c in word):
            return 5
        if w.lower() == "bank":
            return 4
        if w.lower() in STOPWORDS:
            return 2
        if word[:1].isupper():
            return 1
        return 6 if "river" in text.lower() or "water" in text.lower() else 7

    def trace(self, texts, stacks=("encoder", "decoder"), **_):
        traces = self.real.trace(texts, stacks=stacks)
        for tr in traces:
            experts = np.array([self.expert(tr.words[w], tr.text) if w >= 0 else 0 for w in tr.token_word])
            for s in tr.stacks.values():
                n_layers, n, e = s.token_probs.shape
                probs = np.full((n_layers, n, e), 0.02, np.float32)
                probs[:, np.arange(n), experts] = 0.9
                probs /= probs.sum(-1, keepdims=True)
                s.token_probs = probs
                s.top1 = np.broadcast_to(experts, (n_layers, n)).astype(np.int16)
                s.selected = np.stack([s.top1, np.where(s.top1 == 0, 1, 0)], axis=-1).astype(np.int16)
                s.dropped = np.zeros((n_layers, n), bool)
        return traces


def test_rows_follow_the_documented_schema(tiny_model_dir, tmp_path):
    tracer = Tracer(load_model(str(tiny_model_dir), dtype="float32"), cache=None)
    spec = CorpusSpec("tiny", "local", "float32", str(_corpus(tmp_path / "c.jsonl", 6)), top_k=1, num_experts=8)
    run_local(tracer, spec, tmp_path / "out")
    table = _rows(tmp_path / "out")
    assert pq.read_schema(next(iter(shard_files(tmp_path / "out")))).names == schema(1).names
    traced = tracer.trace([json.loads(line)["text"] for line in (tmp_path / "c.jsonl").read_text().splitlines()])
    expected = sum(len(t.tokens) * sum(len(s.layers) for s in t.stacks.values()) for t in traced)
    assert len(table) == expected  # one row per token × sparse layer of both stacks
    first = traced[0].stacks["encoder"]
    rows = table[(table.doc == 0) & (table["stack"] == "encoder") & (table.layer == int(first.layers[0]))]
    assert list(rows.token) == traced[0].tokens
    assert [int(e[0]) for e in rows.experts] == first.top1[0].tolist()
    np.testing.assert_allclose([float(p[0]) for p in rows.probs], first.token_probs[0].max(-1), atol=1e-3)
    readme = (ROOT / "docs" / "corpus.md").read_text(encoding="utf-8")
    for name in schema(1, full_probs=True).names:  # every column is documented
        assert f"`{name}`" in readme, name


def test_statistics_recover_a_planted_routing(tiny_model_dir, tmp_path):
    real = Tracer(load_model(str(tiny_model_dir), dtype="float32"), cache=None)
    spec = CorpusSpec("planted", "local", "float32", str(_corpus(tmp_path / "c.jsonl")), top_k=2, num_experts=8)
    run_local(PlantedTracer(real), spec, tmp_path / "out")
    stats = compute(tmp_path / "out", 8, "planted")
    enc = lambda f: f[(f["stack"] == "encoder") & (f.layer == f.layer.min())]  # noqa: E731
    # vocabulary: 'bank' always goes to expert 4, whatever the context
    first = real.loaded.tokenizer.tokenize(" bank")[0]  # the word's first token (the tiny tokenizer splits it)
    bank = enc(stats.vocabulary)[enc(stats.vocabulary).token == first]
    assert len(bank) and (bank.top_expert == 4).all() and (bank.top_share == 1.0).all()
    # token classes: expert 3 takes punctuation and nothing else, expert 5 the numbers
    classes = enc(stats.classes)
    classes = classes[classes.expert != 0]  # e0 is everyone's second choice
    assert classes[(classes.expert == 3) & (classes["class"] == "punctuation")].share.iloc[0] == pytest.approx(1.0)
    assert classes[(classes.expert == 5) & (classes["class"] == "digits")].share.iloc[0] > 0.9
    # domains: river texts send their content words to e6, money texts to e7
    dom = enc(stats.domain)
    river6 = dom[(dom.domain == "river") & (dom.expert == 6)].share.iloc[0]
    money6 = dom[(dom.domain == "money") & (dom.expert == 6)]
    assert river6 > dom.uniform.iloc[0] and money6.empty  # e6 only ever takes river tokens
    money7 = dom[(dom.domain == "money") & (dom.expert == 7)].share.iloc[0]
    assert money7 > 0.1 and dom[(dom.domain == "river") & (dom.expert == 7)].empty
    # top tokens of expert 4: bank, with its context
    top4 = enc(stats.top_tokens)[enc(stats.top_tokens).expert == 4]
    assert first.strip("▁").lower() in set(top4.token) and "[bank]" in " ".join(top4.examples).lower()
    # co-activation: the planted pairs (0, e) and only those
    co = enc(stats.coactivation)
    assert set(zip(co.expert_a, co.expert_b)) == {(0, e) for e in (1, 2, 3, 4, 5, 6, 7)}
    # paths: the same expert at every layer -> the next layer is fully predictable
    assert (stats.paths.consistency == 1.0).all()
    assert (stats.load.n > 0).all() and stats.meta.tokens.iloc[0] > 100
    # one word's specialisation, by its word (the tokenizer's word-start mark stripped, as the page asks it)
    layer = int(enc(stats.vocabulary).layer.iloc[0])
    row = word_specialisation(stats, first.strip("▁").upper(), "encoder", layer)
    assert row is not None and int(row.top_expert) == 4 and row.top_share == 1.0
    assert word_specialisation(stats, "no-such-word", "encoder", layer) is None


def test_statistics_are_written_all_at_once(tiny_model_dir, tmp_path, monkeypatch):
    """ExpertStats.save goes through the results' atomic folder writer: a second save replaces the folder whole,
    and a save that fails half-way leaves the previous statistics as they were."""
    real = Tracer(load_model(str(tiny_model_dir), dtype="float32"), cache=None)
    spec = CorpusSpec("planted", "local", "float32", str(_corpus(tmp_path / "c.jsonl")), top_k=2, num_experts=8)
    run_local(PlantedTracer(real), spec, tmp_path / "out")
    stats = compute(tmp_path / "out", 8, "planted")
    folder = tmp_path / "stats"
    stats.save(folder)
    (folder / "stray.txt").write_text("left by hand")
    stats.save(folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.parquet" for n in ExpertStats.NAMES)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    original = pd.DataFrame.to_parquet
    calls = {"n": 0}

    def fail_on_the_fifth(self, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError(28, "No space left on device")
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", fail_on_the_fifth)
    with pytest.raises(DataError, match="nothing was left half-written"):
        stats.save(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".stats.")]


def _cli(*args, **kw):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.slow
def test_kill_9_then_resume_gives_identical_output(tiny_model_dir, tmp_path):
    corpus = str(_corpus(tmp_path / "c.jsonl", 40))
    args = ["corpus", "--model", str(tiny_model_dir), "--input", corpus, "--shard-segments", "4", "--dtype",
            "float32"]
    whole = _cli(*args, "--out", str(tmp_path / "whole"))
    assert whole.wait(timeout=300) == 0, whole.stderr.read()[-800:]
    proc = _cli(*args, "--out", str(tmp_path / "cut"))
    deadline = time.time() + 240
    while time.time() < deadline:  # kill as soon as some, not all, shards are recorded
        spec = read_manifest(tmp_path / "cut")
        if spec and 1 <= len(spec.done) < 10:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = read_manifest(tmp_path / "cut").done
    assert 0 < len(done) < 10, "killed after the run had finished: nothing to resume"
    resumed = _cli(*args, "--out", str(tmp_path / "cut"))
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()[-800:]
    assert read_manifest(tmp_path / "cut").done == list(range(10))
    pd.testing.assert_frame_equal(_rows(tmp_path / "cut"), _rows(tmp_path / "whole"))
    again = _cli(*args, "--out", str(tmp_path / "cut"), "--max-tokens", "50")
    assert again.wait(timeout=120) == 2 and "another corpus run" in again.stderr.read()


@pytest.mark.slow
def test_ray_with_two_actors_gives_the_local_rows(tiny_model_dir, tmp_path):
    import importlib.util

    if importlib.util.find_spec("ray") is None:  # not imported here: Ray's import has process-wide side effects
        pytest.fail("Ray is a dev dependency (requirements-dev.txt): install it to test the Ray engine.")
    corpus = str(_corpus(tmp_path / "c.jsonl", 16))
    common = ["corpus", "--model", str(tiny_model_dir), "--input", corpus, "--shard-segments", "8", "--dtype",
              "float32"]
    local = _cli(*common, "--out", str(tmp_path / "local"))
    assert local.wait(timeout=300) == 0, local.stderr.read()[-800:]
    ray = _cli(*common, "--out", str(tmp_path / "ray"), "--engine", "ray", "--actors", "2")
    assert ray.wait(timeout=600) == 0, ray.stderr.read()[-1500:]
    assert [p.name for p in shard_files(tmp_path / "ray")] == [p.name for p in shard_files(tmp_path / "local")]
    pd.testing.assert_frame_equal(_rows(tmp_path / "ray"), _rows(tmp_path / "local"))


@pytest.mark.app
def test_experts_page_answers_what_an_expert_takes(tiny_model_dir, tmp_path, tmp_cache, monkeypatch):
    """The Experts page on a small planted result: load and domain heatmaps, one expert's top tokens with their
    contexts and its token classes, a word's routing across the corpus, co-activation, paths, the summary."""
    real = Tracer(load_model(str(tiny_model_dir), dtype="float32"), cache=None)
    run = tmp_cache / "corpus" / "planted"
    spec = CorpusSpec("planted", "local", "float32", str(_corpus(tmp_path / "c.jsonl")), top_k=2, num_experts=8)
    run_local(PlantedTracer(real), spec, run)
    compute(run, 8, "planted").save(run / "stats")
    at = experts_page(tiny_model_dir, monkeypatch)
    assert at.selectbox(key="xp_result").value == str(run / "stats")  # the user's run first
    at.selectbox(key="xp_expert").set_value(4).run()
    first = real.loaded.tokenizer.tokenize(" bank")[0].lstrip("▁")
    top = next(t.value for t in at.table if t.value.index.name == "token")
    assert first in top.index and "[bank]" in " ".join(top.examples)
    at.text_input(key="xp_token").set_value(first).run()
    assert not at.exception
    said = " ".join(m.value for m in at.markdown)
    assert "100%" in said and "e4" in said  # the word always goes to expert 4: context plays no part
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"].replace("<br>", " ") for c in at.get("plotly_chart")]
    for expect in ("share of the tokens each expert takes", "lift of each domain per expert", "Token classes",
                   "occurrences, by expert and domain", "Co-activation"):
        assert any(expect in t for t in titles), expect
    summary = [d.value for d in at.dataframe if "router entropy (bits)" in d.value.columns]
    assert len(summary) == 1 and summary[0].model.iloc[0] == "planted"


@pytest.mark.app
def test_experts_page_opens_on_the_bundled_brown_statistics(tmp_cache, tiny_model_dir, monkeypatch):
    from core.corpus.results import bundled_stats_dir
    from core.corpus.stats import ExpertStats

    folder = bundled_stats_dir()
    if not (folder / "meta.parquet").is_file():
        pytest.fail(f"{folder} is missing: regenerate it (docs/corpus.md).")
    stats = ExpertStats.load_from(folder)
    assert stats.meta.model.iloc[0] == "demo-switch-8" and stats.meta.tokens.iloc[0] >= 1_000_000
    assert stats.meta.domains.iloc[0] == 15  # Brown's categories
    assert sum(p.stat().st_size for p in folder.iterdir()) < 8 * 2**20
    at = experts_page(tiny_model_dir, monkeypatch)
    assert at.selectbox(key="xp_result").value == str(folder)  # no run of one's own: the bundled one
    said = " ".join(m.value for m in at.markdown)
    assert re.search(r"of its [\d,]+ occurrences \(of the [\d,]+ the chart counts over every spelling\) go to e\d",
                     said)  # 'bank' in Brown, with its share and CI, and both counts named
    assert len(at.get("plotly_chart")) >= 4
