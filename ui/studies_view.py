"""The Studies view of the Experts page: the field's routing analyses, one tab per paper (OLMoE, Mixtral, OpenMoE),
each figure in its paper's form with its definition in a caption and an export menu."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from core.corpus.field_studies import FieldStudies
from core.corpus.olmoe import ADJACENT, ALL_PAIRS, CHOSEN_SET, FIRST_CHOICE
from core.corpus.results import corpus_root
from core.errors import RoutingLensError
from core.lens.field import BUNDLED_STUDIES, studies_folders
from core.viz import pathway_plots as pp
from core.viz import study_plots as sp
from core.viz.studies_report import DEFINITIONS
from core.viz.style import layer_name
from ui.errors import show_error
from ui.figures import figure, plot, table_downloads
from ui.results_cache import describe_once, read_once, stamp
from ui.tables import ordered_stacks, show_table


def _label(folder: Path) -> str:
    try:
        meta = pd.read_parquet(folder / "meta.parquet").iloc[0]
    except (OSError, ValueError, IndexError):
        return folder.parent.name
    where = "bundled" if folder.parent == BUNDLED_STUDIES else folder.parent.name
    series = len(json.loads(meta.checkpoints))
    return (f"{meta.model} · {int(meta.tokens):,} tokens · top-{int(meta.top_k)}"
            + (f" · {series} checkpoints" if series else "") + f" · {where}")


def _olmoe(s: FieldStudies, key: tuple, stack: str, series: list) -> None:
    if series:
        top1 = st.toggle("Top-1 agreement instead of top-k saturation", key="st_top1")
        plot(figure(("st_sat", key, stack, top1), lambda: sp.saturation_curve(s.saturation, stack, top1)), key="st-saturation")
        st.caption(DEFINITIONS["saturation"])
    co = s.coactivation[s.coactivation["stack"] == stack]
    if len(co):
        layers = sorted(int(b) for b in co.layer.unique())
        layer = st.selectbox("Layer", layers, key="st_co_layer", format_func=layer_name)
        definition = st.radio("Pairs counted", [ADJACENT, ALL_PAIRS], horizontal=True, key="st_co_def")
        plot(figure(("st_co", key, stack, layer, definition),
                    lambda: sp.coactivation_heatmap(co, stack, layer, definition)), key="st-coactivation")
        st.caption(DEFINITIONS["coactivation"])
    else:
        st.info("Co-activation needs a top-k model with k > 1; this one routes each token to one expert.")
    counting = st.radio("Vocabulary specialisation counts", [FIRST_CHOICE, CHOSEN_SET], horizontal=True,
                        key="st_vocab")
    normalised = st.toggle("Normalised (p − uniform) / (1 − uniform)", key="st_norm")
    plot(figure(("st_vocab", key, stack, counting, normalised),
                lambda: sp.vocabulary_bars(s.vocabulary, stack, counting, normalised)), key="st-vocabulary")
    st.caption(DEFINITIONS["vocabulary"])
    layers = sorted(int(b) for b in s.domain[s.domain["stack"] == stack].layer.unique())
    if layers:
        layer = st.selectbox("Domain layer", layers, key="st_dom_layer", format_func=layer_name)
        of_tokens = st.radio("Domain share", ["of its assignments (uniform 1/E)", "of its tokens (uniform k/E)"],
                             horizontal=True, key="st_dom").startswith("of its tokens")
        plot(figure(("st_dom", key, stack, layer, of_tokens),
                    lambda: sp.domain_specialisation_heatmap(s.domain, stack, layer, of_tokens)), key="st-domain")
        st.caption(DEFINITIONS["domain"])


def _mixtral(s: FieldStudies, stack: str) -> None:
    table = sp.consecutive_table(s.consecutive, stack)
    shown = table.map(lambda v: "—" if pd.isna(v) else f"{v:.1f}")
    shown.columns = [f"{what} · {str(domain).replace('_', ' ')}" for what, domain in shown.columns]
    show_table(shown.reset_index(names="layer"), index="layer", static=True)
    st.caption(DEFINITIONS["consecutive"] + " Values in %; the chance row is what random routing would give.")
    table_downloads(table.reset_index(names="layer"), "mixtral_table5")


def _openmoe(s: FieldStudies, key: tuple, stack: str, series: list) -> None:
    width = st.select_slider("Position bin (tokens)", [1, 2, 4, 8, 16, 32], value=8, key="st_bin")
    plot(figure(("st_drop", key, stack, width), lambda: sp.drop_curve(s.drops, stack, width)), key="st-drops")
    st.caption(DEFINITIONS["drops"])
    plot(figure(("st_ctx", key, stack), lambda: sp.context_bars(s.context, stack)), key="st-context")
    st.caption(DEFINITIONS["context"])
    if series:
        plot(figure(("st_early", key, stack), lambda: sp.early_learning_curve(s.early, stack)), key="st-early")
        st.caption(DEFINITIONS["early"])
        tokens = list(dict.fromkeys(s.early_tokens.token))
        if tokens:
            token = st.selectbox("One frequent token", tokens, key="st_token")
            plot(figure(("st_token", key, stack, token), lambda: sp.token_learning_curve(s.early_tokens, stack, token)),
                 key="st-early-token")
    else:
        st.info("Early routing learning needs a checkpoint series: `python -m core corpus … --checkpoints …`, then "
                "`python -m core studies RUN`.")


def _pathways(s: FieldStudies, key: tuple, stack: str) -> None:
    if s.balance.empty:
        st.info("This result predates pathways, balance and margins: run `python -m core studies` on its corpus run "
                "again.")
        return
    if len(s.pathways[s.pathways["stack"] == stack]):
        show_table(pp.pathways_table(s.pathways, stack), index="layers", static=True)
        st.caption(DEFINITIONS["pathways"])
        plot(figure(("st_flow", key, stack), lambda: pp.flow_sankey(s.transitions, stack)), key="st-flow")
        st.caption(DEFINITIONS["flow"])
    else:
        st.info("Pathways need at least two sparse layers in a stack.")
    show_table(pp.balance_table(s.balance, stack), index="layer", static=True)
    st.caption(DEFINITIONS["balance"])
    table_downloads(s.balance[s.balance["stack"] == stack], "balance")
    if len(s.consistency):
        plot(figure(("st_consistency", key, stack), lambda: pp.consistency_figure(s.consistency, stack)),
             key="st-consistency")
        st.caption(DEFINITIONS["consistency"])
        table_downloads(s.consistency[s.consistency["stack"] == stack], "routing_consistency")
    if len(s.local_consistency):
        st.caption(DEFINITIONS["local_consistency"])
        table_downloads(s.local_consistency[s.local_consistency["stack"] == stack], "routing_consistency_authors")
    if len(s.margins):
        plot(figure(("st_margin", key, stack), lambda: pp.margin_histogram(s.margins, stack)), key="st-margins")
        st.caption(DEFINITIONS["margins"])
    else:
        st.info("This corpus run predates decision margins: route it again to see them.")


@st.fragment
def studies_view() -> None:
    """Choosing a result, stack or option reruns only this view."""
    st.subheader("Studies: the field's routing analyses")
    folders = studies_folders(corpus_root())
    if not folders:
        st.info("No studies yet: `python -m core studies RUN` on a corpus run (`python -m core corpus`).")
        return
    choice = st.selectbox("Studies result", [str(f) for f in folders], key="st_result",
                          format_func=lambda f: describe_once("studies", f, _label))
    try:
        s = read_once("studies", Path(choice), FieldStudies.load_from)
    except RoutingLensError as err:
        show_error(err)
        return
    meta, key = s.meta.iloc[0], (choice, stamp(Path(choice)))
    series = json.loads(meta.checkpoints)
    st.caption(f"{meta.model}: {int(meta.tokens):,} tokens; {int(meta.experts)} experts, top-{int(meta.top_k)}; "
               f"capacity: {meta.capacity}; checkpoints: {', '.join(c['label'] for c in series) or 'none'}.")
    stacks = ordered_stacks(s.vocabulary["stack"])  # the same order, and the same default, as the page's top
    top = st.session_state.get("xp_stack")
    # keyed by the top's choice: choosing a stack at the top opens the Studies on it too; changing it here stays here
    stack = st.radio("Stack", stacks, horizontal=True, key=f"st_stack_{top}",
                     index=stacks.index(top) if top in stacks else 0) if len(stacks) > 1 else stacks[0]
    olmoe, mixtral, openmoe, paths = st.tabs(["OLMoE", "Mixtral", "OpenMoE", "Pathways, balance, consistency"])
    with olmoe:
        _olmoe(s, key, stack, series)
    with mixtral:
        _mixtral(s, stack)
    with openmoe:
        _openmoe(s, key, stack, series)
    with paths:
        _pathways(s, key, stack)
