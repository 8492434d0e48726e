"""Saved results read once per process: every session shows the same bundled or computed result (Benchmarks'
results, the Experts page's corpus statistics), so each is parsed once — it is never changed after loading — and
shared read-only; a folder rewritten in place (a new modification time) is read again."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from core.lens import open_result
from core.results.store import Results, result_label

T = TypeVar("T")


@st.cache_resource(show_spinner="Reading the saved results…", max_entries=32)
def _read(kind: str, folder: str, stamp: float, _reader: Callable[[Path], Any]) -> Any:
    return _reader(Path(folder))


@st.cache_resource(show_spinner=False, max_entries=512)
def _describe(kind: str, folder: str, stamp: float, _describer: Callable[[Path], str]) -> str:
    return _describer(Path(folder))


def stamp(folder: Path) -> float:
    """The folder's modification time: part of every key here and of its figures' keys."""
    return folder.stat().st_mtime


def read_once(kind: str, folder: Path, reader: Callable[[Path], T]) -> T:
    """`reader(folder)`, once per process per (kind, folder, time); errors are raised, and not cached."""
    return _read(kind, str(folder), stamp(folder), reader)


def describe_once(kind: str, folder: Path | str, describer: Callable[[Path], str]) -> str:
    """A listing label, read once per (kind, folder, time)."""
    folder = Path(folder)
    return _describe(kind, str(folder), stamp(folder), describer)


def load_results(folder: Path) -> Results:
    """The saved Benchmarks result in `folder` (RoutingLensError when incomplete)."""
    return read_once("results", folder, open_result)


def label(folder: Path | str) -> str:
    return describe_once("results", folder, result_label)
