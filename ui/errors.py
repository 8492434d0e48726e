"""How a page shows a failure: the user-facing message, never a traceback."""
from __future__ import annotations

import streamlit as st

from core.errors import RoutingLensError


def show_error(err: Exception) -> None:
    if isinstance(err, RoutingLensError):
        st.error(str(err))
    else:
        st.error(f"Something went wrong: {type(err).__name__}: {err}. Try another input; if it persists, report it.")
