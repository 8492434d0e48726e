"""Compare's inputs: a preset (a classic triplet, or a WiC pair) or typed sentences — a base sentence, a partner,
and optionally a same-meaning control — the word (auto-detected when left empty) and, where it occurs more than
once, which occurrence. The address holds them, so a comparison can be shared as a link. Laid out in two rows, so
the verdict below them starts on the first screen at 1280×720."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.settings import COMPARE_SENTENCE_MAX_CHARS, COMPARE_WORD_MAX_CHARS
from core.studies.word_pair import Preset, shared_words, wic_presets
from core.tracing.words import find_word
from ui.safe_text import as_text


@st.cache_data(show_spinner=False)
def _presets() -> list[Preset]:
    return wic_presets()


@dataclass(frozen=True)
class PairInputs:
    s1: str
    s2: str
    word: str
    occurrences: tuple[int, int]
    control: str = ""  # empty: no control
    control_occurrence: int = 0


def pair_inputs(model: str) -> PairInputs | None:
    """The pair (and control) to compare, or None after saying what is missing."""
    presets = _presets()
    qp = st.query_params
    # a link's text is capped like typed text (the same limits as the inputs below)
    defaults = {"s1": qp.get("s1", presets[0].sentence1)[:COMPARE_SENTENCE_MAX_CHARS],
                "s2": qp.get("s2", presets[0].sentence2)[:COMPARE_SENTENCE_MAX_CHARS],
                "w": qp.get("w", presets[0].word)[:COMPARE_WORD_MAX_CHARS],
                # a link with two sentences and no control is a pair: never the preset's control beside them
                "s3": qp.get("s3", presets[0].control if "s1" not in qp else "")[:COMPARE_SENTENCE_MAX_CHARS]}
    for key, value in defaults.items():
        st.session_state.setdefault(f"cmp_{key}", value)

    def apply_preset() -> None:
        chosen = next((p for p in presets if p.label == st.session_state["cmp_preset"]), None)
        if chosen:
            st.session_state.update(cmp_s1=chosen.sentence1, cmp_s2=chosen.sentence2, cmp_w=chosen.word,
                                    cmp_s3=chosen.control)

    top = st.columns([3, 1])
    top[0].selectbox("Preset: a classic homonym with a same-meaning control, or a pair from WiC",
                     [p.label for p in presets], index=None, placeholder="Choose a preset…", key="cmp_preset",
                     on_change=apply_preset)
    cols = st.columns(3)
    s1 = cols[0].text_input("Sentence 1", key="cmp_s1", max_chars=COMPARE_SENTENCE_MAX_CHARS)
    s2 = cols[1].text_input("Sentence 2 (another meaning?)", key="cmp_s2", max_chars=COMPARE_SENTENCE_MAX_CHARS)
    s3 = cols[2].text_input("Control: same meaning as sentence 1 (optional)", key="cmp_s3",
                            max_chars=COMPARE_SENTENCE_MAX_CHARS,
                            help="A sentence where the word means what it means in sentence 1. With it, the answer "
                                 "is the paper's own contrast: is the word routed further apart when its meaning "
                                 "changes than when it does not? Leave empty to compare two sentences alone.")
    candidates = shared_words(s1, s2)
    word = top[1].text_input("Word to compare", key="cmp_w", max_chars=COMPARE_WORD_MAX_CHARS,
                             help="Leave empty to pick a word that occurs in both sentences.").strip()
    if not word and candidates:
        word = candidates[0]
        st.caption(f"Auto-detected word: **{as_text(word)}** (occurs in both sentences).")
    st.query_params.update({"s1": s1, "s2": s2, "s3": s3, "w": word, "model": model})
    if not model:
        return None
    if not s1.strip() or not s2.strip():
        st.info("Type two sentences.")
        return None
    if not word:
        st.info("Type the word to compare (no word occurs in both sentences).")
        return None
    picks = []
    control = s3 if s3.strip() else ""
    for i, sentence in enumerate((s1, s2, control) if control else (s1, s2), start=1):
        occ = find_word(sentence, word)
        if not occ and i == 3:
            st.warning(f"“{as_text(word)}” does not occur in the control sentence: it is left out.")
            control = ""
            break
        if not occ:
            st.warning(f"“{as_text(word)}” does not occur in sentence {i}. Words in both sentences: "
                       + (as_text(", ".join(candidates[:10])) if candidates else "none") + ".")
            return None
        picks.append(st.radio(f"“{as_text(word)}” occurs {len(occ)} times in "
                              f"{'the control' if i == 3 else f'sentence {i}'}: which one?", range(len(occ)),
                              format_func=lambda k, o=occ, s=sentence: f"#{k + 1}: …{as_text(s[max(0, o[k][0] - 20):o[k][1] + 20])}…",
                              horizontal=True, key=f"cmp_occ{i}") if len(occ) > 1 else 0)
    return PairInputs(s1, s2, word, (picks[0], picks[1]), control, picks[2] if control else 0)
