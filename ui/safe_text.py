"""Text that came from an address (a link someone followed) or a visitor's typing, made inert before it goes into
any element that renders markdown (markdown, caption, info, warning, radio labels): every ASCII punctuation mark
is backslash-escaped, so no link, image, HTML, heading, list, colour directive, icon, emoji or formula can form,
and a bare URL is not auto-linked. The visitor sees the same characters."""
from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # the ASCII punctuation ranges; CommonMark escapes each with "\"


def as_text(value: str) -> str:
    """`value` as literal text inside markdown."""
    return _PUNCTUATION.sub(r"\\\1", value)
