"""Routing Lens as a package: a wheel built from the checkout installs into a clean virtualenv and works from a folder
outside the repository (the `routing-lens` command, a trace on a bundled demo found under <prefix>/share, the README's
Python example); the CLI answers without loading torch; bad inputs fail fast with one `error:` line."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_PY = Path(sys.executable)


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_the_wheel_installs_and_works_outside_the_repository(tmp_path):
    """The wheel holds the code, the console script and the bundled models and results (installed under
    <prefix>/share/routing-lens, where an installed Routing Lens looks for them). The clean venv gets the wheel alone
    (no network here): its dependencies come from the project's venv through a .pth file."""
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        target = src / name.decode()
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name.decode()).is_file():
            shutil.copy2(ROOT / name.decode(), target)
    subprocess.run([str(VENV_PY), "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("routing_lens-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    py = tmp_path / "venv" / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTING_LENS")}
    env.update(ROUTING_LENS_CACHE=str(tmp_path / "cache"), ROUTING_LENS_DATA=str(ROOT.parent / "shared" / "data"))
    cli = tmp_path / "venv" / "bin" / "routing-lens"

    def run(*cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, cwd=outside, env=env, capture_output=True, text=True, timeout=600)

    helped = run(str(cli), "--help")
    assert helped.returncode == 0 and "intervene" in helped.stdout
    assert run(str(cli), "--version").stdout.strip() == f"routing-lens {_version()}"
    traced = run(str(cli), "trace", "--model", "demo-switch-8", "--text", "I sat on the river bank", "--json")
    assert traced.returncode == 0, traced.stderr
    assert json.loads(traced.stdout.splitlines()[0])["model"] == "demo-switch-8"
    where = run(str(py), "-c", "import core.settings as s; print(s.REPO_ROOT)").stdout.strip()
    assert where == str(tmp_path / "venv" / "share" / "routing-lens")  # the documented rule: not the checkout
    example = run(str(py), "-c", _readme_example() + "\nprint(round(pair.mean_jss['encoder'], 3))")
    assert example.returncode == 0, example.stderr
    assert 0 < float(example.stdout.strip().splitlines()[-1]) <= 1


def _version() -> str:
    from core.version import __version__

    return __version__


def test_the_cli_module_does_not_import_torch():
    """--help and user errors must not pay for torch, transformers, plotly, ray or duckdb."""
    code = ("import sys, core.cli, core.cli.common; core.cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'transformers', 'plotly', 'ray', 'duckdb', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


BAD = [
    ["trace", "--model", "no-such-model", "--text", "hi"],
    ["trace", "--text", ""],
    ["trace", "--text", "hi", "--stacks", "middle"],
    ["experts", "cache/corpus/does-not-exist"],
    ["studies", "no/such/run"],
    ["corpus", "--input", "missing.txt", "--out", "OUT"],
    ["corpus", "--input", "EMPTY", "--out", "OUT"],
    ["corpus", "--input", "BINARY", "--out", "OUT"],
    ["corpus", "--input", "nltk:nonsense", "--out", "OUT"],
    ["ablate", "--corpus", "missing.jsonl"],
    ["intervene", "--text", "hi", "--force", "x"],
    ["intervene", "--text", "hi"],
    ["check-model", "./no-such-folder"],
]


@pytest.mark.parametrize("argv", BAD, ids=[" ".join(a[:2]) for a in BAD])
def test_bad_inputs_fail_fast_with_one_error_line_before_any_model_loads(argv, tmp_path, monkeypatch, capsys):
    from core.cli import main
    from core.models import loading

    def never(*_a, **_k):
        raise AssertionError("a model was loaded before the input was checked")

    monkeypatch.setattr(loading, "load_model", never)
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 40)
    out = tmp_path / "out"
    argv = [str(tmp_path / "empty.txt") if a == "EMPTY" else str(tmp_path / "binary.txt") if a == "BINARY"
            else str(out) if a == "OUT" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if line.startswith("error:")]) == 1 and "Traceback" not in "\n".join(err)
    assert not out.exists()  # nothing left behind


def test_a_failed_corpus_leaves_no_folder_and_its_error_has_its_own_line(tmp_path):
    """A JSONL whose third line is broken fails mid-run: the folder it made is gone, and the error line is not glued to
    the progress bar."""
    src = tmp_path / "c.jsonl"
    src.write_text("\n".join([json.dumps({"text": "The bank raised its rates again."})] * 2 + ['{"text": 3}']))
    out = tmp_path / "run"
    env = {**os.environ, "ROUTING_LENS_PROGRESS": "1"}  # a bar is drawn even into this pipe
    res = subprocess.run([sys.executable, "-m", "core", "corpus", "--model", "demo-switch-8", "--input", str(src),
                          "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 2 and not out.exists()
    lines = res.stderr.replace("\r", "\n").splitlines()
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith("error:") and "not a string" in errors[0]
    assert "tok/s" in res.stderr or "tok]" in res.stderr  # the bar was there, and the error still has its own line


def test_progress_bars_come_from_one_helper_and_stay_quiet_where_no_one_reads(monkeypatch, capsys):
    """No bar when stderr is not a terminal or under --quiet; in a notebook without ipywidgets a plain bar, never
    tqdm.auto's IProgress warning."""
    import warnings

    from core import progress

    monkeypatch.delenv(progress.QUIET_ENV, raising=False)
    monkeypatch.delenv(progress.FORCE_ENV, raising=False)
    b = progress.bar(3, "x")
    assert b.disable  # pytest's stderr is not a terminal
    b.close()
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setattr(progress.importlib.util, "find_spec", lambda name: None)  # no ipywidgets
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a TqdmWarning would fail here
        b = progress.bar(3, "x")
        enabled = not b.disable  # (tqdm marks a closed bar disabled)
        b.update(3)
        b.close()
    assert enabled and "x" in capsys.readouterr().err
    monkeypatch.setenv(progress.QUIET_ENV, "1")
    assert progress.bar(3, "x").disable
    core_files = [p for p in (ROOT / "core").rglob("*.py") if p.name != "progress.py"]
    assert not [p.name for p in core_files if re.search(r"^\s*from tqdm|^\s*import tqdm", p.read_text(), re.M)]
