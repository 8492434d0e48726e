"""Writing to routing on the pages: Trace's per-token force/ban menu, Compare's "route sentence 2's word as sentence
1's", Learn's "force the token elsewhere". Every result is stated as an intervention, never shown as the model's own."""
from __future__ import annotations

import streamlit as st

from core.tracing.routing_trace import RoutingTrace
from core.tracing.tracer import Tracer
from ui.errors import show_error
from ui.expert_lens_panel import lens_with_head, pick_token_and_layer
from ui.tables import show_table

COLUMNS = {"position": "position", "token": "token", "loss_before": "loss, original", "loss_after": "loss, intervened",
           "kl": "KL from the original", "top5_before": "top-5, original", "top5_after": "top-5, intervened"}


def writable(tracer: Tracer) -> bool:
    """A model whose routing can be written and whose output can be measured (an LM head, a writable scoring)."""
    adapter = tracer.loaded.adapter
    return adapter.has_router and adapter.objective in ("next token", "span corruption")


def absent(tracer: Tracer) -> str:
    """Why a model's routing cannot be written here, in one line (empty: it can)."""
    if writable(tracer):
        return ""
    name = tracer.loaded.name
    why = ("it has no router to write to" if not tracer.loaded.adapter.has_router
           else "it has no language-model head, so there is no prediction to change")
    return (f"Not on {name}: {why}. demo-mixtral-8 and demo-switch-8 (sidebar) have it; on this model, Compare's "
            "*router or representation?* shows how much the routing follows its input instead.")


def kept(key: str, params: tuple, compute) -> None:
    """Run `compute` when its button was pressed and keep the result under `key`, so the page's other panels (and
    any rerun) leave it on screen while its parameters are unchanged."""
    if st.button("Run it", key=f"{key}-go"):
        try:
            st.session_state[f"{key}-kept"] = (params, compute())
        except Exception as err:  # noqa: BLE001 - a message, never a traceback
            st.session_state.pop(f"{key}-kept", None)
            show_error(err)
    held = st.session_state.get(f"{key}-kept")
    if held and held[0] == params:
        show_outcome(held[1])


def show_outcome(result, limit: int = 12) -> None:
    """The intervention stated first, then one sentence that reads it, then the summary and the positions that moved
    most."""
    from core.lens import outcome_reading

    said = "; ".join(result.interventions)
    st.warning(f"**{said[:1].upper()}{said[1:]}** — these are not the model's own outputs.",
               icon=":material/build:")
    st.markdown(outcome_reading(result))
    cols = st.columns(3)
    kl_help = ("KL divergence, in nats: how far the model's predicted next-word probabilities moved from the "
               "original ones, averaged over the positions. 0 = not at all; above 1 = a different prediction.")
    loss_help = ("How surprised the model is by the text's actual words (cross-entropy, nats per token): lower means "
                 "it predicted them better.")
    cols[0].metric("mean KL from the original", f"{result.mean_kl:.4f}", help=kl_help)
    cols[1].metric("loss, original", f"{result.loss_before:.3f}", help=loss_help)
    cols[2].metric("loss, intervened", f"{result.loss_after:.3f}", f"{result.loss_after - result.loss_before:+.3f}",
                   delta_color="inverse", help=loss_help)
    moved = result.frame.sort_values("kl", ascending=False).head(limit).sort_values("position")
    show_table(moved.rename(columns=COLUMNS), index="position", static=True)


def force_panel(tracer: Tracer, trace: RoutingTrace, stack: str, key: str) -> None:
    """Trace: force or ban an expert for one token at one layer, and see what the model then predicts."""
    if not writable(tracer):
        return
    with st.expander(f"{stack}: force or ban an expert for one token (an intervention)"):
        cols = st.columns(4)
        token, layer = pick_token_and_layer(cols, trace, stack, key)
        kind = cols[2].radio("Do", ["force", "ban"], key=f"{key}-kind", horizontal=True)
        expert = cols[3].selectbox("Expert", range(trace.num_experts), key=f"{key}-e", format_func="e{}".format)
        from core.tracing.interventions import Intervention

        iv = Intervention(kind, stack, (layer,), (token,), (expert,))
        kept(key, (trace.text, iv), lambda: lens_with_head(tracer.loaded.name, str(tracer.loaded.dtype)).intervene(
            trace.text, iv))


def swap_panel(tracer: Tracer, sentence1: str, sentence2: str, word: str) -> None:
    """Compare: does the routing difference matter? Route sentence 2's word as sentence 1's and measure."""
    with st.expander(f"Does the difference matter? Route “{word}” in sentence 2 as in sentence 1"):
        if why := absent(tracer):
            st.caption(why)
            return
        st.caption(f"The experts and weights of the word's tokens are copied from sentence 1, token by token, at every "
                   f"sparse layer (only “{word}”'s tokens are re-routed); the model's predictions for sentence 2 are "
                   "then compared with its own.")
        kept("cmp-swap", (sentence1, sentence2, word), lambda: lens_with_head(
            tracer.loaded.name, str(tracer.loaded.dtype)).swap(sentence1, sentence2, word))


def learn_force(tracer: Tracer, trace: RoutingTrace, stack: str, layer: int, token: int, chosen: list[int]) -> None:
    """Learn: send the followed token to another expert and see the prediction change."""
    st.subheader("6 · Send it elsewhere")
    if why := absent(tracer):
        st.caption(why)
        return
    others = [e for e in range(trace.num_experts) if e not in chosen]
    expert = st.selectbox("Force the token to expert", others, key="learn-force", format_func="e{}".format)
    st.caption("The router chose " + ", ".join(f"e{e}" for e in chosen) + f". Send “{trace.tokens[token]}” to "
               f"e{expert} instead at this layer (with the weight the router gives e{expert}) and see what the model "
               "predicts then.")
    from core.tracing.interventions import Intervention

    iv = Intervention("force", stack, (layer,), (token,), (expert,) + tuple(chosen[1:]))
    kept("learn-force", (trace.text, iv), lambda: lens_with_head(tracer.loaded.name, str(tracer.loaded.dtype)).intervene(
        trace.text, iv))
