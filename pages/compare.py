"""Compare: does one word route differently in two sentences?"""
from __future__ import annotations

import streamlit as st

from core import plots
from core.compare import compare_word, shared_words, wic_presets
from core.words import find_word
from ui.pages_common import current_tracer, plot
from ui.state import cached_trace, show_error

st.title("Compare: one word, two contexts")
tracer = current_tracer(context=True)


@st.cache_data(show_spinner=False)
def _presets():
    return wic_presets()


presets = _presets()
qp = st.query_params
defaults = {"s1": qp.get("s1", presets[0].sentence1), "s2": qp.get("s2", presets[0].sentence2),
            "w": qp.get("w", presets[0].word)}
for key, value in defaults.items():
    st.session_state.setdefault(f"cmp_{key}", value)


def _apply_preset() -> None:
    chosen = next((p for p in presets if p.label == st.session_state["cmp_preset"]), None)
    if chosen:
        st.session_state.update(cmp_s1=chosen.sentence1, cmp_s2=chosen.sentence2, cmp_w=chosen.word)


st.selectbox("Preset (ambiguous words from WiC)", [p.label for p in presets], index=None,
             placeholder="Choose a preset…", key="cmp_preset", on_change=_apply_preset)
s1 = st.text_input("Sentence 1", key="cmp_s1", max_chars=5000)
s2 = st.text_input("Sentence 2", key="cmp_s2", max_chars=5000)
candidates = shared_words(s1, s2)
word = st.text_input("Word to compare", key="cmp_w", max_chars=100,
                     help="Leave empty to pick a word that occurs in both sentences.").strip()
if not word and candidates:
    word = candidates[0]
    st.caption(f"Auto-detected word: **{word}** (occurs in both sentences).")

st.query_params.update({"s1": s1, "s2": s2, "w": word, "model": tracer.loaded.name if tracer else ""})
if tracer is None:
    st.stop()
if not s1.strip() or not s2.strip():
    st.info("Type two sentences.")
    st.stop()
if not word:
    st.info("Type the word to compare (no word occurs in both sentences).")
    st.stop()

spans = []
for i, sentence in enumerate((s1, s2), start=1):
    occ = find_word(sentence, word)
    if not occ:
        st.warning(f"“{word}” does not occur in sentence {i}. Words in both sentences: "
                   + (", ".join(candidates[:10]) if candidates else "none") + ".")
        st.stop()
    if len(occ) > 1:
        pick = st.radio(f"“{word}” occurs {len(occ)} times in sentence {i}: which one?", range(len(occ)),
                        format_func=lambda k, o=occ, s=sentence: f"#{k + 1}: …{s[max(0, o[k][0] - 20):o[k][1] + 20]}…",
                        horizontal=True, key=f"cmp_occ{i}")
        spans.append(occ[pick])
    else:
        spans.append(occ[0])

try:
    t1 = cached_trace(tracer.loaded.name, s1, ("encoder", "decoder"))
    t2 = cached_trace(tracer.loaded.name, s2, ("encoder", "decoder"))
    result = compare_word(t1, spans[0], t2, spans[1])
except Exception as err:  # noqa: BLE001
    show_error(err)
    st.stop()

cols = st.columns(len(result))
if tracer.loaded.family == "moefied":
    st.caption("Model: " + tracer.loaded.adapter.label + ".")
elif tracer.loaded.architecture == "decoder-only":
    st.caption(f"Model: {tracer.loaded.adapter.label}. {plots.CAUSAL_NOTE}: here only the words before "
               f"“{word}” can change its routing; words after it cannot.")
for col, (stack, comp) in zip(cols, result.items()):
    col.metric(f"{stack} JSS (mean over routed layers)", f"{comp.mean_jss:.3f}",
               help="Jensen–Shannon similarity of the two routing distributions: 1 = routed identically.")
plot(plots.jss_by_layer({s: (c.layers, c.jss) for s, c in result.items()}), key="cmp-jss")
if "decoder" in result and tracer.loaded.family == "switch":
    st.caption(plots.DECODER_NOTE + ".")
for stack, comp in result.items():
    plot(plots.compare_distributions(comp.p1, comp.p2, comp.layers, stack), key=f"cmp-{stack}")
st.caption("Share this comparison: the page address holds the sentences, the word and the model.")
