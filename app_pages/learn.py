"""Learn: one token walked through a real router, step by step, with the loaded model's own numbers."""
from __future__ import annotations

import streamlit as st

from core.lens import Lens, capacity_drops, load_balance, router_step, teaching_capacity, teaching_token
from core.settings import LEARN_SENTENCE_MAX_CHARS
from core.viz import walkthrough_plots as wp
from ui.errors import show_error
from ui.figures import figure, plot
from ui.intervention_panel import learn_force
from ui.jss_demo import jss_demo
from ui.learn_text import MECHANICS, NO_ROUTER, SIGMOID_DISTRIBUTION, SIGMOID_SCORES, WITHOUT_ROUTER
from ui.model_cache import cached_trace, model_kind
from ui.safe_text import as_text
from ui.sidebar import sidebar

st.title("Learn: one token through a router")
tracer = sidebar("context")
st.markdown("A mixture-of-experts layer replaces one feed-forward block by **E experts** and a small **router**. Follow "
            "one token of your sentence through it, step by step, with the loaded model's real numbers.")


def walkthrough() -> None:
    """The five steps and the load balance, on a model with a router."""
    sentence = st.text_input("Sentence", "the cat and the dog and the bird sat on the mat by the door",
                             key="learn_text", max_chars=LEARN_SENTENCE_MAX_CHARS)
    if not sentence.strip():
        st.info("Type a sentence.")
        return
    stacks = tracer.loaded.stacks
    stack = st.radio("Stack", stacks, horizontal=True, key="learn_stack") if len(stacks) > 1 else stacks[0]
    try:
        (trace,) = Lens(tracer, memo=cached_trace).trace(sentence, stacks=(stack,))
    except Exception as err:  # noqa: BLE001 - never a traceback on the page
        show_error(err)
        return
    routing = trace.stacks[stack]
    blocks = [int(b) for b in routing.layers]
    li = blocks.index(layer := st.select_slider("Sparse layer (block)", options=blocks, key="learn_layer"))
    real = tracer.loaded.adapter.capacity
    n_tokens = len(trace.tokens)
    capacity = st.slider("Expert capacity (tokens per expert in this sentence)", 0, max(n_tokens, 1),
                         min(teaching_capacity(routing.top1[li], trace.tokens), n_tokens), key="learn_capacity",
                         help="Starts where the busiest expert overflows, so a drop is there to see"
                              + (f"; the model's own capacity is {real}." if real else "."))
    dropped = capacity_drops(routing.top1[li], capacity)
    position = st.selectbox("Token to follow", range(n_tokens), index=teaching_token(trace.tokens, dropped),
                            format_func=lambda i: f"#{i} {trace.tokens[i]}" + (" (dropped)" if dropped[i] else ""),
                            key="learn_token", help="The sentence as the model reads it: subword tokens. ▁ (or Ġ) "
                            "starts a new word, ## continues one; [CLS], [SEP] and </s> are markers the model adds.")
    step = router_step(trace, stack, li, position, capacity)
    walk = (tracer.loaded.name, str(tracer.loaded.dtype), sentence, stack, li, position, capacity)  # figures' key

    sigmoid = tracer.loaded.adapter.scoring.key.startswith("sigmoid")
    st.subheader("1 · Scores" if sigmoid else "1 · Logits")
    st.caption(SIGMOID_SCORES if sigmoid else "The router is one linear layer: it gives the token one score per "
               "expert. (Shown up to a constant: softmax ignores a shift.)")
    plot(figure(("learn_logits", walk), lambda: wp.logits_figure(step, sigmoid)), key="learn-logits")
    st.subheader("2 · From scores to a distribution" if sigmoid else "2 · Softmax")
    st.caption(SIGMOID_DISTRIBUTION if sigmoid else "Softmax exponentiates the scores and divides by their sum: the "
               "router probabilities, which Routing Lens records for every token and layer.")
    plot(figure(("learn_softmax", walk), lambda: wp.softmax_figure(step, sigmoid)), key="learn-softmax")
    st.subheader("3 · Choice")
    k = tracer.loaded.top_k
    st.caption("A Switch model sends the token to the one expert with the largest probability (top-1)." if k == 1 else
               f"This model sends the token to its top-{k} experts; the capacity queue below is Switch's rule, shown "
               "for the top-1 expert.")
    plot(figure(("learn_choice", walk), lambda: wp.choice_figure(step)), key="learn-choice")
    if note := tracer.loaded.adapter.choice_note(step.chosen):
        st.caption(note)
    st.subheader("4 · The expert's capacity queue")
    verdict = (f"“{as_text(step.token)}” is number {step.queue_rank} to choose "
               f"e{step.expert}, which has room for {capacity}: **{'dropped' if step.dropped else 'processed'}**.")
    st.markdown("Tokens queue for their expert in order (transformers: `cumsum` over the one-hot choices, kept while "
                f"`<= expert_capacity`). {verdict}")
    if not real:
        st.caption("This model has no capacity limit at inference: nothing is dropped in it. The queue shows what a "
                   "Switch-style capacity would do.")
    plot(figure(("learn_queue", walk), lambda: wp.queue_figure(step)), key="learn-queue")
    st.subheader("5 · Where the token goes next")
    plot(figure(("learn_residual", walk), lambda: wp.residual_figure(step)), key="learn-residual")
    st.caption(f"{int(dropped.sum())} of {n_tokens} tokens are dropped at this layer with capacity {capacity}. "
               "A dropped token's router probabilities are still valid: the analyses read them all the same.")
    learn_force(tracer, trace, stack, layer, position, [int(e) for e in routing.selected[li, position]])

    st.subheader("Load balancing")
    balance = load_balance(trace, stack, li)
    st.caption("Training adds an auxiliary loss, E · Σᵢ fᵢ·Pᵢ (fᵢ: share of tokens whose top-1 is expert i; Pᵢ: its "
               "mean probability), smallest when tokens spread evenly so no expert idles or overflows.")
    st.metric("Auxiliary loss for this sentence and layer", f"{balance.aux_loss:.3f}")
    plot(figure(("learn_load", walk), lambda: wp.load_figure(balance, layer)), key="learn-load")

    jss_demo(step.probs, layer, stack)


if tracer is not None:
    st.caption(model_kind(tracer.loaded))
    has_router, note = tracer.loaded.adapter.has_router, tracer.loaded.adapter.copy.learn_note
    if has_router and note:
        st.info(note)
    if has_router:
        walkthrough()
    else:
        st.info(NO_ROUTER)

with st.expander("The mechanics in words"):
    st.markdown(MECHANICS)

st.header("Routing without a router")
st.markdown(WITHOUT_ROUTER)
if tracer is not None and tracer.loaded.adapter.copy.learn_note and not tracer.loaded.adapter.has_router:
    st.info(tracer.loaded.adapter.copy.learn_note)
