"""Compare's yardstick: the newest saved Benchmarks result of the model on screen, read once per result."""
from __future__ import annotations

import streamlit as st

from core.analysis.pair_reference import PairPlacement, place_pair, wic_reference
from core.analysis.reproduce import saved_results
from core.analysis.results import result_model_names


@st.cache_data(show_spinner=False, max_entries=32)
def _reference(folder: str, stamp: float, model: str):
    from pathlib import Path

    return wic_reference(Path(folder), model)


def pair_placements(model: str, stack_jss: dict[str, float]) -> list[PairPlacement]:
    """The pair placed among the model's WiC pairs of its newest saved result ([] when there is none)."""
    for folder in saved_results():
        if model not in result_model_names(folder):
            continue
        reference = _reference(str(folder), folder.stat().st_mtime, model)
        if len(reference):
            return place_pair(reference, stack_jss)
    return []
