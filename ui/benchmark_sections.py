"""Benchmarks' sections, each drawn from one saved result: the page arranges them, these draw them. Figures are
built once per process per (result, scope) through ui.figures."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import streamlit as st

from core.errors import RoutingLensError
from core.lens import saved_results
from core.results.store import Results
from core.studies.claims import claims_matrix
from core.viz import plots
from core.viz.claims_plots import claims_matrix_figure
from core.viz.controls_report import controls_figure
from core.viz.report import (
    CLAIMS_NOTE,
    CONTEXT_GAIN_NOTE,
    CONTROLS_NOTE,
    DROPPED_NOTE,
    PAPER_REFERENCE_NOTE,
    SENSITIVITY_NOTE,
    claims_table,
    context_gain_table,
    controls_table,
    correlation_table,
    dropped_table,
    figure_tag,
    layer_rho_table,
    paper_reference,
    polysemy_stacks,
    published_table,
    run_precision,
    sensitivity_display,
)
from core.viz.run_summary import merged_notes, model_line
from core.viz.tables import NEAR_TIE_NOTE, near_tie_table
from ui.figures import figure, plot, table_downloads
from ui.results_cache import label, load_results, stamp
from ui.tables import show_table

TABLES = (("table1", "Table 1 — words traced alone: WordSim353 (association), SimLex-999 (similarity)"),
          ("table2", "Table 2 — SCWS without and with context"))


def published() -> None:
    with st.expander("The paper: Tables 1–2 as published, with the checkpoints they came from"):
        st.caption("Spearman ρ of routing JSS with human ratings, Arnold, Fietta, Yesilbas (2024), for the paper's "
                   "Switch checkpoints (8 … 128 experts). Compare a run's rows with these only for the same checkpoint.")
        for table, title in (("table1", "Table 1 — words alone (association: WordSim353, similarity: SimLex-999)"),
                             ("table2", "Table 2 — SCWS without and with context")):
            st.markdown(f"**{title}**")
            show_table(published_table(table).reset_index(), index="checkpoint (published)", static=True)


def run_summary(res: Results, folder: Path) -> None:
    """One line for the run (shown above the tabs); its models, one per line, and its notes as one note, folded."""
    n = len(res.models)
    scope = ("a subsample" if res.run_info and res.run_info.subsample else "the full datasets")
    st.markdown(f"**{label(folder)}** — {n} model{'s' if n != 1 else ''}, {scope}; every number computed in "
                f"{run_precision(res) or 'the precision each model was loaded in'}.")
    notes = merged_notes(res)
    with st.expander(f"The models and what to keep in mind ({n} models, {len(notes)} notes)"):
        st.markdown("\n".join(f"- {model_line(row)}" for _, row in res.models.iterrows()))
        lines = [n.text for n in notes]
        if res.run_info and res.run_info.subsample and len(res.table1):
            lines.append(f"A subsample: a typical ρ here is known to about ±{res.typical_half_width():.2f} (the median "
                         "half-width of Table 1's 95% CIs). CIs narrow roughly with the square root of the pairs: the "
                         "full data (WordSim353 353, SimLex-999 999, SCWS 2,003, WiC 7,466 pairs) is what the paper's "
                         "numbers rest on.")
        if lines:
            st.info("\n".join(f"- {line}" for line in lines))


def claims(res: Results, folder: Path) -> None:
    """The answer first: how many cells hold, then the matrix; its evidence and method folded beneath (the open
    questions' claims are drawn apart, by ui.open_questions_view)."""
    from core.lens.open_questions import paper_claims

    res = dataclasses.replace(res, claims=paper_claims(res.claims))
    if not len(res.claims):
        st.info("This result holds no judged claims: run the analyses again to judge them.")
        return
    counts = res.claims.verdict.value_counts()
    st.markdown(f"Of {len(res.claims)} judged cells, **{counts.get('supported', 0)} support** the paper, "
                f"**{counts.get('contradicted', 0)} contradict** it and {counts.get('inconclusive', 0)} are "
                "inconclusive.")
    plot(figure(("claims_matrix", str(folder), stamp(folder)), lambda: claims_matrix_figure(res.claims)),
         key="claims-matrix")
    with st.expander("How a claim is judged, and the evidence of every cell (estimate, 95% CI, p)"):
        st.caption(CLAIMS_NOTE)
        show_table(claims_table(res.claims))
    if "survives" not in res.claims.columns:
        st.caption("Tick *Sensitivity table* under **Run your own** (or run `python -m core reproduce --sensitivity`) "
                   "to mark whether each verdict survives every open choice.")


def tables(res: Results) -> None:
    for table, title in TABLES:
        st.subheader(title)
        shown = correlation_table(getattr(res, table))
        if len(shown) and shown["published ρ"].eq("").all():  # no paper checkpoint here: no column of dashes
            shown = shown.drop(columns=["published ρ", "difference"])
            st.caption("None of these models is one of the paper's checkpoints, so no published value stands beside "
                       "them" + (" (the paper's own values for the same expert counts are below)."
                                 if len(paper_reference(res, table)) else "."))
        show_table(shown)
        if table == "table2" and len(res.context_gain):
            st.markdown("**Context gain** (ρ with context − ρ without, same pairs)")
            st.caption(CONTEXT_GAIN_NOTE)
            show_table(context_gain_table(res.context_gain), index="model", static=True)
        reference = paper_reference(res, table)
        if len(reference):
            st.caption(PAPER_REFERENCE_NOTE)
            show_table(reference, index="paper", static=True)
        if len(res.layer_rho):
            with st.expander("Per sparse layer"):
                show_table(layer_rho_table(res.layer_rho[res.layer_rho.table == table]))


def across_models(res: Results, folder: Path) -> None:
    if len(res.models) < 2:
        st.info("One model in this result: choose two or more in the run form to set them side by side.")
        return
    st.caption("One row per model and stack. Encoder–decoder (Switch), decoder-only (left context only) and "
               "MoE-fied models on the same metrics; context gain = SCWS ρ with context − without.")
    show_table(res.comparison)
    plot(figure(("comparison", str(folder), stamp(folder)), lambda: plots.comparison_figure(res.comparison)),
         key="families")


@st.fragment
def figures(res: Results, folder: Path) -> None:
    """Figures 1–3 for one scope: choosing the scope reruns only this part of the page. Per-model views come first:
    pooling pairs mixes models whose expert counts (and baseline JSS) differ, so it is an explicit, labelled
    choice."""
    found = list(dict.fromkeys(res.cohens_d.model)) or ["pooled"]
    models = set(res.models.model.astype(str))
    scopes = [s for s in found if s in models] + [s for s in found if s not in models]
    scope = st.selectbox("Figures for", scopes, key="bench_scope", format_func=scope_label,
                         help="One model at a time by default. Pooled views mix expert counts (a family's models "
                              "together); models of different families are never pooled together.")
    tag = figure_tag(res, scope)
    result_id = (str(folder), stamp(folder), scope)  # a saved result's figures: built once per process
    plot(figure(("kde", *result_id), lambda: plots.kde_figure(
        res.wic_kde, scope if scope in set(res.wic_kde.model) else scopes[0], tag)), key="fig1")
    plot(figure(("cohens_d", *result_id), lambda: plots.cohens_d_figure(res.cohens_d, scope, tag)), key="fig2")
    ties = near_tie_table(res.cohens_d, scope)
    if len(ties):
        with st.expander(f"Near-ties: up to {ties.near_tie_share.max():.0%} of a layer's re-routes were near-ties — "
                         "d with and without them"):
            show_table(ties, static=True)
            st.caption(NEAR_TIE_NOTE)
    if res.polysemy.empty:
        st.info("Figure 3 needs WiC lemmas with both same- and different-meaning pairs: run with more rows.")
    for stack in polysemy_stacks(res, scope):
        plot(figure(("polysemy", *result_id, stack), lambda s=stack: plots.polysemy_figure(
            res.polysemy, res.polysemy_trend, s, scope)), key=f"fig3-{stack}")


def controls(res: Results, folder: Path) -> None:
    """reproduce --controls: routing's response to context beside its router inputs' and random routers'."""
    if not len(res.controls):
        st.info("No controls in this result: run `python -m core reproduce --controls` to set the routing beside "
                "its router inputs and random routers.")
    else:
        plot(figure(("controls", str(folder), stamp(folder)), lambda: controls_figure(res.controls)),
             key="controls-figure")
        with st.expander("How the controls are computed, and the numbers per layer with CIs"):
            st.caption(CONTROLS_NOTE)
            show_table(controls_table(res.controls))
            if len(res.controls_scws):
                show_table(res.controls_scws)


def trends(res: Results) -> None:
    if len(res.expert_trend):
        st.subheader("Trend over expert counts")
        st.caption("Spearman ρ between a family's expert count and each headline number (n = models in the fit). "
                   "p is exact (every ordering of the models): with three models a perfect ρ has p = 1/3, so three "
                   "models can show a direction but never a significant trend.")
        show_table(res.expert_trend, static=True)
    if len(res.dropped) and res.dropped.dropped.sum() > 0:
        with st.expander("Dropped tokens per layer (over expert capacity)"):
            st.caption(DROPPED_NOTE)
            show_table(dropped_table(res.dropped))


def sensitivity(res: Results) -> None:
    shown, source = res, ""
    if not len(res.sensitivity):  # e.g. the bundled result: another saved result's table, named as such
        shown, source = other_sensitivity(res)
    if len(shown.sensitivity):
        st.subheader("Sensitivity to the open choices")
        if source:
            st.info(f"This result has no sensitivity table (rerunning every open choice for each of its models takes "
                    f"hours on 2 cores). Shown instead: {source}.")
        st.caption(SENSITIVITY_NOTE)
        flipped = shown.sensitivity[shown.sensitivity["flips under"].fillna("") != ""]
        if len(flipped):
            st.warning(f"{len(flipped)} of {len(shown.sensitivity)} headline numbers change sign or significance "
                       "under some choice (the 'flips under' column).")
        show_table(sensitivity_display(shown.sensitivity))
    else:
        st.info("No sensitivity table in this result: tick *Sensitivity table* in the run form (or run "
                "`python -m core reproduce --sensitivity`) to rerun under every open choice.")


def other_sensitivity(res: Results) -> tuple[Results, str]:
    """The first other saved result with a sensitivity table (the bundled one of the offline default), and how it is
    named on the page; (res, "") when there is none."""
    for folder in saved_results():
        try:
            other = load_results(folder)
        except RoutingLensError:
            continue
        if other is not res and len(other.sensitivity):
            return other, f"the sensitivity table of {label(folder)}"
    return res, ""


def scope_label(scope: str) -> str:
    if scope.startswith("pooled"):
        return f"{scope} — pairs of several models pooled (mixes expert counts)"
    if scope.startswith("mean of models"):
        return f"{scope} — the mean of the models' d (mixes expert counts)"
    return scope


@st.fragment
def downloads(res: Results, folder: Path) -> None:
    """Choosing an output reruns only this part; report.html is read when it is downloaded, not on every view."""
    st.caption("Every output of this run as CSV (what a spreadsheet opens) or LaTeX (a booktabs tabular for a paper); "
               "each figure has its own export menu.")
    outputs = {n: getattr(res, n) for n in (*Results.FILES, *Results.OPTIONAL_FILES) if len(getattr(res, n).columns)}
    outputs["comparison"] = res.comparison
    if len(res.claims):
        outputs["claims_matrix"] = claims_matrix(res.claims)
    pick = st.selectbox("Output", list(outputs), key="bench_download", index=list(outputs).index("table1"))
    table_downloads(outputs[pick], pick)
    if (folder / "report.html").is_file():
        st.download_button("report.html (self-contained)", lambda: (folder / "report.html").read_bytes(),
                           file_name="report.html", mime="text/html", key="dl-report", on_click="ignore")
