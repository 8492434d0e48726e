"""Compare: does one word route differently in two sentences?"""
from __future__ import annotations

import re

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core.lens import Lens, scale_note
from core.viz import compare_plots, pathway_plots
from ui.compare_inputs import pair_inputs
from ui.decoder_read import NOTES, decoder_read_control
from ui.errors import show_error
from ui.figures import figure, plot
from ui.intervention_panel import swap_panel
from ui.model_cache import cached_trace, model_kind
from ui.pair_controls import pair_controls_panel
from ui.pair_reference import model_classics, model_reference
from ui.precision import precision_notice
from ui.safe_text import as_text
from ui.second_model import second_model_picker
from ui.sidebar import sidebar

st.title("Compare: one word, two contexts")
tracer = sidebar("context")
if tracer is not None:
    st.caption(model_kind(tracer.loaded))
inputs = pair_inputs(tracer.loaded.name if tracer else "")
if tracer is None or inputs is None:
    st.stop()
s1, s2, word = inputs.s1, inputs.s2, inputs.word
# the Lens over this server's shared model, traces and saved references: a view recomputes nothing already seen
lens = Lens(tracer, decoder_read=decoder_read_control(tracer.loaded.adapter, "cmp_decoder_read"), memo=cached_trace,
            references=lambda model: model_reference(model)[0], classic=model_classics)
try:
    pair = lens.compare(s1, s2, word, inputs.occurrences, control=inputs.control or None,
                        control_occurrence=inputs.control_occurrence)
except Exception as err:  # noqa: BLE001
    show_error(err)
    st.stop()
result, spans = pair.stacks, pair.spans
precision_notice(tracer, result, lambda: lens.word_pair(s1, s2, spans, "float32"))

second = None
if (other := second_model_picker(tracer.loaded.name)) is not None:
    try:
        second = (other, lens.beside(other).word_pair(s1, s2, spans))
    except Exception as err:  # noqa: BLE001
        show_error(err)

headline = pair.headline().replace(f"*{word}*", f"*{as_text(word)}*")
if headline:  # the answer first, in plain words; the numbers follow
    st.success(headline, icon=":material/lightbulb:")
for ordering in pair.ordering[:1]:
    st.caption(ordering.evidence())
cols = st.columns(len(result) + len(pair.control_jss) + (len(second[1]) if second else 0))
if tracer.loaded.adapter.context_note(word):
    st.caption(tracer.loaded.adapter.context_note(word))
for col, (stack, comp) in zip(cols, result.items()):
    col.metric(f"{stack} JSS, sentence 1 ⇄ 2" if pair.control else f"{stack} JSS (mean over routed layers)",
               f"{comp.mean_jss:.3f}",
               help="Jensen–Shannon similarity of the two routing distributions, mean over the sparse layers: "
                    "1 = routed identically.")
for col, (stack, value) in zip(cols[len(result):], pair.control_jss.items()):
    col.metric(f"{stack} JSS, sentence 1 ⇄ control", f"{value:.3f}",
               help="The same word where it keeps its meaning: what a change of sentence alone does.")
# everything this pair's figures are drawn from: built once per process, whoever opens the same link
key = (tracer.loaded.name, str(tracer.loaded.dtype), s1, s2, tuple(spans[0]), tuple(spans[1]), lens.decoder_read)
for verdict in pair.verdicts:
    st.markdown(f"**Is that a lot?** {verdict.sentence()}")
for placement in pair.placements:
    st.markdown(f"**Among this model's WiC pairs** (long sentences that differ in many words, so routed less alike "
                f"across the board): {placement.sentence()}")
if pair.placements:
    _, densities, source = model_reference(tracer.loaded.name)
    plot(figure(("pair_on_reference", key, source),
                lambda: compare_plots.pair_on_reference(densities, pair.mean_jss, tracer.loaded.name)), key="cmp-reference")
else:
    st.caption(f"Run **Benchmarks** for {tracer.loaded.name} to see where this pair sits among its own WiC pairs "
               "(same and different meaning).")
curves = {s: (c.layers, c.jss) for s, c in result.items()}
if pair.control and not second:  # the control's line beside the partner's: the contrast, layer by layer
    curves = {f"{s} · 1 ⇄ 2": v for s, v in curves.items()}
    curves |= {f"{s} · 1 ⇄ control (same meaning)": (c.layers, c.jss) for s, c in pair.control.items()}
if second:
    other, other_result = second
    for col, (stack, comp) in zip(cols[len(result) + len(pair.control_jss):], other_result.items()):
        col.metric(f"{other.loaded.name} · {stack} JSS", f"{comp.mean_jss:.3f}",
                   help=f"The same word through {other.loaded.name} ({other.loaded.architecture}).")
    curves = {f"{tracer.loaded.name} · {s}": v for s, v in curves.items()}
    curves.update({f"{other.loaded.name} · {s}": (c.layers, c.jss) for s, c in other_result.items()})
    if note := scale_note({m.loaded.name: m.loaded.adapter.scoring for m in (tracer, other)}):
        st.caption(note)
# the unrelated-words yardstick is the first model's own: beside a second model's lines only 1.0 is common to both
marks = {k: v for k, v in pair.yardsticks.items() if v == 1.0} if second else pair.yardsticks
plot(figure(("jss_by_layer", key, second[0].loaded.name if second else None, tuple(marks.items()), inputs.control),
            lambda: compare_plots.jss_by_layer(curves, by_position=second is not None, references=marks)),
     key="cmp-jss")
if pair.strip.word.nunique() > 1:
    st.caption("Context effect on every word both sentences share: the lower the dot, the more the context changed "
               "how the word was routed. Below the dashed line a word is routed more differently than 9 in 10 short "
               "sentence pairs where a word keeps its meaning (the verdict's reference); function words such as "
               "*the* often are, because their routing follows the words around them.")
    plot(figure(("context_strip", key, tuple(pair.strip_floor.items())),
                lambda: compare_plots.context_strip_figure(pair.strip, pair.strip_floor)), key="cmp-strip")
if "decoder" in result and not tracer.loaded.adapter.causal:
    st.caption(NOTES[lens.decoder_read] + ".")
pair_controls_panel(lens, s1, s2, spans)
swap_panel(tracer, s1, s2, word)
for stack, comp in result.items():
    plot(figure(("compare_distributions", key, stack), lambda c=comp, s=stack: compare_plots.compare_distributions(
        c.p1, c.p2, c.layers, s, top_k=tracer.loaded.top_k)), key=f"cmp-{stack}")
    if len(comp.layers) > 1:
        plot(figure(("word_paths", key, stack), lambda c=comp, s=stack: pathway_plots.word_paths_sankey(
            c.p1, c.p2, c.layers, s, as_text(word))), key=f"cmp-path-{stack}")
if re.fullmatch(r"[\w'’-]{1,40}", word):  # a word the corpus statistics can hold, never echoed otherwise
    try:
        st.page_link("app_pages/experts.py", label=f"How is “{word}” routed across a whole corpus?",
                     icon=":material/hub:", query_params={"token": word.lower()})
    except StreamlitAPIException:  # the page run alone (no navigation holds Experts): no link
        pass
st.caption("Share this comparison: the page address holds the sentences, the word and the model.")
