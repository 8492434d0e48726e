"""Benchmarks: the paper's Tables 1–2 and Figures 1–3 for the chosen models."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.errors import RoutingLensError
from core.lens import Results, saved_results
from ui import benchmark_sections as section
from ui import open_questions_view as open_questions
from ui.benchmark_run import run_form
from ui.results_cache import label, load_results
from ui.sidebar import sidebar

st.title("Benchmarks: does the paper hold here?")
tracer = sidebar()
st.caption("The paper's claims, Tables 1–2 and Figures 1–3, recomputed for the models of a saved run, each judged "
           "on its 95% CI. Definitions: the *How numbers are defined* page of the docs.")
saved = saved_results()
with st.expander("Run your own: choose models and datasets", icon=":material/play_arrow:"):
    if (ran := run_form(tracer)) is not None:
        st.session_state["bench_result"] = str(ran)
        saved = saved_results()  # the new run among the choices, or the picker would fall back to the first
if "bench_result" not in st.session_state and saved:
    st.session_state["bench_result"] = str(saved[0])
if len(saved) > 1:
    st.selectbox("Results shown", [str(p) for p in saved], key="bench_result", format_func=label)
if "bench_result" not in st.session_state:
    st.info("No results yet: open **Run your own** above (or run `python -m core reproduce`).")
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
    st.info("No readable results: open **Run your own** above and press **Run analyses**.")
    st.stop()
folder, res = loaded
section.run_summary(res, folder)
claims, tables, figures, controls, across, designs, questions, sensitivity, downloads = st.tabs(
    ["Claims", "Tables 1–2", "Figures 1–3", "Router or representation?", "Across models", "Router designs",
     "Open questions", "Sensitivity", "Downloads"])
with claims:  # the page opens on its answer: does the paper hold on these models?
    section.claims(res, folder)
    open_questions.claims(res, folder)
with tables:
    section.tables(res)
    section.published()
    section.trends(res)
with figures:
    section.figures(res, folder)
    open_questions.ids_only_section(folder)
with controls:
    section.controls(res, folder)
with across:
    section.across_models(res, folder)
with designs:
    open_questions.router_designs()
with questions:
    open_questions.open_questions(res, folder)
with sensitivity:
    section.sensitivity(res)
with downloads:
    section.downloads(res, folder)
