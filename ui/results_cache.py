"""Saved results read once per process: every session shows the same bundled or computed result, so it is parsed
once (a Results is never changed after loading) and its listing label is read once per folder and time."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.analysis.results import Results, result_label


@st.cache_resource(show_spinner="Reading the saved results…", max_entries=8)
def _results(folder: str, stamp: float) -> Results:
    return Results.load(Path(folder))


@st.cache_resource(show_spinner=False, max_entries=256)
def _label(folder: str, stamp: float) -> str:
    return result_label(Path(folder))


def stamp(folder: Path) -> float:
    """The folder's modification time: a result rewritten in place is read again."""
    return folder.stat().st_mtime


def load_results(folder: Path) -> Results:
    """The saved result in `folder`, shared read-only by every session (RoutingLensError when incomplete)."""
    return _results(str(folder), stamp(folder))


def label(folder: Path | str) -> str:
    folder = Path(folder)
    return _label(str(folder), stamp(folder))
