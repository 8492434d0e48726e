"""Trace's "what each chosen expert writes": a per-expert logit lens for one token, on demand (it loads the model's
LM head once per server process)."""
from __future__ import annotations

import streamlit as st

from core.lens import Lens
from core.tracing.routing_trace import RoutingTrace
from core.tracing.tracer import Tracer
from core.viz.style import layer_name
from ui.errors import show_error
from ui.tables import show_table


@st.cache_resource(show_spinner="Loading the model's LM head (once per server process)…", max_entries=4)
def lens_with_head(name: str, dtype: str) -> Lens:
    """One Lens per model and precision whose LM head is loaded once and shared (logit lens, interventions)."""
    return Lens(name, dtype=dtype)  # type: ignore[arg-type]


def pick_token_and_layer(cols, trace: RoutingTrace, stack: str, key: str) -> tuple[int, int]:
    """One token (as the model reads it) and one sparse layer of `stack`, in the first two of `cols`."""
    token = cols[0].selectbox("Token", range(len(trace.tokens)), key=f"{key}-tok",
                              format_func=lambda t: f"{t}: {trace.tokens[t]}")
    layer = cols[1].selectbox("Layer", [int(b) for b in trace.stacks[stack].layers], key=f"{key}-layer",
                              format_func=layer_name)
    return token, layer


def expert_lens_panel(tracer: Tracer, trace: RoutingTrace, stack: str, key: str) -> None:
    """Pick a token and a layer; the chosen experts' outputs, each read alone through the final norm and LM head."""
    adapter = tracer.loaded.adapter
    if stack != "decoder" or not adapter.has_router or adapter.objective is None:
        return
    with st.expander(f"{stack}: what each chosen expert writes (logit lens)"):
        token, layer = pick_token_and_layer(st.columns(2), trace, stack, key)
        if not st.button("Show what its experts write", key=f"{key}-go"):
            st.caption("Each chosen expert's output for this token alone, through the model's final norm and LM head: "
                       "the tokens it would promote (a per-expert logit lens).")
            return
        try:
            rows = lens_with_head(tracer.loaded.name, str(tracer.loaded.dtype)).expert_lens(trace.text, token, layer, stack)
        except Exception as err:  # noqa: BLE001 - a message, never a traceback
            show_error(err)
            return
        if rows.empty:
            st.info("This token was dropped at this layer: no expert wrote anything for it.")
            return
        table = rows.groupby(["expert", "weight"], sort=False).token.apply(lambda t: " · ".join(t)).reset_index()
        show_table(table.assign(expert=table.expert.map("e{}".format), weight=table.weight.round(3))
                   .rename(columns={"token": "tokens its output promotes, strongest first"}),
                   index="expert", static=True)
