"""How a page shows a failure: the user-facing message, never a traceback, and never a server path."""
from __future__ import annotations

import re

import streamlit as st

from core.errors import RoutingLensError

# An absolute path (POSIX, home-relative or Windows): shown to a visitor as its last component only.
_PATH = re.compile(r"(?:(?<![\w.:/])(?:~|[A-Za-z]:)?[/\\](?:[^\s/\\'\"()<>,;:]+[/\\])*)([^\s/\\'\"()<>,;:]*)")


def scrub(text: str) -> str:
    """`text` with every absolute path cut to its last component ('/srv/app/cache/x.csv' → 'x.csv')."""
    return _PATH.sub(lambda m: m.group(1) or ("…" if len(m.group(0)) > 1 else m.group(0)), text)


def message(err: Exception) -> str:
    """What a visitor reads about `err`: the project's own message, else a generic line; paths scrubbed."""
    if isinstance(err, RoutingLensError):
        return scrub(str(err))
    return (f"Something went wrong ({type(err).__name__}): {scrub(str(err))[:300]}. Try another input; if it "
            "persists, report it.")


def show_error(err: Exception) -> None:
    st.error(message(err))
