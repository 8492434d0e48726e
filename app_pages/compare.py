"""Compare: does one word route differently in two sentences?"""
from __future__ import annotations

import re

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core.analysis.compare import (
    UNRELATED_WORDS,
    compare_word,
    context_strip,
    shared_words,
    unrelated_words_jss,
    wic_presets,
)
from core.analysis.pair_reference import place_pair
from core.models.registry import list_models
from core.settings import COMPARE_SENTENCE_MAX_CHARS, COMPARE_WORD_MAX_CHARS
from core.tracing.words import find_word
from core.viz import compare_plots
from ui.decoder_read import NOTES, decoder_read_control
from ui.deployment import NOT_OFFERED, deployment
from ui.errors import show_error
from ui.figures import figure, plot
from ui.model_cache import cached_trace, model_kind, try_load
from ui.pair_reference import model_reference
from ui.precision import precision_notice
from ui.safe_text import as_text
from ui.sidebar import sidebar

st.title("Compare: one word, two contexts")
tracer = sidebar("context")
if tracer is not None:
    st.caption(model_kind(tracer.loaded))


@st.cache_data(show_spinner=False)
def _presets():
    return wic_presets()


presets = _presets()
qp = st.query_params
# a link's text is capped like typed text (the same limits as the inputs below)
defaults = {"s1": qp.get("s1", presets[0].sentence1)[:COMPARE_SENTENCE_MAX_CHARS],
            "s2": qp.get("s2", presets[0].sentence2)[:COMPARE_SENTENCE_MAX_CHARS],
            "w": qp.get("w", presets[0].word)[:COMPARE_WORD_MAX_CHARS]}
for key, value in defaults.items():
    st.session_state.setdefault(f"cmp_{key}", value)


def unrelated_jss(model: str, read: str) -> dict[str, float]:
    """Per stack, the mean JSS of two unrelated words each traced alone: the page's low yardstick."""
    try:
        return unrelated_words_jss(*(cached_trace(model, w, ("encoder", "decoder"), read) for w in UNRELATED_WORDS))
    except Exception:  # noqa: BLE001 - a yardstick only: the page works without it
        return {}


def _apply_preset() -> None:
    chosen = next((p for p in presets if p.label == st.session_state["cmp_preset"]), None)
    if chosen:
        st.session_state.update(cmp_s1=chosen.sentence1, cmp_s2=chosen.sentence2, cmp_w=chosen.word)


st.selectbox("Preset (ambiguous words from WiC)", [p.label for p in presets], index=None,
             placeholder="Choose a preset…", key="cmp_preset", on_change=_apply_preset)
s1 = st.text_input("Sentence 1", key="cmp_s1", max_chars=COMPARE_SENTENCE_MAX_CHARS)
s2 = st.text_input("Sentence 2", key="cmp_s2", max_chars=COMPARE_SENTENCE_MAX_CHARS)
candidates = shared_words(s1, s2)
word = st.text_input("Word to compare", key="cmp_w", max_chars=COMPARE_WORD_MAX_CHARS,
                     help="Leave empty to pick a word that occurs in both sentences.").strip()
if not word and candidates:
    word = candidates[0]
    st.caption(f"Auto-detected word: **{as_text(word)}** (occurs in both sentences).")

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
        st.warning(f"“{as_text(word)}” does not occur in sentence {i}. Words in both sentences: "
                   + (as_text(", ".join(candidates[:10])) if candidates else "none") + ".")
        st.stop()
    if len(occ) > 1:
        pick = st.radio(f"“{as_text(word)}” occurs {len(occ)} times in sentence {i}: which one?", range(len(occ)),
                        format_func=lambda k, o=occ, s=sentence: f"#{k + 1}: …{as_text(s[max(0, o[k][0] - 20):o[k][1] + 20])}…",
                        horizontal=True, key=f"cmp_occ{i}")
        spans.append(occ[pick])
    else:
        spans.append(occ[0])

decoder_read = decoder_read_control(tracer.loaded.adapter, "cmp_decoder_read")
try:
    t1 = cached_trace(tracer.loaded.name, s1, ("encoder", "decoder"), decoder_read)
    t2 = cached_trace(tracer.loaded.name, s2, ("encoder", "decoder"), decoder_read)
    result = compare_word(t1, spans[0], t2, spans[1])
except Exception as err:  # noqa: BLE001
    show_error(err)
    st.stop()

precision_notice(tracer, result, lambda: compare_word(
    cached_trace(tracer.loaded.name, s1, ("encoder", "decoder"), decoder_read, "float32"), spans[0],
    cached_trace(tracer.loaded.name, s2, ("encoder", "decoder"), decoder_read, "float32"), spans[1]))

