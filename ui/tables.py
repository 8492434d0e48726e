"""Every table the app shows goes through here: human headers and one number format (core.viz.tables.readable)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.viz.tables import label, readable


def show_table(frame: pd.DataFrame, index: str | None = None, static: bool = False) -> None:
    """A readable table: `static` draws it as a plain table (short ones, where the whole table is the point),
    otherwise an interactive one the width of the page. `index`: the column its rows are named by."""
    shown = readable(frame)
    if static:
        st.table(shown.set_index(label(index)) if index else shown.style.hide(axis="index"))
    else:
        st.dataframe(shown, hide_index=True, width="stretch")


def ordered_stacks(values) -> list[str]:
    """The stacks present in `values`, encoder first: every stack picker on a page offers them in one order, so two
    pickers open on the same stack."""
    from core.types import STACKS

    present = set(map(str, values))
    return [s for s in STACKS if s in present] + sorted(present - set(STACKS))
