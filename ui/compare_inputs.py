"""Compare's inputs: a WiC preset or two typed sentences, the word (auto-detected when left empty) and, where it
occurs more than once, which occurrence. The address holds them, so a comparison can be shared as a link."""
from __future__ import annotations

import streamlit as st

from core.settings import COMPARE_SENTENCE_MAX_CHARS, COMPARE_WORD_MAX_CHARS
from core.studies.word_pair import Preset, shared_words, wic_presets
from core.tracing.words import find_word
from ui.safe_text import as_text


@st.cache_data(show_spinner=False)
def _presets() -> list[Preset]:
    return wic_presets()


def pair_inputs(model: str) -> tuple[str, str, str, tuple[int, int]] | None:
    """(sentence 1, sentence 2, word, which occurrence in each), or None after saying what is missing."""
    presets = _presets()
    qp = st.query_params
    # a link's text is capped like typed text (the same limits as the inputs below)
    defaults = {"s1": qp.get("s1", presets[0].sentence1)[:COMPARE_SENTENCE_MAX_CHARS],
                "s2": qp.get("s2", presets[0].sentence2)[:COMPARE_SENTENCE_MAX_CHARS],
                "w": qp.get("w", presets[0].word)[:COMPARE_WORD_MAX_CHARS]}
    for key, value in defaults.items():
        st.session_state.setdefault(f"cmp_{key}", value)

    def apply_preset() -> None:
        chosen = next((p for p in presets if p.label == st.session_state["cmp_preset"]), None)
        if chosen:
            st.session_state.update(cmp_s1=chosen.sentence1, cmp_s2=chosen.sentence2, cmp_w=chosen.word)

    st.selectbox("Preset (ambiguous words from WiC)", [p.label for p in presets], index=None,
                 placeholder="Choose a preset…", key="cmp_preset", on_change=apply_preset)
    s1 = st.text_input("Sentence 1", key="cmp_s1", max_chars=COMPARE_SENTENCE_MAX_CHARS)
    s2 = st.text_input("Sentence 2", key="cmp_s2", max_chars=COMPARE_SENTENCE_MAX_CHARS)
    candidates = shared_words(s1, s2)
    word = st.text_input("Word to compare", key="cmp_w", max_chars=COMPARE_WORD_MAX_CHARS,
                         help="Leave empty to pick a word that occurs in both sentences.").strip()
    if not word and candidates:
        word = candidates[0]
        st.caption(f"Auto-detected word: **{as_text(word)}** (occurs in both sentences).")
    st.query_params.update({"s1": s1, "s2": s2, "w": word, "model": model})
    if not model:
        return None
    if not s1.strip() or not s2.strip():
        st.info("Type two sentences.")
        return None
    if not word:
        st.info("Type the word to compare (no word occurs in both sentences).")
        return None
    picks = []
    for i, sentence in enumerate((s1, s2), start=1):
        occ = find_word(sentence, word)
        if not occ:
            st.warning(f"“{as_text(word)}” does not occur in sentence {i}. Words in both sentences: "
                       + (as_text(", ".join(candidates[:10])) if candidates else "none") + ".")
            return None
        picks.append(st.radio(f"“{as_text(word)}” occurs {len(occ)} times in sentence {i}: which one?", range(len(occ)),
                              format_func=lambda k, o=occ, s=sentence: f"#{k + 1}: …{as_text(s[max(0, o[k][0] - 20):o[k][1] + 20])}…",
                              horizontal=True, key=f"cmp_occ{i}") if len(occ) > 1 else 0)
    return s1, s2, word, (picks[0], picks[1])
