"""Folders written all at once: filled as a temporary sibling and renamed into place, so an interrupted writer
(kill -9, a full disk) leaves the previous folder or none — never a half-written one. Shared by `reproduce`'s results, the
corpus statistics and the demo trainers."""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import psutil


def _clear_stale(out: Path) -> None:
    """Remove temporary siblings left by writers that died (their pid is gone)."""
    for p in out.parent.glob(f".{out.name}.*-*"):
        pid = p.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def write_folder(out: Path, fill: Callable[[Path], None]) -> None:
    """`fill(tmp)` writes the folder's content into `tmp`; then it replaces `out`. On OSError the previous `out` is
    put back and the error re-raised; `tmp` never remains."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    _clear_stale(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        fill(tmp)
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out.exists():
            os.replace(old, out)  # put the previous folder back
        raise
    shutil.rmtree(old, ignore_errors=True)
