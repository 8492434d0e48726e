"""Compare's "router or representation?" yardsticks for the pair on screen: the cosine of the word's two router
inputs beside its JSS, and where that JSS sits among random routers on the same inputs. Asked for with a toggle
(it traces the two sentences again with the router inputs), then held once per process for every visitor."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.lens import Lens
from core.viz.style import layer_name
from ui.tables import show_table


@st.cache_resource(show_spinner="Tracing the router inputs…", max_entries=64)
def _controls(model: str, dtype: str, s1: str, s2: str, spans: tuple, read: str, _lens: Lens) -> pd.DataFrame:
    return _lens.pair_controls(s1, s2, spans)


@st.fragment
def pair_controls_panel(lens: Lens, s1: str, s2: str, spans: tuple) -> None:
    """Toggling reruns only this part of the page."""
    if not lens.tracer.adapter.has_router:
        return
    if not st.toggle("Router or representation? Compare with the router's input and with random routers",
                     key="cmp_controls"):
        return
    loaded = lens.tracer.loaded
    frame = _controls(loaded.name, str(loaded.dtype), s1, s2, tuple(map(tuple, spans)), lens.decoder_read, lens)
    shown = frame.assign(**{"layer": frame.layer.map(layer_name),
                            "routing JSS": frame.jss.map("{:.3f}".format),
                            "cosine of the router inputs": frame.cosine.map("{:.3f}".format),
                            "random routers' mean JSS": frame.random_jss_mean.map("{:.3f}".format),
                            "random routers below it": frame.random_lower_share.map("{:.0%}".format)})
    show_table(shown[["stack", "layer", "routing JSS", "cosine of the router inputs", "random routers' mean JSS",
                      "random routers below it"]], static=True)
    st.caption("A router reads one hidden state, so the word's routing can differ between the sentences only as much "
               "as its router input does (the cosine). Random routers with the trained router's shape and row norms, "
               "on the same two inputs, show what routing without learning gives: when few of them route the two "
               "occurrences less alike than the trained router does, the router separates these contexts more than "
               "chance. Definitions: docs/definitions.md.")
