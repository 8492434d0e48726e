"""Experts page's two fragments: one expert's tokens and classes, one word across the corpus. Each reruns alone when
its own widget changes."""
from __future__ import annotations

import streamlit as st

from core.lens import ExpertStats, word_specialisation
from core.viz import expert_plots as xp
from ui.figures import figure, plot
from ui.safe_text import as_text
from ui.tables import show_table


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
