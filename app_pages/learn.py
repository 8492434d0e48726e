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
st.markdown("A mixture-of-experts layer has **E experts** and a **router**: follow one token through it, with this "
            "model's real numbers.")


def capacity_steps(step, capacity: int, walk: tuple, n_dropped: int, n_tokens: int) -> None:
    """Steps 4 and 5 on a model with a capacity limit: the token's own queue and its fate."""
    st.subheader("4 · The expert's capacity queue")
    verdict = (f"“{as_text(step.token)}” is number {step.queue_rank} to choose "
               f"e{step.expert}, which has room for {capacity}: **{'dropped' if step.dropped else 'processed'}**.")
    st.markdown(f"Tokens queue for their expert in sentence order, and each expert takes only its first {capacity}. "
                f"{verdict}")
    plot(figure(("learn_queue", walk), lambda: wp.queue_figure(step)), key="learn-queue")
    st.subheader("5 · Where the token goes next")
    plot(figure(("learn_residual", walk), lambda: wp.residual_figure(step)), key="learn-residual")
    st.caption(f"{n_dropped} of {n_tokens} tokens are dropped at this layer with capacity {capacity}. "
               "A dropped token's router probabilities are still valid: the analyses read them all the same.")


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
    real = tracer.loaded.adapter.capacity
    n_tokens = len(trace.tokens)
    row = st.columns(3 if real else 2)  # the controls on one row, so step 1's figure is on the first screen
    li = blocks.index(layer := row[0].select_slider("Sparse layer (block)", options=blocks, key="learn_layer"))
    if real:  # a model with a capacity limit: the token's fate depends on it
        capacity = row[2].slider("Expert capacity (tokens per expert in this sentence)", 0, max(n_tokens, 1),
                                 min(teaching_capacity(routing.top1[li], trace.tokens), n_tokens),
                                 key="learn_capacity", help="Starts where the busiest expert overflows, so a drop is "
                                 f"there to see; the model's own capacity is {real}.")
    else:  # no capacity at inference: nothing is ever dropped, whatever a queue would show
        capacity = n_tokens
    dropped = capacity_drops(routing.top1[li], capacity)
    position = row[1].selectbox("Token to follow", range(n_tokens), index=teaching_token(trace.tokens, dropped),
                                format_func=lambda i: f"#{i} {trace.tokens[i]}" + (" (dropped)" if dropped[i] else ""),
                                key="learn_token", help="The sentence as the model reads it: subword tokens. ▁ (or "
                                "Ġ) starts a new word, ## continues one; [CLS], [SEP] and </s> are markers the model "
                                "adds.")
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
               f"This model sends the token to its top-{k} experts (marked below) and mixes their outputs, weighted "
               "by their probabilities.")
    plot(figure(("learn_choice", walk), lambda: wp.choice_figure(step)), key="learn-choice")
    if note := tracer.loaded.adapter.choice_note(step.chosen):
        st.caption(note)
    if real:
        capacity_steps(step, capacity, walk, int(dropped.sum()), n_tokens)
    else:
        st.subheader("4 · Every chosen expert runs")
        st.markdown(f"This model has no capacity limit at inference: “{as_text(step.token)}” is processed by "
                    f"{'its expert' if k == 1 else f'all {k} chosen experts'}, and so is every other token of the sentence.")
        with st.expander("How Switch models limit their experts (an illustration, not this model)"):
            illustration = st.slider("Capacity of the illustration (tokens per expert)", 1, max(n_tokens, 1),
                                     min(teaching_capacity(routing.top1[li], trace.tokens), n_tokens),
                                     key="learn_capacity_illustration")
            shown = router_step(trace, stack, li, position, illustration)
            st.caption(f"Switch models give each expert room for a fixed number of tokens; tokens queue for their top-1 "
                       f"expert in order, and one that finds it full is dropped (only the residual connection carries "
                       f"it on). Were this a Switch layer with room for {illustration}, “{as_text(shown.token)}” "
                       f"(number {shown.queue_rank} to choose e{shown.expert}) would be "
                       f"{'dropped' if shown.dropped else 'processed'}.")
            plot(figure(("learn_queue", walk, illustration), lambda: wp.queue_figure(shown)), key="learn-queue")
        st.subheader("5 · Where the token goes next")
        plot(figure(("learn_residual", walk), lambda: wp.residual_figure(step)), key="learn-residual")
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
    if has_router and note:  # folded: step 1's figure belongs on the first screen
        with st.expander("What this model is"):
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
