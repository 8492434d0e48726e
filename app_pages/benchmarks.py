"""Benchmarks: the paper's Tables 1–2 and Figures 1–3 for the chosen models."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.errors import RoutingLensError
from core.lens import saved_results
from core.results.store import Results
from ui import benchmark_sections as section
from ui.benchmark_run import run_form
from ui.results_cache import label, load_results
from ui.sidebar import sidebar

st.title("Benchmarks: the paper's analyses")
tracer = sidebar()
st.caption("Spearman ρ of routing JSS with human ratings (Tables 1–2), WiC same vs different meaning "
           "(Figures 1–2) and polysemy (Figure 3), as defined in docs/definitions.md, beside "
           "the published values. Any registered model runs here; choose several (e.g. a Switch and a decoder-only "
           "model) to compare them.")

if (ran := run_form(tracer)) is not None:
    st.session_state["bench_result"] = str(ran)
saved = saved_results()
if "bench_result" not in st.session_state and saved:
    st.session_state["bench_result"] = str(saved[0])
if saved:
    st.selectbox("Show results", [str(p) for p in saved], key="bench_result", format_func=label)
if "bench_result" not in st.session_state:
    st.info("No results yet: choose models and press **Run analyses** (or run `python -m core reproduce`).")
    st.stop()


def first_readable(chosen: Path) -> tuple[Path, Results] | None:
    """The chosen result, else the newest readable one; corrupt or partial folders are named and skipped."""
    for candidate in [chosen] + [p for p in saved if p != chosen]:
        try:
            return candidate, load_results(candidate)
        except RoutingLensError:
            st.warning(f"Skipped the saved result {candidate.name}: it is incomplete or corrupt.")
    return None


loaded = first_readable(Path(st.session_state["bench_result"]))
if loaded is None:
    st.info("No readable results: choose models and press **Run analyses**.")
    st.stop()
folder, res = loaded
section.run_summary(res)
claims, tables, figures, across, sensitivity, downloads = st.tabs(
    ["Claims", "Tables 1–2", "Figures", "Across models", "Sensitivity", "Downloads"])
with claims:  # the page opens here: does the paper hold on these models?
    section.claims(res, folder)
with tables:
    section.published()
    section.tables(res)
    section.controls(res)
    section.trends(res)
with figures:
    section.figures(res, folder)
with across:
    section.across_models(res, folder)
with sensitivity:
    section.sensitivity(res)
with downloads:
    section.downloads(res, folder)
