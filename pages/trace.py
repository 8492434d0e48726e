"""Trace: router probabilities of every token at every sparse layer."""
from __future__ import annotations

import streamlit as st

from core import plots
from core.tracer import DEFAULT_MAX_TOKENS
from ui.pages_common import current_tracer, plot
from ui.state import cached_trace, show_error

st.title("Trace: which expert does each token go to?")
tracer = current_tracer()
EXAMPLE = "I sat on the river bank and watched the water.\nThe bank raised its interest rates."
text = st.text_area("One sentence per line", value=EXAMPLE, height=110, max_chars=20_000, key="trace_text")
c1, c2, c3 = st.columns([2, 2, 3])
two_stacks = tracer is None or len(tracer.loaded.stacks) > 1
if two_stacks:
    stack_choice = c1.radio("Stacks", ["encoder", "decoder", "both"], index=2, horizontal=True, key="trace_stacks")
else:
    stack_choice = tracer.loaded.stacks[0]
    c1.caption(f"This model has one stack ({stack_choice})."
               + (f" {plots.CAUSAL_NOTE}." if tracer.loaded.architecture == "decoder-only" else ""))
level = c2.radio("Rows", ["word", "token"], format_func={"word": "words", "token": "subword tokens"}.get,
                 horizontal=True, key="trace_level")
top_k = tracer.loaded.top_k if tracer else 1
c3.caption((plots.DECODER_NOTE + ". " if two_stacks else "")
           + (f"Each token goes to its top-{top_k} experts: the grid colours the first, its hover and the CSV "
              "(is_selected) give all of them. " if top_k > 1 else "")
           + f"Inputs longer than {DEFAULT_MAX_TOKENS} tokens are truncated.")

sentences = [line for line in text.splitlines() if line.strip()]
if tracer is None:
    st.stop()
if not sentences:
    st.info("Type a sentence above to see how it is routed.")
    st.stop()
stacks = ("encoder", "decoder") if stack_choice == "both" else (stack_choice,)
for n, sentence in enumerate(sentences[:10]):
    try:
        trace = cached_trace(tracer.loaded.name, sentence, stacks)
    except Exception as err:  # noqa: BLE001 - shown as a message, never a traceback
        show_error(err)
        continue
    st.subheader(f"Sentence {n + 1}")
    st.text(sentence if len(sentence) < 300 else sentence[:300] + "…")
    if trace.truncated:
        st.warning(f"This input has {trace.n_input_tokens} tokens; only the first {len(trace.tokens)} were traced.")
    st.download_button("Download probabilities (CSV)",
                       lambda t=trace: "".join(t.to_frame(s, "token").to_csv(index=False) for s in t.stacks),
                       file_name=f"routing-{n + 1}.csv", mime="text/csv", key=f"csv-{n}", on_click="ignore")
    for stack in trace.stacks:
        st.markdown(f"**{stack}**")
        plot(plots.top1_grid(trace, stack, level), key=f"grid-{n}-{stack}")
        plot(plots.layer_stats(trace, stack), key=f"stats-{n}-{stack}")
        with st.expander(f"{stack}: router probabilities per layer", expanded=n == 0):
            cols = st.columns(3)
            for li in range(len(trace.stacks[stack].layers)):
                with cols[li % 3]:
                    st.plotly_chart(plots.routing_heatmap(trace, stack, li, level), width="stretch",
                                    key=f"heat-{n}-{stack}-{li}")
if len(sentences) > 10:
    st.warning(f"Showing the first 10 of {len(sentences)} sentences.")
