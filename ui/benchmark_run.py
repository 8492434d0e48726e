"""Benchmarks' run form: models, rows per dataset, decoder reading and the sensitivity table, then one call to the
use-case layer (core.lens) with a progress bar, queued one run at a time and shared on a locked server."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.errors import RoutingLensError
from core.lens import already_saved, reproduce, run_folder
from core.models.adapters import family_info
from core.models.registry import list_models
from core.tracing.tracer import Tracer
from ui.decoder_read import LABELS
from ui.deployment import deployment
from ui.errors import show_error
from ui.model_cache import get_tracer, try_load
from ui.run_queue import run_queue
from ui.sidebar import offered as offered_models


def _progress_bar(bar):
    """core's progress protocol (desc, total) → advance(n), drawn on one Streamlit bar."""

    def start(desc: str, total: int):
        state = {"done": 0}

        def advance(n: int) -> None:
            state["done"] += n
            bar.progress(min(state["done"] / max(total, 1), 1.0), text=f"{desc}: {state['done']}/{total}")

        return advance

    return start


def run_form(tracer: Tracer | None) -> Path | None:
    """The form; on submit, the run's result folder (computed now, or already saved on a shared server)."""
    dep = deployment()
    entries, _unreachable = offered_models([e for e in list_models() if dep.allows(e.name)])  # as the sidebar does
    with st.form("bench_run"):
        names = [e.name for e in entries]
        current = tracer.loaded.name if tracer else None
        chosen = st.multiselect("Models", names + ([current] if current and current not in names else []),
                                default=[current] if current else [], key="bench_models",
                                max_selections=dep.max_models if dep.locked else None)
        if dep.locked:  # a shared server: capped runs, queued one at a time, results shared by everyone
            limit = st.number_input(f"Rows per dataset (at most {dep.max_rows} on this server)", min_value=3,
                                    max_value=dep.max_rows, value=min(100, dep.max_rows), step=50, key="bench_limit")
        else:
            limit = st.number_input("Rows per dataset (0 = full datasets; small numbers give a quick look)",
                                    min_value=0, value=100, step=50, key="bench_limit")
        # the reading is asked only when a model on offer can be read two ways; the others keep their own
        offered = [family_info(e.family).decoder_reads for e in entries]
        reads = max(offered + ([tracer.loaded.adapter.decoder_reads] if tracer else []), key=len, default=("input",))
        read = st.radio("Read decoder routing (models that offer both readings)", reads, format_func=LABELS.get,
                        horizontal=True, key="bench_decoder_read") if len(reads) > 1 else "input"
        with_sensitivity = st.checkbox("Sensitivity table: rerun under every alternative choice (precision, decoder "
                                       "reading, JSS measure, sense counting, expert capacity, the chosen weights, "
                                       "aggregation; about 5× the time)", key="bench_sensitivity", disabled=dep.locked,
                                       help="Not on a shared server: run `python -m core reproduce --sensitivity`."
                                       if dep.locked else None)
        go = st.form_submit_button("Run analyses", type="primary")
    if not go:
        return None
    if not chosen:
        st.warning("Choose at least one model.")
        return None
    chosen = [n for n in chosen if dep.allows(n)]  # the allowlist, whatever the widget state says
    tracers = [t for t in (try_load(n) for n in chosen) if t is not None]
    if len(tracers) < len(chosen):
        return None
    lim = int(limit) or None
    out = run_folder(tracers, lim, decoder_read=read, sensitivity=with_sensitivity)
    asked = {id(t): n for t, n in zip(tracers, chosen)}
    bar = st.progress(0.0, text="Starting…")
    try:
        with run_queue().turn(lambda ahead: bar.progress(0.0, text=f"Queued: {ahead} run"
                                                         f"{'s' if ahead > 1 else ''} ahead of yours…")):
            if dep.locked and already_saved(out):
                bar.progress(1.0, text="Already computed on this server: showing the shared result.")
            else:
                reproduce(tracers, out, limit=lim, progress=_progress_bar(bar), decoder_read=read,
                          sensitivity=with_sensitivity and not dep.locked,
                          retrace=lambda t, dtype: get_tracer(asked[id(t)], dtype))
                bar.progress(1.0, text="Done. Traces are cached: a re-run or a larger run reuses them.")
    except RoutingLensError as err:
        show_error(err)
        return None
    return out
