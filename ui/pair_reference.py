"""Compare's yardstick: the newest saved Benchmarks result of the model on screen, read once per process."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.lens import Lens, saved_results
from core.results.store import result_model_names
from core.studies.pair_reference import reference_densities, wic_reference

EMPTY = pd.DataFrame(columns=["stack", "label", "jss"])


@st.cache_resource(show_spinner=False, max_entries=64)
def _reference(folder: str, stamp: float, model: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The model's WiC pairs in one saved result and their densities (empty when the result holds other models):
    models.csv first, so a result of other models never has its wic_pairs read; held once per process per (folder,
    mtime, model) and shared read-only by every session, so a view reads and estimates nothing."""
    if model not in result_model_names(Path(folder)):
        return EMPTY, reference_densities(EMPTY)
    reference = wic_reference(Path(folder), model)
    return reference, reference_densities(reference)


def model_reference(model: str) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The model's WiC pairs (stack, label, jss) in its newest saved result, bundled ones included, their densities
    (both empty: none) and which result they came from (folder and time: part of a figure's cache key)."""
    for folder in saved_results():
        stamp = folder.stat().st_mtime
        reference, densities = _reference(str(folder), stamp, model)
        if len(reference):
            return reference, densities, f"{folder.name}@{stamp}"
    return EMPTY, reference_densities(EMPTY), ""


@st.cache_resource(show_spinner="Routing the classic homonyms once for this model…", max_entries=16)
def _classic(model: str, dtype: str, read: str, _lens: Lens) -> pd.DataFrame:
    return _lens.route_classics()


def model_classics(lens: Lens) -> pd.DataFrame:
    """The model's routing of the classic triplets (the verdict's reference), traced once per process per model,
    precision and decoder reading, and shared read-only by every session."""
    loaded = lens.tracer.loaded
    return _classic(loaded.name, str(loaded.dtype), lens.decoder_read, lens)
