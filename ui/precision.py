"""Compare's precision check: a pair shown in half precision is re-traced in float32 (cached), and the page says so
when rounding, not context, may be what the reader sees."""
from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.errors import RoutingLensError
from core.settings import PRECISION_JSS_TOLERANCE
from core.studies.word_pair import StackComparison, precision_check
from core.tracing.tracer import Tracer


def precision_notice(tracer: Tracer, shown: dict[str, StackComparison],
                     in_float32: Callable[[], dict[str, StackComparison]]) -> None:
    """A caption when the pair is already float32 or agrees with it; a warning with both values when the mean JSS
    moves by more than PRECISION_JSS_TOLERANCE or a top-1 expert flips between the precisions."""
    dtype = tracer.loaded.dtype
    if dtype == "float32":
        st.caption("Computed in float32, full precision: no rounding to allow for.")
        return
    try:
        checks = precision_check(shown, in_float32())
    except RoutingLensError as err:
        st.caption(f"Computed in {dtype}; the float32 check could not run: {err}")
        return
    except Exception:  # noqa: BLE001 - a failed check must not take the page down
        st.caption(f"Computed in {dtype}; the float32 check could not run on this server.")
        return
    moved = [c for c in checks if c.moved(PRECISION_JSS_TOLERANCE)]
    if not moved:
        st.caption(f"Computed in {dtype}; checked against float32: the same top-1 experts, and the mean JSS within "
                   f"{PRECISION_JSS_TOLERANCE}.")
        return
    lines = []
    for c in moved:
        flips = (f"; the top-1 expert flips at layer{'s' if len(c.flipped_layers) > 1 else ''} "
                 f"{', '.join(map(str, c.flipped_layers))}") if c.flipped_layers else ""
        lines.append(f"- {c.stack}: mean JSS **{c.jss_shown:.3f}** in {dtype}, **{c.jss_float32:.3f}** in float32{flips}")
    st.warning(f"Part of this difference is rounding, not context: in {dtype} the routing differs from float32.\n\n"
               + "\n".join(lines) + "\n\nTrust the float32 values.", icon="⚠️")
