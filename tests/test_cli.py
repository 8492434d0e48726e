"""`python -m core trace`: JSON schema and exit codes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from fakes import run_cli

ROOT = Path(__file__).resolve().parent.parent


def test_json_schema(tiny_model_dir, capsys, tmp_cache):
    rc = main(["trace", "--model", str(tiny_model_dir), "--text", "I sat on the river bank",
               "--text", "The bank raised rates", "--json", "--dtype", "float32"])
    assert rc == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert len(lines) == 2
    for obj in lines:
        for key in ("model", "revision", "dtype", "num_experts"):
            assert key in obj
        assert obj["num_experts"] == 8 and obj["dtype"] == "float32"
        for stack in ("encoder", "decoder"):
            s = obj[stack]
            T, W = len(s["tokens"]), len(s["words"])
            assert s["layers"] == [1, 3]
            assert np.asarray(s["token_probs"]).shape == (2, T, 8)
            assert np.asarray(s["word_probs"]).shape == (2, W, 8)
            assert np.asarray(s["top1"]).shape == (2, T)
            assert np.asarray(s["dropped"]).shape == (2, T)
            assert np.allclose(np.asarray(s["word_probs"]).sum(-1), 1, atol=1e-4)
    assert lines[0]["encoder"]["words"] == ["I", "sat", "on", "the", "river", "bank"]


def test_human_table(tiny_model_dir, capsys, tmp_cache):
    assert main(["trace", "--model", str(tiny_model_dir), "--text", "river bank", "--stacks", "encoder"]) == 0
    out = capsys.readouterr().out
    assert "river" in out and "block 1" in out and "block 3" in out and "decoder" not in out


_run = run_cli


@pytest.mark.slow
def test_bad_input_exit_code_and_one_line_message(tiny_model_dir):
    res = _run("trace", "--model", str(tiny_model_dir), "--text", "   ", "--no-cache")
    assert res.returncode == 2
    err_lines = [line for line in res.stderr.strip().splitlines() if line.startswith("error:")]
    assert err_lines == ["error: Text 1 is empty. Type a sentence to trace."]
    assert "Traceback" not in res.stderr
    res = _run("trace", "--model", "/definitely/not/here", "--text", "hi")
    assert res.returncode == 2 and "does not exist" in res.stderr and "Traceback" not in res.stderr


def test_check_model_on_the_bundled_models(capsys):
    """`check-model` passes on the bundled Switch and Mixtral demos (exit 0, one line per sparse layer) and says a
    MoE-fied encoder has nothing to check (exit 4: not applicable, distinct from passed and FAILED)."""

    assert main(["check-model", "demo-switch-8"]) == 0
    out = capsys.readouterr().out
    assert "scoring: softmax, top-1, with an expert capacity" in out and out.count(" · ok") == 4
    assert "Self-check passed on 4 sparse layers" in out
    assert main(["check-model", "--model", "demo-mixtral-8"]) == 0
    assert "Self-check passed" in capsys.readouterr().out
    assert main(["check-model", "moefied-minilm-8"]) == 4
    assert "not applicable" in capsys.readouterr().out
