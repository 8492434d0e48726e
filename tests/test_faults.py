"""Faults degrade gracefully: a cache that cannot be written, a full disk under reproduce, corrupt saved results,
and a reproduce killed with SIGKILL then re-run."""
from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from core.models.loading import load_model
from core.tracing.cache import TraceCache
from core.tracing.tracer import Tracer

REPO = Path(__file__).resolve().parent.parent


def _disk_full(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_cache_that_cannot_be_written_still_returns_the_trace(tiny_model_dir, tmp_cache, monkeypatch, caplog):
    monkeypatch.setattr(TraceCache, "_write", _disk_full)
    cache = TraceCache()
    tracer = Tracer(load_model(str(tiny_model_dir), dtype="float32"), cache=cache)
    with caplog.at_level("WARNING"):
        traces = tracer.trace(["the river bank", "a bank loan", "spring water"])
    expected = Tracer(tracer.loaded).trace(["the river bank", "a bank loan", "spring water"])
    for got, want in zip(traces, expected):
        assert (got.stacks["encoder"].token_probs == want.stacks["encoder"].token_probs).all()
    assert cache.failed_writes == 3
    warnings = [r for r in caplog.records if "could not write" in r.getMessage()]
    assert len(warnings) == 1  # one warning, not one per trace


def test_cli_trace_prints_its_answer_on_a_full_disk(tiny_model_dir, tmp_cache, monkeypatch, capsys):
    from core.cli import main

    monkeypatch.setattr(TraceCache, "_write", _disk_full)
    assert main(["trace", "--text", "the river bank", "--model", str(tiny_model_dir)]) == 0
    out = capsys.readouterr()
    assert "tokens:" in out.out and "Traceback" not in out.err


def test_reproduce_on_a_full_disk_is_one_line_and_keeps_the_previous_result(tiny_model_dir, tmp_path, tmp_cache,
                                                                           monkeypatch, capsys):
    from core.cli import main
    from core.results.store import Results

    out = tmp_path / "out"
    assert main(["reproduce", "--model", str(tiny_model_dir), "--limit", "12", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real_save = Results.save

    def save_then_fail(self, folder, *args):
        real_save(self, folder, *args)  # every CSV written, then the report hits the full disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Results, "save", save_then_fail)
    capsys.readouterr()
    assert main(["reproduce", "--model", str(tiny_model_dir), "--limit", "12", "--seed", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "nothing was left half-written" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the previous result, untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left


@pytest.mark.app
def test_benchmarks_page_names_and_skips_a_corrupt_result(tiny_model_dir, tmp_cache, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from core.lens import reproduce
    from core.lens.compute import results_dir

    monkeypatch.setenv("ROUTING_LENS_MODEL", str(tiny_model_dir))
    tracer = Tracer(load_model(str(tiny_model_dir), dtype="float32"))
    good, bad = results_dir(["good"], 12), results_dir(["bad"], 12)
    reproduce([tracer], good, limit=12)
    reproduce([tracer], bad, limit=12)
    (bad / "table1.csv").write_bytes(b"\x00\x01garbage\n\"unterminated")
    (bad / "cohens_d.csv").write_text("model,stack\n")  # cut short: no columns the page needs
    os.utime(bad, (time.time() + 10, time.time() + 10))  # the newest, so the page picks it first
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.run()
    at.switch_page("app_pages/benchmarks.py")
    at.run()
    assert not at.exception
    assert any(f"Skipped the saved result {bad.name}" in w.value for w in at.warning)
    assert len(at.dataframe) >= 3  # the good result is shown instead
    assert not any(str(tmp_cache) in w.value for w in at.warning)  # the folder's name, never the server path


def _reproduce(model: Path, out: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "core", "reproduce", "--model", str(model), "--limit", "60",
                             "--out", str(out)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


@pytest.mark.slow
def test_kill_9_during_reproduce_then_rerun_gives_the_uninterrupted_result(tiny_model_dir, tmp_path):
    env = {**os.environ, "ROUTING_LENS_CACHE": str(tmp_path / "cache-killed")}
    killed = tmp_path / "killed"
    proc = _reproduce(tiny_model_dir, killed, env)
    deadline = time.time() + 60
    traces = Path(env["ROUTING_LENS_CACHE"]) / "traces"
    while time.time() < deadline and proc.poll() is None:  # kill once tracing has written part of the cache
        if traces.is_dir() and sum(1 for _ in traces.rglob("*.rlt")) >= 20:
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail("reproduce finished before it could be killed: raise --limit in this test")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "models.csv").exists()  # nothing half-written where the result belongs
    assert _reproduce(tiny_model_dir, killed, env).wait() == 0

    clean_env = {**os.environ, "ROUTING_LENS_CACHE": str(tmp_path / "cache-clean")}
    clean = tmp_path / "clean"
    assert _reproduce(tiny_model_dir, clean, clean_env).wait() == 0
    names = sorted(p.name for p in clean.glob("*.csv"))
    assert names == sorted(p.name for p in killed.glob("*.csv"))
    for name in names:
        pd.testing.assert_frame_equal(pd.read_csv(killed / name), pd.read_csv(clean / name), check_exact=False,
                                      rtol=1e-6, obj=name)


@pytest.mark.slow
def test_kill_9_during_train_demo_then_rerun_gives_the_uninterrupted_model(tmp_path):
    from safetensors.torch import load_file

    env = {**os.environ, "ROUTING_LENS_CACHE": str(tmp_path / "cache"), "ROUTING_LENS_PROGRESS": "1"}  # bars in a pipe

    steps = 300  # ~7 s of training on 2 cores, after ~7 s of setup: long enough to be caught mid-way

    def train(out: Path) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "core", "train-demo", "--experts", "4", "--tiny", "--steps",
                                 str(steps), "--seed", "2", "--threads", "1", "--out", str(out)], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    killed = tmp_path / "killed"
    proc = train(killed)
    seen = b""
    # wait for the condition, not a time: the progress bar shows a step taken and the run not finished
    while not re.search(rb"\| *([1-9]\d*)/%d " % steps, seen) or re.search(rb"%d/%d " % (steps, steps), seen):
        chunk = os.read(proc.stderr.fileno(), 4096)
        if not chunk:
            pytest.fail("train-demo ended before it could be killed mid-training: " + seen.decode()[-500:])
        seen += chunk
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not killed.exists()  # no half-written model where the model belongs
    assert train(killed).wait() == 0
    clean = tmp_path / "clean"
    assert train(clean).wait() == 0
    a, b = load_file(killed / "model.safetensors"), load_file(clean / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def test_write_folder_restores_the_previous_folder_and_clears_dead_writers_leftovers(tmp_path):
    from core.atomic_folder import write_folder

    out = tmp_path / "result"
    write_folder(out, lambda tmp: (tmp / "a.csv").write_text("first"))
    dead = tmp_path / ".result.tmp-999999999"  # left by a writer killed during its save
    dead.mkdir()
    alive = tmp_path / f".result.tmp-{os.getppid()}"  # another live writer's: left alone
    alive.mkdir()

    def fail(tmp):
        (tmp / "a.csv").write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        write_folder(out, fail)
    assert (out / "a.csv").read_text() == "first" and not dead.exists() and alive.exists()
    write_folder(out, lambda tmp: (tmp / "b.csv").write_text("second"))
    assert [p.name for p in out.iterdir()] == ["b.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive.name, "result"]
