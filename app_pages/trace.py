"""Trace: router probabilities of every token at every sparse layer."""
from __future__ import annotations

import streamlit as st

from core.lens import Lens
from core.settings import MAX_TOKENS, SENTENCE_PREVIEW_CHARS, TRACE_MAX_SENTENCES, TRACE_TEXT_MAX_CHARS
from core.viz import plots
from core.viz.export import page_zip
from core.viz.pathway_plots import BALANCE_NOTE, trace_layer_table
from ui.decoder_read import NOTES, decoder_read_control
from ui.errors import show_error
from ui.expert_lens_panel import expert_lens_panel
from ui.figures import figure, plot
from ui.intervention_panel import force_panel
from ui.model_cache import cached_trace
from ui.sidebar import sidebar
from ui.tables import show_table

st.title("Trace: which expert does each token use?")
tracer = sidebar()
# the first screen at 1280×720 ends on the first sentence's top-1 grid: a short intro, the controls on one row
intro = st.columns([5, 2], vertical_alignment="center")
intro[0].markdown("A **router** scores every token for every **expert** (a small feed-forward network) and sends it "
                  "to the best *k*. Type sentences to see each token's choice at every sparse layer.")
with intro[1]:
    st.page_link("app_pages/learn.py", label="New to routing? Learn", icon=":material/school:")
EXAMPLE = "I sat on the river bank and watched the water.\nThe bank raised its interest rates."
# address state, like Compare's: ?text=… opens the page on that text, capped like typed text
st.session_state.setdefault("trace_text", st.query_params.get("text", EXAMPLE)[:TRACE_TEXT_MAX_CHARS])
text = st.text_area("One sentence per line", height=80, max_chars=TRACE_TEXT_MAX_CHARS, key="trace_text")
if text != EXAMPLE:
    st.query_params["text"] = text
elif "text" in st.query_params:
    del st.query_params["text"]
c1, c2, c3 = st.columns(3)
adapter = tracer.loaded.adapter if tracer else None
two_stacks = adapter is None or len(adapter.stacks) > 1
if two_stacks:
    stack_choice = c1.radio("Part of the model", ["encoder", "decoder", "both"], index=2, horizontal=True,
                            key="trace_stacks", help="An encoder–decoder model (Switch) routes in both of its stacks: "
                            "the encoder reads the sentence, the decoder writes the output.")
else:
    stack_choice = adapter.stacks[0]
    note = adapter.stack_note(stack_choice)
    c1.caption(f"This model has one stack ({stack_choice})." + (f" {note}." if note else ""))
level = c2.radio("Rows", ["word", "token"], format_func={"word": "words", "token": "subword tokens"}.get,
                 horizontal=True, key="trace_level")
top_k = adapter.top_k if adapter else 1
decoder_read = "input"
decoder_note = (NOTES["input"] if len(adapter.decoder_reads) > 1 else adapter.stack_note("decoder")) \
    if adapter and two_stacks else ""
if stack_choice != "encoder" and adapter is not None and len(adapter.decoder_reads) > 1:
    with c3.expander("Where decoder routing is read"):
        decoder_read = decoder_read_control(adapter, "trace_decoder_read")
        decoder_note = NOTES[decoder_read]
        st.caption(decoder_note + ".")
elif decoder_note:
    c3.caption(decoder_note + ".")
c3.caption((f"Each token goes to its top-{top_k} experts: the grid colours the first, its hover and the CSV "
            "(is_selected) give all of them. " if top_k > 1 else "")
           + ("▁ marks a token that starts a new word. " if level == "token" else "")
           + (f"Computed in {tracer.loaded.dtype}; " if tracer else "") + f"texts over {MAX_TOKENS} tokens are cut. "
           "Colour = expert, the same in every figure; hover a cell for its probability.")

sentences = [line for line in text.splitlines() if line.strip()]
if tracer is None:
    st.stop()
