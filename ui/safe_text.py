"""Text that came from an address (a link someone followed) or a visitor's typing, made inert before it goes into
any element that renders markdown (markdown, caption, info, warning, radio labels).

Every ASCII punctuation mark is backslash-escaped, so no link, image, HTML, heading, list, colour directive, icon,
emoji or formula can form. Escapes do not stop GitHub-flavoured markdown's autolinks (a bare https://…, www.… or
name@host becomes a link after escapes are read), so an invisible word joiner (U+2060) follows every ':' and '@'
and sits between "www" and its dot: the visitor sees the same characters, and nothing is a link."""
from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # the ASCII punctuation ranges; CommonMark escapes each with "\"
_AUTOLINK = re.compile(r"[:@]|(?i:\bwww(?=\.))")
WORD_JOINER = "\u2060"


def as_text(value: str) -> str:
    """`value` as literal text inside markdown."""
    return _PUNCTUATION.sub(r"\\\1", _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, value))
