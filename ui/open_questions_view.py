"""Benchmarks' open-question tabs: *Router designs* (the routing lab) and *Open questions* (word frequency, affixal
negation, multi-word expressions), with their claims. A result run with `--open-questions` shows its own tables; the
bundled result shows the bundled ones."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.lens.open_questions import (
    LAB_NOTE,
    PROBES_NOTE,
    bundled_open_questions,
    ids_only,
    open_claims,
    open_tables,
)
from core.results.store import Results
from core.viz.claims_plots import claims_matrix_figure
from core.viz.open_question_plots import (
    frequency_figure,
    frequency_summary_figure,
    ids_only_figure,
    lab_figure,
    lab_layers_figure,
    probes_figure,
)
from core.viz.report import claims_table
from ui.figures import figure, plot, table_downloads
from ui.results_cache import stamp
from ui.tables import show_table

DESIGN_COLUMNS = {"design": "design", "d": "WiC d", "ci_low": "CI low", "ci_high": "CI high",
                  "d_minus_softmax": "d − softmax's", "diff_low": "diff. CI low", "diff_high": "diff. CI high",
                  "diff_form_matched": "form-matched T − F", "diff_form_matched_low": "its CI low",
                  "diff_form_matched_high": "its CI high", "scws_rho_context": "SCWS ρ, in context", "scws_rho_alone": "SCWS ρ, alone",
                  "fidelity_cosine": "cosine to dense", "load_cv": "load CV", "unprocessed_share": "tokens unprocessed",
                  "training_seconds": "training s"}


def router_designs() -> None:
    tables = bundled_open_questions()
    designs, layers = tables.get("lab_designs"), tables.get("lab_layers")
    if designs is None or layers is None or designs.empty:
        st.info("The routing lab's results are not here: run `python -m core lab` (about 30 minutes on 2 cores).")
        return
    from core.lens.open_questions import lab_headline

    plot(figure(("lab", len(designs), float(designs.d.sum())),
                lambda: lab_figure(designs, layers, lab_headline(designs))), key="lab-designs")
    st.caption(LAB_NOTE)
    shown = designs[[c for c in DESIGN_COLUMNS if c in designs]].rename(columns=DESIGN_COLUMNS)
    show_table(shown.round(3), index="design")
    plot(figure(("lab-layers", len(layers), float(layers.d.sum())), lambda: lab_layers_figure(layers)),
         key="lab-layers")
    table_downloads(layers, "lab_layers", "WiC d per design and layer, with the controls")


def claims(res: Results, folder: Path) -> None:
    """The open questions' claims as their own matrix (they are not the paper's claims)."""
    rows = open_claims(res, folder)
    if rows.empty:
        return
    st.subheader("Beyond the paper: its open questions, and its WiC claim on expert ids alone, judged")
    plot(figure(("open-claims", str(folder), stamp(folder)), lambda: claims_matrix_figure(
        rows, whose="The claims beyond the paper")), key="open-claims")
    with st.expander("The evidence of every open-question cell"):
        show_table(claims_table(rows))


def open_questions(res: Results, folder: Path) -> None:
    frames = open_tables(res, folder)
    probes, frequency = frames["probes"], frames["frequency"]
    if probes.empty and frequency.empty:
        st.info("This result holds no open-question answers: run `python -m core reproduce --open-questions` (the "
                "bundled result has them).")
        return
    st.caption(PROBES_NOTE)
    if len(frequency):
        st.subheader("Word frequency beside polysemy")
        plot(figure(("freq-summary", str(folder), stamp(folder)), lambda: frequency_summary_figure(frequency)),
             key="freq-summary")
        options = [f"{m} · {s}" for m, s in zip(frequency.model, frequency["stack"])]
        chosen = st.selectbox("Figure 3 with frequency for", options, key="freq-scope")
        model, stack = chosen.split(" · ")
        poly = frames["polysemy"]
        plot(figure(("freq-fig3", str(folder), stamp(folder), chosen),
                    lambda: frequency_figure(poly, frequency, model, stack)), key="freq-fig3")
    for study, title in (("negation", "Affixal negation"), ("mwe", "Multi-word expressions")):
        part = probes[probes.study == study] if len(probes) else pd.DataFrame()
        if part.empty:
            continue
        st.subheader(title)
        plot(figure((f"probe-{study}", str(folder), stamp(folder)), lambda p=part, s=study: probes_figure(p, s)),
             key=f"probe-{study}")
        table_downloads(part, study, f"{title}: the gap per model, stack, layer and subset, with 95% CIs")


def ids_only_section(folder: Path) -> None:
    """Figure 2's question on expert ids alone (what a serving engine returns), for the bundled models."""
    frame = ids_only(folder)
    if frame.empty:
        return
    st.subheader("Figure 2 on expert ids alone (IDs only)")
    plot(figure(("ids-only", str(folder), stamp(folder)), lambda: ids_only_figure(frame)), key="ids-only")
    st.caption("A serving engine (vLLM, SGLang, Megatron, llama.cpp) returns the chosen experts only: no JSS. Here "
               "each WiC pair is scored by the overlap of the word's chosen experts (weighted Jaccard), and Cohen's "
               "d of that overlap gets its 95% CI — every number on expert ids alone. Import an engine's routes with "
               "`python -m core import`; the format: *Routes from serving engines* in the docs.")


def open_questions_step() -> None:
    """Presenter mode's *What the paper left open*: three answers from the bundled results and one figure (the
    routing lab's, else the negation study's), sized for a projector."""
    from core.viz.deck import open_answers
    from ui.presenter import legend_below, projector

    tables = bundled_open_questions()
    answers = open_answers(tables)
    if not answers:
        st.info("This step has nothing to show: run `python -m core lab` and `python -m core reproduce "
                "--open-questions`.")
        return
    st.markdown("\n".join(f"- {a}" for a in answers))
    designs, layers = tables.get("lab_designs"), tables.get("lab_layers")
    if designs is not None and layers is not None and len(designs):
        fig = lab_figure(designs, layers, "Router designs: WiC Cohen's d (same − different meaning) against the "
                         "controls", short=True)
    else:
        fig = probes_figure(tables["probes"], "negation")
    fig = legend_below(projector(fig, height=360))
    fig.update_layout(legend=dict(y=-0.2))  # below the tick labels, not on them
    st.plotly_chart(fig, width="stretch", key="present-open")
