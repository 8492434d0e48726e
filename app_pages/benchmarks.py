"""Benchmarks: the paper's Tables 1–2 and Figures 1–3 for the chosen models."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.analysis.reproduce import results_dir, saved_results
from core.analysis.results import Results
from core.errors import RoutingLensError
from core.lens import reproduce
from core.models.registry import list_models
from core.types import DECODER_READS
from core.viz import plots
from core.viz.report import (
    CLAIMS_NOTE,
    CONTEXT_GAIN_NOTE,
    DROPPED_NOTE,
    PAPER_REFERENCE_NOTE,
    SENSITIVITY_NOTE,
    claims_table,
    context_gain_table,
    correlation_table,
    dropped_table,
    figure_tag,
    layer_rho_table,
    models_table,
    paper_reference,
    polysemy_stacks,
    published_table,
    sensitivity_display,
)
from ui.decoder_read import LABELS
from ui.deployment import deployment
from ui.errors import show_error
from ui.figures import figure, plot, table_downloads
from ui.model_cache import get_tracer, try_load
from ui.results_cache import label, load_results, stamp
from ui.run_queue import run_queue
from ui.sidebar import sidebar

st.title("Benchmarks: the paper's analyses")
tracer = sidebar()
st.caption("Spearman ρ of routing JSS with human ratings (Tables 1–2), WiC same vs different meaning "
           "(Figures 1–2) and polysemy (Figure 3), as defined in docs/definitions.md, beside "
           "the published values. Any registered model runs here; choose several (e.g. a Switch and a decoder-only "
           "model) to compare them.")

dep = deployment()
with st.form("bench_run"):
    names = [e.name for e in list_models() if dep.allows(e.name)]
    current = tracer.loaded.name if tracer else None
    chosen = st.multiselect("Models", names + ([current] if current and current not in names else []),
                            default=[current] if current else [], key="bench_models",
                            max_selections=dep.max_models if dep.locked else None)
    if dep.locked:  # a shared server: capped runs, queued one at a time, results shared by everyone
        limit = st.number_input(f"Rows per dataset (at most {dep.max_rows} on this server)", min_value=3,
                                max_value=dep.max_rows, value=min(100, dep.max_rows), step=50, key="bench_limit")
    else:
        limit = st.number_input("Rows per dataset (0 = full datasets; small numbers give a quick look)", min_value=0,
                                value=100, step=50, key="bench_limit")
    read = st.radio("Read decoder routing (Switch models)", DECODER_READS, format_func=LABELS.get, horizontal=True,
                    key="bench_decoder_read")
    with_sensitivity = st.checkbox("Sensitivity table: rerun under every alternative choice (precision, decoder "
                                   "reading, JSS measure, sense counting, expert capacity, aggregation; about 4× "
                                   "the time)", key="bench_sensitivity", disabled=dep.locked,
                                   help="Not on a shared server: run `python -m core reproduce --sensitivity`."
                                   if dep.locked else None)
    go = st.form_submit_button("Run analyses", type="primary")

if go:
    if not chosen:
        st.warning("Choose at least one model.")
    else:
        chosen = [n for n in chosen if dep.allows(n)]  # the allowlist, whatever the widget state says
        tracers = [t for t in (try_load(n) for n in chosen) if t is not None]
        if len(tracers) == len(chosen):
            lim = int(limit) or None
            out = results_dir([f"{t.loaded.entry.location}@{t.loaded.revision}" for t in tracers], lim,
                              decoder_read=read, sensitivity=with_sensitivity)
            asked = {id(t): n for t, n in zip(tracers, chosen)}
            bar = st.progress(0.0, text="Starting…")

            def progress(desc: str, total: int):
                state = {"done": 0}

                def advance(n: int) -> None:
                    state["done"] += n
                    bar.progress(min(state["done"] / max(total, 1), 1.0), text=f"{desc}: {state['done']}/{total}")

                return advance

            try:
                with run_queue().turn(lambda ahead: bar.progress(0.0, text=f"Queued: {ahead} run"
                                                                 f"{'s' if ahead > 1 else ''} ahead of yours…")):
                    if dep.locked and (out / "models.csv").is_file():
                        bar.progress(1.0, text="Already computed on this server: showing the shared result.")
                    else:
                        reproduce(tracers, out, limit=lim, progress=progress, decoder_read=read,
                                  sensitivity=with_sensitivity and not dep.locked,
                                  retrace=lambda t, dtype: get_tracer(asked[id(t)], dtype))
                        bar.progress(1.0, text="Done. Traces are cached: a re-run or a larger run reuses them.")
                st.session_state["bench_result"] = str(out)
            except RoutingLensError as err:
                show_error(err)

saved = saved_results()
if "bench_result" not in st.session_state and saved:
    st.session_state["bench_result"] = str(saved[0])
if saved:
    st.selectbox("Show results", [str(p) for p in saved], key="bench_result",
                 format_func=label)
if "bench_result" not in st.session_state:
    st.info("No results yet: choose models and press **Run analyses** (or run `python -m core reproduce`).")
    st.stop()

def _first_readable(chosen: Path) -> tuple[Path, Results] | None:
    """The chosen result, else the newest readable one; corrupt or partial folders are named and skipped."""
    for candidate in [chosen] + [p for p in saved if p != chosen]:
        try:
            return candidate, load_results(candidate)
        except RoutingLensError:
            st.warning(f"Skipped the saved result {candidate.name}: it is incomplete or corrupt.")
    return None


with st.expander("The paper: Tables 1–2 as published, with the checkpoints they came from"):
    st.caption("Spearman ρ of routing JSS with human ratings, Arnold, Fietta, Yesilbas (2024), for google/switch-base-8 "
               "… 128. Compare a run's rows with these only for the same checkpoint.")
    for table, title in (("table1", "Table 1 — words alone (association: WordSim353, similarity: SimLex-999)"),
                         ("table2", "Table 2 — SCWS without and with context")):
        st.markdown(f"**{title}**")
        st.table(published_table(table))

loaded = _first_readable(Path(st.session_state["bench_result"]))
if loaded is None:
    st.info("No readable results: choose models and press **Run analyses**.")
    st.stop()
folder, res = loaded

st.dataframe(models_table(res), hide_index=True)
for note in res.notes:
    if note.caveat:
        st.warning(note.text)
    else:
        st.caption(note.text)
if res.run_info and res.run_info.subsample and len(res.table1):
    half = float(((res.table1.ci_high - res.table1.ci_low) / 2).median())
    st.info(f"A subsample: a typical ρ here is known to about ±{half:.2f} (the median half-width of Table 1's 95% "
            "CIs). CIs narrow roughly with the square root of the pairs: the full data (WordSim353 353, SimLex-999 "
            "999, SCWS 2,003, WiC 7,466 pairs) is what the paper's numbers rest on.")
if len(res.claims):
    st.subheader("The paper's claims on this run")
    st.caption(CLAIMS_NOTE)
    st.table(claims_table(res.claims).set_index("claim"))
for table, title in (("table1", "Table 1 — words traced alone: WordSim353 (association), SimLex-999 (similarity)"),
                     ("table2", "Table 2 — SCWS without and with context")):
    st.subheader(title)
    st.dataframe(correlation_table(getattr(res, table)), hide_index=True, width="stretch")
    if table == "table2" and len(res.context_gain):
        st.markdown("**Context gain** (ρ with context − ρ without, same pairs)")
        st.caption(CONTEXT_GAIN_NOTE)
        st.table(context_gain_table(res.context_gain).set_index("model"))
    reference = paper_reference(res, table)
    if len(reference):
        st.caption(PAPER_REFERENCE_NOTE)
        st.table(reference.set_index("paper"))
    if len(res.layer_rho):
        with st.expander("Per sparse layer"):
            st.table(layer_rho_table(res.layer_rho[res.layer_rho.table == table]).set_index("model"))
comparison = res.comparison
if len(res.models) > 1:
    st.subheader("Across models: the same metrics side by side")
    st.caption("One row per model and stack. Encoder–decoder (Switch), decoder-only (left context only) and MoE-fied "
               "models on the same metrics; context gain = SCWS ρ with context − without.")
    st.dataframe(comparison, hide_index=True, width="stretch")
    plot(figure(("comparison", str(folder), stamp(folder)), lambda: plots.comparison_figure(comparison)),
         key="families")


@st.fragment
def figures(res: Results, folder: Path) -> None:
    """Figures 1–3 for one scope: choosing the scope reruns only this part of the page."""
    scopes = list(dict.fromkeys(res.cohens_d.model)) or ["pooled"]
    scope = st.selectbox("Figures for", scopes, key="bench_scope",
                         help="Models of different families are pooled separately (their layers differ in meaning).")
    tag = figure_tag(res, scope)
    result_id = (str(folder), stamp(folder), scope)  # a saved result's figures: built once per process
    plot(figure(("kde", *result_id), lambda: plots.kde_figure(
        res.wic_kde, scope if scope in set(res.wic_kde.model) else scopes[0], tag)), key="fig1")
    plot(figure(("cohens_d", *result_id), lambda: plots.cohens_d_figure(res.cohens_d, scope, tag)), key="fig2")
    if res.polysemy.empty:
        st.info("Figure 3 needs WiC lemmas with both same- and different-meaning pairs: run with more rows.")
    for stack in polysemy_stacks(res, scope):
        plot(figure(("polysemy", *result_id, stack), lambda s=stack: plots.polysemy_figure(
            res.polysemy, res.polysemy_trend, s, scope)), key=f"fig3-{stack}")


figures(res, folder)

if len(res.expert_trend):
    st.subheader("Trend over expert counts")
    st.caption("Spearman ρ between a family's expert count and each headline number (n = models in the fit).")
    st.table(res.expert_trend.set_index("number"))
if len(res.dropped) and res.dropped.dropped.sum() > 0:
    with st.expander("Dropped tokens per layer (over expert capacity)"):
        st.caption(DROPPED_NOTE)
        st.table(dropped_table(res.dropped).set_index("model"))

if len(res.sensitivity):
    st.subheader("Sensitivity to the open choices")
    st.caption(SENSITIVITY_NOTE)
    flipped = res.sensitivity[res.sensitivity["flips under"].fillna("") != ""]
    if len(flipped):
        st.warning(f"{len(flipped)} of {len(res.sensitivity)} headline numbers change sign or significance under "
                   "some choice (the 'flips under' column).")
    st.table(sensitivity_display(res.sensitivity).set_index("number"))
elif len(res.claims):
    st.caption("Tick *Sensitivity table* above (or run `python -m core reproduce --sensitivity`) to see whether "
               "each claim survives every open choice.")

st.subheader("Downloads")
st.caption("Every output of this run as CSV (what a spreadsheet opens) or LaTeX (a booktabs tabular for a paper); "
           "each figure above has its own HTML, SVG and PDF buttons.")


@st.fragment
def downloads(res: Results, folder: Path, comparison) -> None:
    """Choosing an output reruns only this part; report.html is read when it is downloaded, not on every view."""
    outputs = {n: getattr(res, n) for n in (*Results.FILES, *Results.OPTIONAL_FILES) if len(getattr(res, n).columns)}
    outputs["comparison"] = comparison
    pick = st.selectbox("Output", list(outputs), key="bench_download", index=list(outputs).index("table1"))
    table_downloads(outputs[pick], pick)
    if (folder / "report.html").is_file():
        st.download_button("report.html (self-contained)", lambda: (folder / "report.html").read_bytes(),
                           file_name="report.html", mime="text/html", key="dl-report", on_click="ignore")


downloads(res, folder, comparison)