if not sentences:
    st.info("Type a sentence above to see how it is routed.")
    st.stop()
tag = adapter.copy.figure_tag
stacks = ("encoder", "decoder") if stack_choice == "both" else (stack_choice,)
lens = Lens(tracer, decoder_read=decoder_read, memo=cached_trace)  # the server's shared model and traces
shown: dict = {}  # every figure below, by its key: the zip is made from it when clicked, after the page has run
traced: dict = {}  # file stem → trace, its CSV written only for the zip
for n, sentence in enumerate(sentences[:TRACE_MAX_SENTENCES]):
    try:
        (trace,) = lens.trace(sentence, stacks)
    except Exception as err:  # noqa: BLE001 - shown as a message, never a traceback
        show_error(err)
        continue
    head = st.columns([1, 5, 3], vertical_alignment="center")  # one line: which sentence, its text, its CSV
    head[0].markdown(f"**Sentence {n + 1}**")
    head[1].text(sentence if len(sentence) < SENTENCE_PREVIEW_CHARS else sentence[:SENTENCE_PREVIEW_CHARS] + "…")
    head[2].download_button("Download probabilities (CSV)", trace.to_csv, file_name=f"routing-{n + 1}.csv",
                            mime="text/csv", key=f"csv-{n}", on_click="ignore")
    if trace.truncated:
        st.warning(f"This input has {trace.n_input_tokens} tokens; only the first {len(trace.tokens)} were traced.")
    traced[f"routing-{n + 1}"] = trace
    what = (tracer.loaded.name, str(tracer.loaded.dtype), sentence, stacks, decoder_read)  # the figures' key
    for stack in trace.stacks:  # each figure's title names its stack
        shown[f"grid-{n}-{stack}"] = figure(("top1_grid", what, stack, level),
                                            lambda s=stack, t=trace: plots.top1_grid(t, s, level, tag,
                                                                                     adapter.shared))
        plot(shown[f"grid-{n}-{stack}"], key=f"grid-{n}-{stack}")
        shown[f"stats-{n}-{stack}"] = figure(("layer_stats", what, stack), lambda s=stack, t=trace: plots.layer_stats(t, s, tag))
        plot(shown[f"stats-{n}-{stack}"], key=f"stats-{n}-{stack}")
        expert_lens_panel(tracer, trace, stack, f"lens-{n}-{stack}")
        force_panel(tracer, trace, stack, f"force-{n}-{stack}")
        with st.expander(f"{stack}: balance and decision margins per layer"):
            show_table(trace_layer_table(trace, stack), index="layer", static=True)
            st.caption(BALANCE_NOTE)
        opened = f"heat-open-{n}-{stack}"  # drawn only while open: a closed one costs the server nothing
        with st.expander(f"{stack}: router probabilities per layer", expanded=n == 0, key=opened, on_change="rerun"):
            if not st.session_state.get(opened, n == 0):
                continue
            cols = st.columns(2)  # two across: each heatmap wide enough to read its expert columns
            for li in range(len(trace.stacks[stack].layers)):
                with cols[li % 2]:
                    key = f"heat-{n}-{stack}-{li}"
                    shown[key] = figure(("routing_heatmap", what, stack, li, level),
                                        lambda s=stack, i=li, t=trace: plots.routing_heatmap(t, s, i, level, tag))
                    plot(shown[key], key=key)
if len(sentences) > TRACE_MAX_SENTENCES:
    st.warning(f"Showing the first {TRACE_MAX_SENTENCES} of {len(sentences)} sentences.")
st.download_button("Download everything on this page (zip: figures as HTML + CSV, probabilities as CSV)",
                   lambda: page_zip(shown, {k: tr.to_csv() for k, tr in traced.items()}), file_name="routing-lens-trace.zip", mime="application/zip",
                   key="trace-zip", on_click="ignore", icon=":material/folder_zip:")
# (the zip's figures are read when it is clicked, after the page has run: placed last, it holds all of them)
