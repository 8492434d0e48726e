"""Compare's optional second model: the same word and sentences through another model, side by side. The choice
travels in the address (`model2`); a linked model this server does not offer is named, not loaded."""
from __future__ import annotations

import streamlit as st

from core.models.registry import list_models
from core.tracing.tracer import Tracer
from ui.deployment import NOT_OFFERED, deployment
from ui.model_cache import try_load


def second_model_picker(first: str) -> Tracer | None:
    """The second model's tracer, or None (none chosen, or it could not be loaded: the sidebar says why)."""
    dep = deployment()
    others = [e.name for e in list_models() if e.name != first and dep.allows(e.name)]
    linked = st.query_params.get("model2")
    if linked in others and "cmp_model2" not in st.session_state:
        st.session_state["cmp_model2"] = linked
    elif linked and linked not in others and "cmp_model2" not in st.session_state:
        st.info(NOT_OFFERED.replace("the default model", "the first model alone"))
    name = st.selectbox("Side by side with a second model (optional)", others, index=None, key="cmp_model2",
                        placeholder="e.g. a decoder-only model beside a Switch model",
                        help="The same word and sentences through another model: its JSS per layer joins the chart.")
    if name:
        st.query_params["model2"] = name
    elif "model2" in st.query_params:
        del st.query_params["model2"]
    if not name:
        return None
    other = try_load(name)
    if other is None:
        st.warning(f"{name} could not be loaded (the sidebar says why); showing {first} alone.")
    return other
