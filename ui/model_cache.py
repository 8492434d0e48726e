"""One model copy per server process (st.cache_resource), traces cached (st.cache_data + the core disk cache)."""
from __future__ import annotations

import threading

import streamlit as st

from core.errors import RoutingLensError
from core.settings import asked_dtype, model_memory_budget
from core.tracing.cache import TraceCache
from core.tracing.routing_trace import RoutingTrace
from core.tracing.tracer import Tracer
from core.types import DecoderRead, DType, Stack
from ui.errors import scrub


@st.cache_resource(show_spinner="Loading the model (once per server process)…", max_entries=16)
def _load(name: str, dtype: str | None) -> Tracer:
    """Shared by all sessions; `Tracer` serialises tokenisation and forward passes with a lock."""
    from core.models.loading import load_model

    return Tracer(load_model(name, dtype=dtype), cache=TraceCache())


_resident: dict[tuple[str, str | None], int] = {}  # models held by _load → their weights' bytes
_resident_lock = threading.Lock()


def resident_models() -> dict[tuple[str, str | None], int]:
    with _resident_lock:
        return dict(_resident)


def get_tracer(name: str, dtype: DType | None = None) -> Tracer:
    """`dtype` None: the server's precision (ROUTING_LENS_DTYPE, else the precision policy: float32 where it fits),
    resolved before the resource cache so that each precision is its own entry. Models in memory are bounded by
    a memory budget (ROUTING_LENS_MODEL_MEMORY_GIB): a model that would not fit beside the others evicts them
    (sessions still holding one finish with it)."""
    key = (name, asked_dtype(dtype))
    tracer = _load(*key)
    with _resident_lock:
        if key not in _resident:
            size = int(sum(p.numel() * p.element_size() for p in tracer.loaded.model.parameters()))
            if _resident and sum(_resident.values()) + size > model_memory_budget():
                _load.clear()
                _resident.clear()
                tracer = _load(*key)  # the one model now held
            _resident[key] = size
    return tracer


@st.cache_data(show_spinner=False, max_entries=512)
def _trace(name: str, text: str, stacks: tuple[Stack, ...], decoder_read: DecoderRead, dtype: str | None
           ) -> RoutingTrace:
    return get_tracer(name, dtype).trace([text], stacks=stacks, decoder_read=decoder_read)[0]


def cached_trace(name: str, text: str, stacks: tuple[Stack, ...], decoder_read: DecoderRead = "input",
                 dtype: DType | None = None) -> RoutingTrace:
    """One text's trace, memoised per (model, text, stacks, reading, precision)."""
    return _trace(name, text, stacks, decoder_read, asked_dtype(dtype))


@st.cache_resource(show_spinner="Checking that the model does what its router says…", max_entries=16)
def _self_check(name: str, dtype: str, _tracer: Tracer):
    from core.tracing.self_check import check_tracer

    return check_tracer(_tracer)


def model_self_check(tracer: Tracer):
    """The model's self-check (core.tracing.self_check), run once per process per model and precision."""
    return _self_check(tracer.loaded.name, str(tracer.loaded.dtype), tracer)


def model_kind(loaded) -> str:
    """The page's one sentence on what the model is (real router, demo, or MoE-fied)."""
    return loaded.adapter.kind_sentence(loaded.entry.is_demo)


def try_load(name: str) -> Tracer | None:
    """Load (or fetch from the resource cache) a model; on failure show the message in the sidebar, return None."""
    try:
        return get_tracer(name)
    except RoutingLensError as err:
        st.sidebar.error(scrub(str(err)))
    except Exception as err:  # noqa: BLE001 - never a traceback in the app
        st.sidebar.error(scrub(f"Could not load {name!r}: {type(err).__name__}: {err}"))
    return None
