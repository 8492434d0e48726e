"""The model picker every page renders first, and the model it holds.

Pages keep their model in one of two slots: "main" (Trace, Benchmarks) and "context" (Compare, Learn), each keeping
its own choice; both open on a real router (a cached google checkpoint; else the bundled Switch demo for "main" and
the MiniLM with trained routers chosen on WiC dev for "context").
"""
from __future__ import annotations

from typing import Literal

import streamlit as st

from core.models.adapters import family_info
from core.models.hub import hub_model_cached, hub_reachable
from core.models.placement import estimate_bytes, placement_hint
from core.models.registry import ModelEntry, context_default_name, default_model_name, list_models
from core.settings import PLACEMENT_CAPTION_MIN_PARAMS, env_model
from core.tracing.tracer import Tracer
from ui.deployment import NOT_OFFERED, Deployment, deployment, url_model
from ui.errors import scrub
from ui.model_cache import get_tracer, model_self_check, try_load
from ui.presenter import enter

Slot = Literal["main", "context"]
SLOT_KEYS: dict[Slot, str] = {"main": "model", "context": "model_ctx"}  # session-state keys
LOCAL_CHOICE = "Local folder…"


def default_model(slot: Slot = "main") -> str:
    """$ROUTING_LENS_MODEL, else a cached google checkpoint, else — for Compare and Learn ("context") the trained
    router that responds to context best on WiC dev (a MiniLM with routers trained afterwards), for Trace and
    Benchmarks the bundled Switch demo. Always a real router (the activation-mass MoE-fied models are never the
    default)."""
    return env_model() or (context_default_name() if slot == "context" else default_model_name())


def allowed_default(slot: Slot, dep: Deployment) -> str:
    """The slot's default where the deployment allows it, else the first allowlisted model."""
    name = default_model(slot)
    if dep.allows(name):
        return name
    allowed = [e.name for e in list_models() if dep.allows(e.name)]
    return allowed[0] if allowed else name


def describe(entry: ModelEntry) -> str:
    """The picker's line for a model: kind, size and, for Hub models, how it would be placed here."""
    info = family_info(entry.family)
    if entry.moefied and entry.routers:
        return f"{entry.name} — MiniLM, {entry.num_experts} experts, routers trained afterwards (offline, top-k sparse)"
    if entry.moefied:
        return f"{entry.name} — MiniLM MoE-fied into {entry.num_experts} experts (offline, context-sensitive)"
    if entry.from_hub:
        gib = estimate_bytes(entry.params or 0, "bfloat16") / 2**30
        approx = entry.params_approx
        size = f"{'≈' if approx else ''}{(entry.params or 0) / 1e9:.{1 if approx else 2}f}B params"
        return (f"{entry.name} — {info.picker_kind}{size}, ~{gib:.1f} GiB in bf16: {placement_hint(entry.params or 0)} "
                "(downloaded on first use)")
    if entry.is_demo:
        return f"{entry.name} — {entry.source} demo ({info.short_kind}{entry.num_experts} experts)"
    return entry.name


@st.cache_resource(ttl=300, show_spinner=False)
def _hub_up() -> bool:
    """Whether the Hub answers, asked at most every five minutes per process (an offline server without
    HF_HUB_OFFLINE would otherwise wait on the network now and then in a rerun)."""
    return hub_reachable(timeout=1.0)


def offered(entries: list[ModelEntry]) -> tuple[list[ModelEntry], list[ModelEntry]]:
    """(the models that would load now, the Hub models that would not): a Hub model is offered when its weights
    are cached or the Hub answers; the Hub is asked only when some Hub model is not cached."""
    missing = [e for e in entries if e.from_hub and not hub_model_cached(e.location)]
    if not missing or _hub_up():
        return entries, []
    return [e for e in entries if e not in missing], missing


def unloadable(name: str) -> str:
    """Why a linked model cannot be loaded here, in a few words (empty: it loads). A Hub model that is not cached
    while the Hub cannot be reached is refused without trying."""
    entry = next((e for e in list_models() if e.name == name), None)
    if entry is not None and offered([entry])[1]:  # the picker's own rule: a Hub model neither cached nor reachable
        return "it is downloaded from the Hugging Face Hub, which this server cannot reach, and it is not cached"
    try:
        get_tracer(name)
    except Exception as err:  # noqa: BLE001 - a message, never a traceback
        return scrub(str(err)).rstrip(".")
    return ""


