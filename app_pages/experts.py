"""Experts: what does each expert take over a whole corpus, and does a word always go to the same one?"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.errors import RoutingLensError
from core.lens import ExpertStats, stats_folders, summary
from core.lens import stats_label as label
from core.viz import expert_plots as xp
from core.viz.style import layer_name
from ui.ablation_panel import ablation_panel
from ui.errors import show_error
from ui.expert_views import one_expert, one_word
from ui.figures import figure, plot, table_downloads
from ui.results_cache import describe_once, read_once, stamp
from ui.studies_view import studies_view
from ui.tables import ordered_stacks, show_table

st.title("Experts: what each expert takes over a corpus")
st.caption("Every token of a corpus routed through every sparse layer (`python -m core corpus`), then counted "
           "(`python -m core experts`): expert load, domain and vocabulary specialisation, token classes, examples "
           "in context. Definitions: docs/corpus.md.")


folders = stats_folders()
if not folders:
    st.info("No corpus statistics yet: run `python -m core corpus --model demo-switch-8 --input nltk:brown --out "
            "cache/corpus/brown` and then `python -m core experts cache/corpus/brown`.")
    st.stop()
choice = st.selectbox("Corpus result", [str(f) for f in folders], key="xp_result",
                      format_func=lambda f: describe_once("corpus", f, label))
try:
    source = (choice, stamp(Path(choice)))  # the statistics' figures: built once per process
    stats = read_once("corpus", Path(choice), ExpertStats.load_from)
except RoutingLensError as err:
    show_error(err)
    st.stop()
meta = stats.meta.iloc[0]
experts, top_k = int(meta.experts), int(meta.top_k)
st.caption(f"{meta.model}: {int(meta.tokens):,} tokens, {int(meta.rows):,} token-layer rows, {int(meta.domains)} "
           f"domains; {experts} experts, top-{top_k}.")

stacks = ordered_stacks(stats.load["stack"])
stack = st.radio("Stack", stacks, horizontal=True, key="xp_stack") if len(stacks) > 1 else stacks[0]
layers = sorted(int(b) for b in stats.load[stats.load["stack"] == stack].layer.unique())
plot(figure(("xp_load", source, stack), lambda: xp.load_heatmap(stats.load, stack, experts)), key="xp-load")
layer = st.segmented_control("Sparse layer (block)", layers, default=layers[0], key="xp_layer",
                              format_func=layer_name) or layers[0]
if stats.domain.domain.nunique() > 1:
    plot(figure(("xp_domain", source, stack, layer),
                lambda: xp.domain_heatmap(stats.domain, stats.load, stack, layer, experts)), key="xp-domain")

one_expert(stats, source, stack, layer, experts)
one_word(stats, source, stack, layer, experts)
if top_k > 1 and len(stats.coactivation):
    st.subheader("Co-activation")
    plot(figure(("xp_coactivation", source, stack, layer),
                lambda: xp.coactivation_matrix(stats.coactivation, stack, layer, experts)), key="xp-coactivation")
ablation_panel(stats, str(meta.model), stack, layer)
st.subheader("Expert paths across layers")
st.caption("Between consecutive sparse layers: the share of tokens whose next expert is its current one's most "
           "frequent successor (chance = 1/E).")
show_table(stats.paths[stats.paths["stack"] == stack][["layer_from", "layer_to", "consistency", "chance", "n"]],
           static=True)

st.subheader("Across models")
own = summary(stats)
others = [f for f in folders if str(f) != choice]
if others:
    second = st.selectbox("Beside another corpus result", [str(f) for f in others], index=None, key="xp_second",
                          format_func=lambda f: describe_once("corpus", f, label), placeholder="e.g. a decoder-only model, or E = 16")
    if second:
        try:
            own = pd.concat([own, summary(read_once("corpus", Path(second), ExpertStats.load_from))],
                            ignore_index=True)
        except RoutingLensError as err:
            show_error(err)
show_table(own)
table_downloads(own, "experts_summary")
studies_view()
