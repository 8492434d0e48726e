"""Compare's yardstick: the newest saved Benchmarks result of the model on screen, read once per result."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.analysis.pair_reference import wic_reference
from core.analysis.reproduce import saved_results
from core.analysis.results import result_model_names


@st.cache_data(show_spinner=False, max_entries=64)
def _reference(folder: str, stamp: float, model: str) -> pd.DataFrame:
    """The model's WiC pairs in one saved result (empty when the result holds other models): models.csv first, so a
    result of other models never has its wic_pairs.csv read; cached per (folder, mtime, model), so a rerun reads
    nothing."""
    if model not in result_model_names(Path(folder)):
        return pd.DataFrame(columns=["stack", "label", "jss"])
    return wic_reference(Path(folder), model)


def model_reference(model: str) -> pd.DataFrame:
    """The model's WiC pairs (stack, label, jss) in its newest saved result, bundled ones included (empty: none)."""
    for folder in saved_results():
        reference = _reference(str(folder), folder.stat().st_mtime, model)
        if len(reference):
            return reference
    return pd.DataFrame(columns=["stack", "label", "jss"])

