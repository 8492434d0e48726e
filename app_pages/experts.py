"""Experts: what does each expert take over a whole corpus, and does a word always go to the same one?"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.errors import RoutingLensError
from core.lens import ExpertStats, stats_folders, summary, word_specialisation
from core.lens import stats_label as label
from core.viz import expert_plots as xp
from core.viz.style import layer_name
from ui.ablation_panel import ablation_panel
from ui.errors import show_error
from ui.figures import figure, plot, table_downloads
from ui.results_cache import describe_once, read_once, stamp
from ui.safe_text import as_text
from ui.studies_view import studies_view
from ui.tables import show_table

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

stacks = list(dict.fromkeys(stats.load["stack"]))
stack = st.radio("Stack", stacks, horizontal=True, key="xp_stack") if len(stacks) > 1 else stacks[0]
layers = sorted(int(b) for b in stats.load[stats.load["stack"] == stack].layer.unique())
plot(figure(("xp_load", source, stack), lambda: xp.load_heatmap(stats.load, stack, experts)), key="xp-load")
layer = st.segmented_control("Sparse layer (block)", layers, default=layers[0], key="xp_layer",
                              format_func=layer_name) or layers[0]
if stats.domain.domain.nunique() > 1:
    plot(figure(("xp_domain", source, stack, layer),
                lambda: xp.domain_heatmap(stats.domain, stats.load, stack, layer, experts)), key="xp-domain")

@st.fragment
def one_expert(stats: ExpertStats, source: tuple, stack: str, layer: int, experts: int) -> None:
    """Choosing the expert reruns only this part of the page."""
    st.subheader("One expert")
    expert = st.selectbox("Expert", range(experts), format_func=lambda e: f"e{e}", key="xp_expert")
    top = stats.top_tokens[(stats.top_tokens["stack"] == stack) & (stats.top_tokens.layer == layer)
                           & (stats.top_tokens.expert == expert)]
    if len(top):
        shown = top.assign(**{"share of the expert": top.share_of_expert.map("{:.1%}".format),
                              "of the token's uses": top.share_of_token.map("{:.0%}".format)})
        show_table(shown[["token", "n", "share of the expert", "of the token's uses", "examples"]], index="token",
                   static=True)
        st.caption(f"e{expert} took {int(top.expert_tokens.iloc[0]):,} tokens at this layer; “of the token's uses” is "
                   "the share of all the token's occurrences that came here.")
    plot(figure(("xp_classes", source, stack, layer, expert),
                lambda: xp.class_profile(stats.classes, stack, layer, expert)), key="xp-classes")


@st.fragment
def one_word(stats: ExpertStats, source: tuple, stack: str, layer: int, experts: int) -> None:
    """Typing a word reruns only this part of the page."""
    st.subheader("One word across the corpus")
    word = st.text_input("Token or word", st.query_params.get("token", "bank")[:40], key="xp_token",
                         max_chars=40).strip().lower()
    if word:
        found = stats.token_routes[(stats.token_routes.token == word) & (stats.token_routes["stack"] == stack)]
        if found.empty:
            st.info(f"“{as_text(word)}” is not among this corpus's tokens seen at least 3 times (a word the tokenizer splits "
                    "appears under its pieces).")
        else:
            plot(figure(("xp_token", source, word, stack, layer),
                        lambda: xp.token_routing(stats.token_routes, word, stack, layer, experts)), key="xp-token")
            row = word_specialisation(stats, word, stack, layer)
            if row is not None:
                total = int(found[found.layer == layer].n.sum())
                st.markdown(f"Its most frequent spelling, “{as_text(row.token)}”: **{row.top_share:.0%}** of its "
                            f"{int(row.occurrences):,} occurrences (of the {total:,} the chart counts over every "
                            f"spelling) go to e{int(row.top_expert)} (95% CI {row.ci_low:.0%}–{row.ci_high:.0%}); "
                            "the closer to 100%, the less its routing depends on context.")


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