def _captions(tracer: Tracer) -> None:
    lm = tracer.loaded
    st.caption(f"**In use:** {lm.name}  \n{lm.num_experts} experts · {lm.params / 1e6:.1f}M params · "
               f"{lm.dtype} on {lm.device}")
    if lm.placement != "single" or (lm.plan_summary and lm.params >= PLACEMENT_CAPTION_MIN_PARAMS):
        st.caption(f"**Placement:** {lm.plan_summary}")
    if lm.adapter.sidebar_note():
        st.caption(lm.adapter.sidebar_note())
    st.caption(f"**Router:** {lm.adapter.scoring.name}" + (f"; shared: {lm.adapter.shared}" if lm.adapter.shared
                                                            else ""))
    try:
        check = model_self_check(tracer)
    except Exception:  # noqa: BLE001 - a check that cannot run must not take the sidebar down
        check = None
    if check is not None and check.ok is not None:
        (st.caption if check.ok else st.warning)(
            "**Self-check:** passed — the traced experts are the ones the model dispatched." if check.ok else
             check.summary())
    if lm.entry.is_demo:
        st.caption("A tiny teaching model trained by Routing Lens — not the paper's checkpoints. "
                   + lm.adapter.copy.demo_hint)
    for note in lm.notes:
        st.caption(note)


def sidebar(slot: Slot = "main") -> Tracer | None:
    """Render the model picker and return the model of the page's slot; a model that fails to load leaves the
    previous one in use."""
    key = SLOT_KEYS[slot]
    dep = deployment()
    if key not in st.session_state:
        linked = st.query_params.get("model") if slot == "context" else None
        accepted = url_model(linked, dep)
        if linked and not accepted:
            st.info(NOT_OFFERED)
        if accepted and (why := unloadable(accepted)):  # said where the visitor looks, and the page still answers
            st.warning(f"This link asks for {accepted}, which this server cannot load now ({why}). Showing "
                       f"{allowed_default(slot, dep)} instead; the model picker in the sidebar lists what loads here.",
                       icon=":material/swap_horiz:")
            accepted = None
        st.session_state[key] = accepted or allowed_default(slot, dep)
    entries = [e for e in list_models() if dep.allows(e.name)]
    entries, unreachable = offered(entries)
    names = [e.name for e in entries]
    current = st.session_state[key]
    if not dep.allows(current):  # e.g. a choice made before the server was locked down
        current = st.session_state[key] = allowed_default(slot, dep)
    # deployment mode: the allowlist only; no local folders, no free-form Hub ids
    options = names + ([current] if current not in names else []) + ([] if dep.locked else [LOCAL_CHOICE])
    labels = {e.name: describe(e) for e in entries}
    with st.sidebar:
        st.header("Model")
        choice = st.selectbox("Mixture-of-experts model", options, index=options.index(current),
                              format_func=lambda n: labels.get(n, n), key=f"{key}_picker")
        if choice == LOCAL_CHOICE and not dep.locked:
            folder = st.text_input("Folder with config.json and weights", key=f"{key}_local_folder").strip()
            choice = folder or current
        if choice != current:
            if try_load(choice) is not None:
                st.session_state[key] = choice
            else:
                st.sidebar.warning(f"Keeping {current}.")
        if unreachable:
            st.caption(f"{len(unreachable)} more model{'s' if len(unreachable) != 1 else ''} (the google/ Switch "
                       "checkpoints and other Hub models) need the Hugging Face Hub, which this server cannot reach "
                       "now: they are listed once it can, or once their weights are in the local cache.")
        tracer = try_load(st.session_state[key])
        if tracer is not None:
            _captions(tracer)
        st.divider()
        if st.button("Presenter mode", icon=":material/slideshow:", key=f"{key}_present",
                     help="The paper's story one figure per screen, large type, ← → keys (or open the app with "
                          "?present=1)"):
            enter()
            st.rerun()  # app.py chooses the presenter page before any page runs
    return tracer
