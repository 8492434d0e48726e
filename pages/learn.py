"""Learn: how top-1 routing, capacity, load balancing and JSS work — with the loaded model."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis.compare import capacity_drops
from core.analysis.metrics import jss
from core.settings import LEARN_SENTENCE_MAX_CHARS
from core.viz import plots
from ui.errors import show_error
from ui.model_cache import cached_trace
from ui.sidebar import sidebar

st.title("Learn: how a Switch Transformer routes tokens")
tracer = sidebar("context")

st.markdown("""
**Mixture of experts.** In a Switch Transformer every other feed-forward block is replaced by *E experts* —
E separate feed-forward networks — and a small **router**: a linear layer that gives each token one score
per expert. A softmax turns the scores into **router probabilities** (they sum to 1).

**Top-1 token choice.** Each token goes to the single expert with the highest probability, and that expert's
output is scaled by the probability. Only one expert runs per token, so the model has E times the
parameters of a dense block at about the same cost per token.

**Expert capacity and dropped tokens.** Each expert processes at most *capacity* tokens of a sequence.
Tokens are served in order; a token whose chosen expert is already full is **dropped**: it skips the
expert block and only the residual connection carries it on. Its router probabilities are still valid.

**Load balancing.** During training an auxiliary loss (E · Σᵢ fᵢ·Pᵢ, with fᵢ the share of tokens sent to expert i
and Pᵢ its mean router probability) pushes the router to spread tokens evenly, so no expert is idle or overflowing.

**Encoder and decoder.** The encoder reads the whole text; the decoder, trained to write text left to right,
sees only the tokens before the current one. Here the decoder is fed the same text (teacher forcing), and a
token's decoder routing is read where that token is the decoder's input.

**Decoder-only MoE models** (Mixtral, OLMoE, Qwen-MoE, GraniteMoE, PhiMoE, Jamba, DeepSeek-V2) have one causal stack
and send each token to its **top-k** experts (Mixtral 2 of 8, OLMoE 8 of 64), mixing their outputs with the
renormalised probabilities; there is no capacity limit at inference, so nothing is dropped. Routing Lens records the
full softmax over all experts and the k experts chosen. Because attention is causal, a token's routing depends
only on the tokens *to its left*: "with context" means *left* context, and a word at the start of a sentence is
routed exactly as if it stood alone.

**JSS.** To compare how a word is routed in two places we compare the two probability vectors with the
**Jensen–Shannon similarity**, 1 − JSD (base-2 logs): 1 for identical routing, 0 for routing to disjoint experts.
""")

if tracer is None:
    st.stop()
if tracer.loaded.adapter.copy.learn_note:
    st.info(tracer.loaded.adapter.copy.learn_note)

st.subheader("Try it: capacity and dropped tokens")
sentence = st.text_input("Sentence", "the cat and the dog and the bird sat on the mat by the door", key="learn_text",
                         max_chars=LEARN_SENTENCE_MAX_CHARS)
if not sentence.strip():
    st.info("Type a sentence.")
    st.stop()
try:
    stack = tracer.loaded.stacks[0]
    trace = cached_trace(tracer.loaded.name, sentence, (stack,))
except Exception as err:  # noqa: BLE001
    show_error(err)
    st.stop()
enc = trace.stacks[stack]
layer = st.select_slider(f"{stack.capitalize()} routed layer (block)", options=[int(b) for b in enc.layers],
                         key="learn_layer")
li = [int(b) for b in enc.layers].index(layer)
n_tokens = len(trace.tokens)
capacity = st.slider("Expert capacity (tokens per expert)", 0, max(n_tokens, 1), min(2, n_tokens), key="learn_capacity")
top1 = enc.top1[li]
dropped = capacity_drops(top1, capacity)
table = pd.DataFrame({"token": trace.tokens, "top-1 expert": [f"e{e}" for e in top1],
                      "probability": enc.token_probs[li].max(-1).round(3),
                      "status": np.where(dropped, "dropped", "processed")})
st.dataframe(table, hide_index=True, width="stretch")
real_capacity = tracer.loaded.adapter.capacity
if real_capacity:
    about = f"The loaded model's real capacity is {real_capacity}."
else:
    about = (f"The loaded model (top-{tracer.loaded.top_k}) has no capacity limit at inference, so this is "
             "hypothetical: it shows what a Switch-style capacity would do to its top-1 choices.")
st.caption(f"{int(dropped.sum())} of {n_tokens} tokens would be dropped with capacity {capacity}. " + about)

st.subheader("Try it: what JSS measures")
n_exp = tracer.loaded.num_experts
share = st.slider("Mix: how much of distribution B is a copy of A", 0.0, 1.0, 0.5, key="learn_mix")
a = enc.token_probs[li, 0].astype(float)
other = np.roll(a, max(n_exp // 2, 1))
b = share * a + (1 - share) * other
st.metric("JSS(A, B)", f"{float(jss(a, b)):.3f}")
st.plotly_chart(plots.compare_distributions(a[None], b[None], [layer], stack, names=("A", "B")), width="stretch",
                key="learn-jss")