dep = deployment()
others = [e.name for e in list_models() if e.name != tracer.loaded.name and dep.allows(e.name)]
linked2 = st.query_params.get("model2")
if linked2 in others and "cmp_model2" not in st.session_state:
    st.session_state["cmp_model2"] = linked2
elif linked2 and linked2 not in others and "cmp_model2" not in st.session_state:
    st.info(NOT_OFFERED.replace("the default model", "the first model alone"))
second_name = st.selectbox("Side by side with a second model (optional)", others, index=None, key="cmp_model2",
                           placeholder="e.g. a decoder-only model beside a Switch model",
                           help="The same word and sentences through another model: its JSS per layer joins the chart.")
if second_name:
    st.query_params["model2"] = second_name
elif "model2" in st.query_params:
    del st.query_params["model2"]
second = None
if second_name:
    other = try_load(second_name)
    if other is None:
        st.warning(f"{second_name} could not be loaded (the sidebar says why); showing {tracer.loaded.name} alone.")
    else:
        try:
            read = other.loaded.adapter.decoder_read(decoder_read)
            u1 = cached_trace(other.loaded.name, s1, ("encoder", "decoder"), read)
            u2 = cached_trace(other.loaded.name, s2, ("encoder", "decoder"), read)
            second = (other, compare_word(u1, spans[0], u2, spans[1]))
        except Exception as err:  # noqa: BLE001
            show_error(err)

cols = st.columns(len(result) + (len(second[1]) if second else 0))
if tracer.loaded.adapter.context_note(word):
    st.caption(tracer.loaded.adapter.context_note(word))
for col, (stack, comp) in zip(cols, result.items()):
    col.metric(f"{stack} JSS (mean over routed layers)", f"{comp.mean_jss:.3f}",
               help="Jensen–Shannon similarity of the two routing distributions: 1 = routed identically.")
values = {s: c.mean_jss for s, c in result.items()}
# everything this pair's figures are drawn from: built once per process, whoever opens the same link
pair = (tracer.loaded.name, str(tracer.loaded.dtype), s1, s2, tuple(spans[0]), tuple(spans[1]), decoder_read)
reference, densities, source = model_reference(tracer.loaded.name)
placements = place_pair(reference, values) if len(reference) else []
for placement in placements:
    st.markdown(f"**Is that a lot?** {placement.sentence()}")
if placements:
    plot(figure(("pair_on_reference", pair, source),
                lambda: compare_plots.pair_on_reference(densities, values, tracer.loaded.name)), key="cmp-reference")
else:
    st.caption(f"Run **Benchmarks** for {tracer.loaded.name} to see where this pair sits among its own WiC pairs "
               "(same and different meaning).")
curves = {s: (c.layers, c.jss) for s, c in result.items()}
if second:
    other, other_result = second
    for col, (stack, comp) in zip(cols[len(result):], other_result.items()):
        col.metric(f"{other.loaded.name} · {stack} JSS", f"{comp.mean_jss:.3f}",
                   help=f"The same word through {other.loaded.name} ({other.loaded.architecture}).")
    curves = {f"{tracer.loaded.name} · {s}": v for s, v in curves.items()}
    curves.update({f"{other.loaded.name} · {s}": (c.layers, c.jss) for s, c in other_result.items()})
yardsticks = {"the same sentence twice: 1.0": 1.0}
for stack, value in unrelated_jss(tracer.loaded.name, decoder_read).items():
    yardsticks[f"{stack}: two unrelated words ({' / '.join(UNRELATED_WORDS)}), {value:.3f}"] = value
plot(figure(("jss_by_layer", pair, second_name if second else None, tuple(yardsticks.items())),
            lambda: compare_plots.jss_by_layer(curves, by_position=second is not None, references=yardsticks)), key="cmp-jss")
strip = context_strip(t1, t2)
if strip.word.nunique() > 1:
    st.caption("Context effect on every word both sentences share: the lower the bar, the more the context changed "
               "how the word was routed.")
    plot(figure(("context_strip", pair), lambda: compare_plots.context_strip_figure(strip)), key="cmp-strip")
if "decoder" in result and not tracer.loaded.adapter.causal:
    st.caption(NOTES[decoder_read] + ".")
for stack, comp in result.items():
    plot(figure(("compare_distributions", pair, stack), lambda c=comp, s=stack: compare_plots.compare_distributions(
        c.p1, c.p2, c.layers, s, top_k=tracer.loaded.top_k)), key=f"cmp-{stack}")
if re.fullmatch(r"[\w'’-]{1,40}", word):  # a word the corpus statistics can hold, never echoed otherwise
    try:
        st.page_link("app_pages/experts.py", label=f"How is “{word}” routed across a whole corpus?",
                     icon=":material/hub:", query_params={"token": word.lower()})
    except StreamlitAPIException:  # the page run alone (no navigation holds Experts): no link
        pass
st.caption("Share this comparison: the page address holds the sentences, the word and the model.")
