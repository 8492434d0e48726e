"""One model copy per server process (st.cache_resource), traces cached (st.cache_data + the core disk cache)."""
from __future__ import annotations

import streamlit as st

from core.errors import RoutingLensError
from core.settings import env_dtype
from core.tracing.cache import TraceCache
from core.tracing.routing_trace import RoutingTrace
from core.tracing.tracer import Tracer
from core.types import DecoderRead, DType, Stack
from ui.errors import scrub


@st.cache_resource(show_spinner="Loading the model (once per server process)…", max_entries=4)
def _load(name: str, dtype: str | None) -> Tracer:
    """Shared by all sessions; `Tracer` serialises tokenisation and forward passes with a lock."""
    from core.models.loading import load_model

    return Tracer(load_model(name, dtype=dtype), cache=TraceCache())


def get_tracer(name: str, dtype: DType | None = None) -> Tracer:
    """`dtype` None: the server's precision (ROUTING_LENS_DTYPE, else the precision policy: float32 where it fits),
    resolved before the resource cache so that each precision is its own entry."""
    return _load(name, dtype or env_dtype())


@st.cache_data(show_spinner=False, max_entries=512)
def _trace(name: str, text: str, stacks: tuple[Stack, ...], decoder_read: DecoderRead, dtype: str | None
           ) -> RoutingTrace:
    return _load(name, dtype).trace([text], stacks=stacks, decoder_read=decoder_read)[0]


def cached_trace(name: str, text: str, stacks: tuple[Stack, ...], decoder_read: DecoderRead = "input",
                 dtype: DType | None = None) -> RoutingTrace:
    """One text's trace, memoised per (model, text, stacks, reading, precision)."""
    return _trace(name, text, stacks, decoder_read, dtype or env_dtype())


def try_load(name: str) -> Tracer | None:
    """Load (or fetch from the resource cache) a model; on failure show the message in the sidebar, return None."""
    try:
        return get_tracer(name)
    except RoutingLensError as err:
        st.sidebar.error(scrub(str(err)))
    except Exception as err:  # noqa: BLE001 - never a traceback in the app
        st.sidebar.error(scrub(f"Could not load {name!r}: {type(err).__name__}: {err}"))
    return None
