"""The capture client against an in-process OpenAI-compatible server that replays payloads made from the project's own
traces: what it sends (the texts and nothing else), a dropped connection retried, and a capture killed with -9
resuming where it stopped."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from core.lens.capture import journal_path
from core.tracing.portable import id_arrays, read
from helpers import npy_base64, traced_wic

MODEL = "demo-mixtral-8"


@pytest.fixture(scope="module")
def routes():
    _wic, texts, _lm, traces = traced_wic(MODEL, 6)
    ids = {t: np.transpose(tr.stacks["decoder"].selected, (1, 0, 2)) for t, tr in zip(texts, traces)}
    return texts, ids


class Engine:
    """A vLLM-like /v1/completions that answers each prompt with its routes; it can drop a connection, or hold
    answers after the first `hold_after` until released."""

    def __init__(self, ids: dict[str, np.ndarray]) -> None:
        self.ids, self.bodies, self.drop = ids, [], set()
        self.hold_after: int | None = None
        self.release = threading.Event()
        self.answered = 0
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                engine.bodies.append(body)
                if body["prompt"] in engine.drop:
                    engine.drop.discard(body["prompt"])
                    self.close_connection = True
                    self.connection.shutdown(2)  # no answer at all: the client sees the connection drop
                    return
                if engine.hold_after is not None and engine.answered >= engine.hold_after:
                    engine.release.wait(60)
                engine.answered += 1
                routes = engine.ids[body["prompt"]]
                data = json.dumps({"choices": [{"text": "", "routed_experts": npy_base64(routes[:0]),
                                                "prompt_routed_experts": npy_base64(routes)}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


def _run(texts_file, out, url, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "core", "--quiet", "capture", "--engine", "vllm", "--url", url,
                             "--model", MODEL, "--texts", str(texts_file), "--out", str(out), "--concurrency", "2",
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_capture_sends_only_the_texts_retries_a_dropped_connection_and_writes_the_trace(routes, tmp_path):
    texts, ids = routes
    engine = Engine(ids)
    engine.drop = {texts[0]}
    try:
        (tmp_path / "texts.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
        proc = _run(tmp_path / "texts.txt", tmp_path / "cap", engine.url)
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    finally:
        engine.close()
    assert {tuple(sorted(b)) for b in engine.bodies} == {
        ("max_tokens", "model", "prompt", "return_routed_experts", "temperature")}
    assert sorted(b["prompt"] for b in engine.bodies) == sorted([*texts, texts[0]])  # the dropped one, sent again
    frame, meta = read(tmp_path / "cap")
    assert meta.source == "vllm" and meta.texts == texts and meta.holds == "ids"
    got = id_arrays(frame, "decoder")
    for i, t in enumerate(texts):
        np.testing.assert_array_equal(got[i], ids[t])
    assert not journal_path(tmp_path / "cap").exists()


def test_a_capture_killed_with_minus_9_resumes_where_it_stopped(routes, tmp_path):
    texts, ids = routes
    engine = Engine(ids)
    engine.hold_after = 4  # four answers, then the server stalls: the client is killed mid-capture
    (tmp_path / "texts.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    journal = journal_path(tmp_path / "cap")
    try:
        proc = _run(tmp_path / "texts.txt", tmp_path / "cap", engine.url)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait for the condition: four answers journaled
            if journal.is_file() and len(journal.read_text().splitlines()) >= 4:
                break
            time.sleep(0.05)
        assert len(journal.read_text().splitlines()) == 4
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        first = [b["prompt"] for b in engine.bodies]
        engine.hold_after = None
        engine.release.set()
        done_before = {json.loads(line)["i"] for line in journal.read_text().splitlines()}
        engine.bodies.clear()
        again = _run(tmp_path / "texts.txt", tmp_path / "cap", engine.url)
        _out, err = again.communicate(timeout=300)
        assert again.returncode == 0, err
    finally:
        engine.close()
    resent = [b["prompt"] for b in engine.bodies]
    assert not {texts[i] for i in done_before} & set(resent)  # journaled answers are never asked for again
    assert sorted(set(resent) | {texts[i] for i in done_before}) == sorted(texts)
    assert len(first) >= 4
    frame, meta = read(tmp_path / "cap")
    got = id_arrays(frame, "decoder")
    for i, t in enumerate(texts):
        np.testing.assert_array_equal(got[i], ids[t])
